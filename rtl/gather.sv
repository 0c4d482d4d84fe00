`resetall
`timescale 1ns / 1ps
`default_nettype none

// Gather unit (a unit of the layer engine, docs/engine.md): the activation buffer and the two
// register sets the compute unit issues from.
//
// The reader writes the layer's input into the activation buffer word for word as hexgen lays it
// out ([c_tile][y][x], one word = the ROWS channels of one pixel) and counts the input-row loads
// that are in (act_rows_i), in hexgen.rules.input_loads' order: row y of every channel tile, or,
// depthwise, row y of channel tile t is load t * in_h + y. The gather walks the layer in hexgen's schedule:
// k_tile, pixel tile (COLS output pixels in raster order; column j of a set = pixel j of the
// tile), step (c_tile, ky, kx; depthwise: ky, kx on the k_tile's own channel tile), and copies
// the step's COLS input vectors (z_in in every lane where the window lies in the padding) into a
// register set. The two sets form a two-entry FIFO: the compute unit sees the oldest full set
// (set_valid_o, its vectors and where it belongs) and pops it when its last beat is issued.
//
// The buffer is COLS banks interleaved by word address (bank = address mod COLS): each cycle the
// gather takes the longest run of the set's next columns whose words lie in different banks and
// whose input rows are in, so a step with few beats (depthwise: one; a 3-channel stem: three) is
// not held up by the gather. tb/engine/test_gather.py checks every set against hexgen's address
// functions under random descriptors and random row-arrival timing.
module gather #(
    parameter int ROWS = 8,
    parameter int COLS = 8,
    parameter int WORD_BITS = 64,
    parameter int ACT_WORDS = 4096,
    parameter int PIX_W = 24,       // the pixel counters' width (the description's pixel_bits)
    localparam int ACT_AW = $clog2(ACT_WORDS),
    localparam int CW = $clog2(COLS + 1),
    localparam int JW = (COLS > 1) ? $clog2(COLS) : 1,
    localparam int CB = (COLS > 1) ? $clog2(COLS) : 1
) (
    input  logic                      clk_i,
    input  logic                      rst_i,
    input  logic                      start_i,      // a layer starts running: walk from its first set

    // the layer (CSRs and desc_check's derived sizes; held while it runs)
    input  logic                      is_dw_i,
    input  logic [15:0]               in_h_i,
    input  logic [15:0]               in_w_i,
    input  logic [15:0]               out_w_i,
    input  logic [15:0]               kh_i,
    input  logic [15:0]               kw_i,
    input  logic [15:0]               sy_i,
    input  logic [15:0]               sx_i,
    input  logic [15:0]               pad_top_i,
    input  logic [15:0]               pad_left_i,
    input  logic [7:0]                dil_y_i,      // the kernel's tap spacing (dilation; 1: adjacent taps)
    input  logic [7:0]                dil_x_i,
    input  logic [7:0]                z_in_i,
    input  logic [PIX_W-1:0]          npix_i,       // output pixels
    input  logic [15:0]               steps_i,      // steps per pixel tile
    input  logic [15:0]               kt_out_i,     // k_tiles

    // the activation buffer's write port (the reader) and the input rows that are in
    input  logic                      act_we_i,
    input  logic [ACT_AW-1:0]         act_waddr_i,
    input  logic [WORD_BITS-1:0]      act_wdata_i,
    input  logic [31:0]               act_rows_i,

    // the oldest full register set, for the compute unit
    output logic                      set_valid_o,
    input  logic                      set_pop_i,    // its last beat is issued: free it
    output logic [COLS*WORD_BITS-1:0] set_data_o,   // column j's vector at [j*WORD_BITS +: WORD_BITS]
    output logic                      set_first_o,  // the pixel tile's first step
    output logic                      set_last_o,   // the pixel tile's last step
    output logic                      set_ktlast_o, // the k_tile's last set
    output logic [CW-1:0]             set_cols_o,   // pixels in the tile (columns in use)
    output logic [15:0]               set_step_o,
    output logic [15:0]               set_ct_o,     // channel tile the vectors come from
    output logic [15:0]               set_kt_o,

    // status (the UNITS word)
    output logic                      active_o,     // sets of the layer remain to be gathered
    output logic                      row_wait_o,   // waiting for an input row
    output logic                      set_wait_o    // waiting for a free register set
);

  initial begin
    if (WORD_BITS != ROWS * 8) begin
      $error("%m: WORD_BITS = %0d must be ROWS * 8 = %0d (one memory word is one channel vector)", WORD_BITS, ROWS * 8);
      $finish;
    end
    if (COLS < 1 || (COLS & (COLS - 1)) != 0) begin
      $error("%m: COLS = %0d must be a power of two (the activation buffer's banks)", COLS);
      $finish;
    end
    if (ACT_WORDS < COLS || (ACT_WORDS & (ACT_WORDS - 1)) != 0) begin
      $error("%m: ACT_WORDS = %0d must be a power of two from COLS = %0d", ACT_WORDS, COLS);
      $finish;
    end
  end

  logic [WORD_BITS-1:0] act_buf [ACT_WORDS];
  always_ff @(posedge clk_i) begin
    if (act_we_i) act_buf[act_waddr_i] <= act_wdata_i;
  end

  // ------------------------------------------------------------------ the two register sets
  logic [WORD_BITS-1:0] regs_q [2][COLS];
  logic [1:0]           full_q;
  logic                 rd_q;           // the set the compute unit reads
  logic                 meta_first_q [2];
  logic                 meta_last_q [2];
  logic                 meta_ktlast_q [2];
  logic [CW-1:0]        meta_cols_q [2];
  logic [15:0]          meta_step_q [2];
  logic [15:0]          meta_ct_q [2];
  logic [15:0]          meta_kt_q [2];

  assign set_valid_o = full_q[rd_q];
  for (genvar j = 0; j < COLS; j++) begin : g_set_out
    assign set_data_o[j*WORD_BITS +: WORD_BITS] = regs_q[rd_q][j];
  end
  assign set_first_o = meta_first_q[rd_q];
  assign set_last_o = meta_last_q[rd_q];
  assign set_ktlast_o = meta_ktlast_q[rd_q];
  assign set_cols_o = meta_cols_q[rd_q];
  assign set_step_o = meta_step_q[rd_q];
  assign set_ct_o = meta_ct_q[rd_q];
  assign set_kt_o = meta_kt_q[rd_q];

  // ------------------------------------------------------------------ the walk
  logic        g_active_q, g_set_q;   // g_set_q: the set being filled
  logic [PIX_W-1:0] g_p0_q;   // the pixel tile's first output pixel
  logic [15:0] g_kt_q, g_oy0_q, g_ox0_q, g_oy_q, g_ox_q, g_ct_q, g_ky_q, g_kx_q, g_step_q;
  logic [CW-1:0] g_j_q;
  logic [CW-1:0] g_cols;
  logic        g_free, g_go, g_act_wait, g_set_done, g_last_step, g_last_tile, g_pop;
  logic [15:0] g_ct_eff;

  assign g_cols = (32'(npix_i) - 32'(g_p0_q) >= COLS) ? CW'(COLS) : CW'(32'(npix_i) - 32'(g_p0_q));
  assign g_free = !full_q[g_set_q];
  assign g_set_done = 32'(g_j_q) + 32'(cq_n) == 32'(g_cols);
  assign g_last_step = (g_step_q + 1 == steps_i);
  assign g_last_tile = 64'(g_p0_q) + 64'(COLS) >= 64'(npix_i);  // 64 bits: PIX_W may be 32
  assign g_ct_eff = is_dw_i ? g_kt_q : g_ct_q;
  // the step's tap offsets in the input: ky x DIL_Y rows, kx x DIL_X columns (a dilated window)
  logic [15:0] g_kyo, g_kxo;
`ifdef MUT_SELECT  // diagnosis tests (tests/test_diagnose_sim.py): the tap spacing ignored, taps adjacent
  logic mut_dil;
  initial mut_dil = $test$plusargs("MUT_DIL");
  assign g_kyo = 16'(32'(g_ky_q) * (mut_dil ? 32'd1 : 32'(dil_y_i)));
  assign g_kxo = 16'(32'(g_kx_q) * (mut_dil ? 32'd1 : 32'(dil_x_i)));
`else
  assign g_kyo = 16'(32'(g_ky_q) * 32'(dil_y_i));
  assign g_kxo = 16'(32'(g_kx_q) * 32'(dil_x_i));
`endif
  assign g_pop = set_pop_i && set_valid_o;

`ifdef MUT_SELECT  // mutation tests (tests/test_diagnose_sim.py, test_budget_sim.py): faults chosen at run time
  logic mut_addr, mut_gather_all, mut_pad_br;
  initial begin
    mut_addr = $test$plusargs("MUT_ADDR");  // the activation address one word on
    mut_gather_all = $test$plusargs("MUT_GATHER_ALL");  // every read waits for the whole input (slow, right)
    // padding below the image or right of it is 0, not z_in (top and left keep z_in)
    mut_pad_br = $test$plusargs("MUT_PAD_BR");
  end
  logic [COLS-1:0] cq_br;  // the column's window position lies below or right of the image
`endif

  // the input-row load that holds row iy of the step's channel tile, and the pass's loads
  logic [31:0] row_base, rows_all;
  assign row_base = is_dw_i ? 32'(g_kt_q) * 32'(in_h_i) : '0;
  assign rows_all = is_dw_i ? 32'(kt_out_i) * 32'(in_h_i) : 32'(in_h_i);

  // The columns g_j_q + q of the set, q = 0 .. COLS-1, walk on in raster order from
  // (g_oy_q, g_ox_q); cq_n of them are taken this cycle.
  logic [15:0]     cq_oy [COLS+1];
  logic [15:0]     cq_ox [COLS+1];
  logic [COLS-1:0] cq_valid, cq_inb, cq_wait, cq_ok;
  logic [31:0]     cq_addr [COLS];
  logic [CW-1:0]   cq_n;       // columns taken this cycle
  assign cq_oy[0] = g_oy_q;
  assign cq_ox[0] = g_ox_q;
  for (genvar q = 0; q < COLS; q++) begin : g_cq
    // the window tap's input position: output position x stride + tap offset - padding (34 bits:
    // a 65,535-wide output at stride 16 is past 20)
    logic signed [33:0] iy, ix;
    assign cq_ox[q+1] = (32'(cq_ox[q]) + 1 == 32'(out_w_i)) ? 16'd0 : cq_ox[q] + 16'd1;
    assign cq_oy[q+1] = (32'(cq_ox[q]) + 1 == 32'(out_w_i)) ? cq_oy[q] + 16'd1 : cq_oy[q];
    assign iy = $signed({2'b0, 32'(cq_oy[q]) * 32'(sy_i)}) + $signed({18'b0, g_kyo}) - $signed({18'b0, pad_top_i});
    assign ix = $signed({2'b0, 32'(cq_ox[q]) * 32'(sx_i)}) + $signed({18'b0, g_kxo}) - $signed({18'b0, pad_left_i});
    assign cq_valid[q] = 32'(g_j_q) + q < 32'(g_cols);
    assign cq_inb[q] = (iy >= 0) && (iy < $signed({18'b0, in_h_i})) && (ix >= 0) && (ix < $signed({18'b0, in_w_i}));
`ifdef MUT_SELECT
    assign cq_br[q] = (iy >= $signed({18'b0, in_h_i})) || (ix >= $signed({18'b0, in_w_i}));
`endif
`ifdef MUT_SELECT
    assign cq_wait[q] = cq_inb[q] && (mut_gather_all || row_base + 32'(iy[15:0]) >= act_rows_i) && act_rows_i != rows_all;
`else
    assign cq_wait[q] = cq_inb[q] && row_base + 32'(iy[15:0]) >= act_rows_i && act_rows_i != rows_all;
`endif
    // the input's word address: [c_tile][y][x] (hexgen's input layout, docs/memory-map.md)
`ifdef MUT_SELECT
    assign cq_addr[q] = (32'(g_ct_eff) * 32'(in_h_i) + 32'(iy[15:0])) * 32'(in_w_i) + 32'(ix[15:0]) + 32'(mut_addr);
`else
    assign cq_addr[q] = (32'(g_ct_eff) * 32'(in_h_i) + 32'(iy[15:0])) * 32'(in_w_i) + 32'(ix[15:0]);
`endif
  end
`ifdef MUT_SELECT  // fault tests (tests/test_faults_verdicts.py): the bank-clash check off (right outputs, too few cycles)
  logic mut_no_clash;
  initial mut_no_clash = $test$plusargs("MUT_NO_CLASH");
`endif
  logic [CB-1:0] cq_bank [COLS];
  logic          cq_run [COLS+1];  // columns 0 .. q-1 are all taken
  assign cq_run[0] = 1'b1;
  for (genvar q = 0; q < COLS; q++) begin : g_cq_take
    logic clash;  // an earlier column of the run reads the same bank
    logic [COLS-1:0] same;
    assign cq_bank[q] = CB'(cq_addr[q] % COLS);
    for (genvar q2 = 0; q2 < COLS; q2++) begin : g_same
      assign same[q2] = (q2 < q) && cq_inb[q2] && cq_bank[q2] == cq_bank[q];
    end
`ifdef MUT_SELECT
    assign clash = cq_inb[q] && (|same) && !mut_no_clash;
`else
    assign clash = cq_inb[q] && (|same);
`endif
    assign cq_ok[q] = cq_run[q] && cq_valid[q] && !cq_wait[q] && !clash;
    assign cq_run[q+1] = cq_ok[q];
  end
  always_comb begin : run_length
    cq_n = '0;
    for (int q = 0; q < COLS; q++) begin
      if (cq_ok[q]) cq_n = CW'(q + 1);
    end
  end

  // the activation buffer's port limit, checked on the reads themselves (simulation only)
  logic [COLS-1:0]    rd_en;
  logic [COLS*32-1:0] rd_addr;
  for (genvar q = 0; q < COLS; q++) begin : g_rd
    assign rd_en[q] = g_go && cq_ok[q] && cq_inb[q];
    assign rd_addr[q*32 +: 32] = cq_addr[q];
  end
  bank_check #(.PORTS(COLS), .BANKS(COLS), .AW(32)) u_chk_banks (.clk_i, .rst_i, .re_i(rd_en), .addr_i(rd_addr));

  // an input row not yet arrived stops the run (padding positions never wait; once the whole
  // image is in, nothing waits, so a wrong address reads a wrong word instead of hanging)
  assign g_act_wait = cq_n == '0;
  assign g_go = g_active_q && g_free && !g_act_wait;
  assign active_o = g_active_q;
  assign row_wait_o = g_active_q && g_act_wait;
  assign set_wait_o = g_active_q && !g_free;

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      g_active_q <= 1'b0;
      g_set_q    <= 1'b0;
      rd_q       <= 1'b0;
      full_q     <= '0;
      for (int s = 0; s < 2; s++) begin
        meta_first_q[s] <= 1'b0; meta_last_q[s] <= 1'b0; meta_ktlast_q[s] <= 1'b0; meta_cols_q[s] <= '0;
        meta_step_q[s] <= '0; meta_ct_q[s] <= '0; meta_kt_q[s] <= '0;
      end
    end else if (start_i) begin
      g_active_q <= 1'b1;
      g_set_q <= 1'b0;
      rd_q    <= 1'b0;
      full_q  <= '0;
      g_kt_q  <= '0;
      g_p0_q  <= '0; g_oy0_q <= '0; g_ox0_q <= '0; g_oy_q <= '0; g_ox_q <= '0;
      g_ct_q  <= '0; g_ky_q <= '0; g_kx_q <= '0; g_step_q <= '0; g_j_q <= '0;
    end else begin
      if (g_pop) begin
        full_q[rd_q] <= 1'b0;
        rd_q <= ~rd_q;
      end
      if (g_go) begin
        for (int q = 0; q < COLS; q++) begin
`ifdef MUT_SELECT
          if (cq_ok[q]) regs_q[g_set_q][JW'(g_j_q + CW'(q))] <= cq_inb[q] ? act_buf[cq_addr[q][ACT_AW-1:0]]
                                                              : (mut_pad_br && cq_br[q]) ? '0 : {ROWS{z_in_i}};
`else
          if (cq_ok[q]) regs_q[g_set_q][JW'(g_j_q + CW'(q))] <= cq_inb[q] ? act_buf[cq_addr[q][ACT_AW-1:0]] : {ROWS{z_in_i}};
`endif
        end
        if (!g_set_done) begin
          g_j_q  <= g_j_q + cq_n;
          g_ox_q <= cq_ox[cq_n];
          g_oy_q <= cq_oy[cq_n];
        end else begin
          // the step's set is complete (it is not the one popped: that one was full)
          full_q[g_set_q]        <= 1'b1;
          meta_first_q[g_set_q]  <= (g_step_q == 0);
          meta_last_q[g_set_q]   <= g_last_step;
          meta_ktlast_q[g_set_q] <= g_last_step && g_last_tile;
          meta_cols_q[g_set_q]   <= g_cols;
          meta_step_q[g_set_q]   <= g_step_q;
          meta_ct_q[g_set_q]     <= g_ct_eff;
          meta_kt_q[g_set_q]     <= g_kt_q;
          g_set_q <= ~g_set_q;
          g_j_q   <= '0;
          if (!g_last_step) begin
            g_step_q <= g_step_q + 1;
            g_oy_q <= g_oy0_q;
            g_ox_q <= g_ox0_q;
            if (32'(g_kx_q) + 1 < 32'(kw_i)) begin
              g_kx_q <= g_kx_q + 1;
            end else begin
              g_kx_q <= '0;
              if (32'(g_ky_q) + 1 < 32'(kh_i)) begin
                g_ky_q <= g_ky_q + 1;
              end else begin
                g_ky_q <= '0;
                g_ct_q <= g_ct_q + 1;
              end
            end
          end else begin
            g_step_q <= '0;
            g_ct_q <= '0; g_ky_q <= '0; g_kx_q <= '0;
            if (!g_last_tile) begin
              // next pixel tile: starts at the pixel after this tile's last one
              g_p0_q <= g_p0_q + PIX_W'(COLS);
              g_ox0_q <= cq_ox[cq_n]; g_oy0_q <= cq_oy[cq_n];
              g_ox_q  <= cq_ox[cq_n]; g_oy_q  <= cq_oy[cq_n];
            end else begin
              // next k_tile: the image again from its first pixel
              g_p0_q <= '0; g_oy0_q <= '0; g_ox0_q <= '0; g_oy_q <= '0; g_ox_q <= '0;
              g_kt_q <= g_kt_q + 1;
              if (g_kt_q + 1 == kt_out_i) g_active_q <= 1'b0;
            end
          end
        end
      end
    end
  end

endmodule

`resetall
