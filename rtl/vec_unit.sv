`resetall
`timescale 1ns / 1ps
`default_nettype none

// Vector unit: the layers that are not convolutions, on activation words (accel_top runs it for
// the KIND codes of VECTOR_KINDS in place of the conv units). One word is the ROWS channels of one pixel ([c_tile][y][x][c_lane],
// hexgen's activation layout), so every operation is lane-wise over a word:
//   KIND_ADD      residual add of two tensors in the same layout (rtl/add_lanes.sv, arithmetic.md):
//              word i of the output from word i of each input
//   KIND_MAXPOOL  max pool: the max of the window's words (padding never wins: codes are >= 0 and
//              every window holds a real element, so out-of-image positions are skipped)
//   KIND_AVGPOOL  average pool, global average pool (a window of the whole image):
//              (sum + floor(N/2)) // N per lane, N = KH x KW (golden.arith.avg_pool / global_avg_pool)
//   KIND_UPSAMPLE nearest upsampling by whole factors (STRIDE_Y, STRIDE_X hold them): output (oy, ox)
//              is input (oy / STRIDE_Y, ox / STRIDE_X), read as a one-word window (the max of one
//              word is the word) and given STRIDE_X times along the row before the next is read
//              (golden.arith.upsample_nearest)
//   KIND_CONCAT   one input of a concatenation put in its place (hexgen.plan.concat_runs): the
//              output (OUT_C channels, kt_i tiles) is the input (IN_C channels at in_base) moved
//              L = OUT_C - IN_C lanes up, requantized to the output's codes as an add of one operand
//              (A0 = 0: copied as it is; golden.layers.ConcatLayer), after L lanes kept from the
//              word at in2_base (the concatenation's channels before it, already in place), its lanes
//              past OUT_C z_out (padding). Output tile t is made from the input's tiles t - 1 and t:
//              two streams as an add's, the first (tile t - 1, or at t = 0 the kept word) skipped
//              when L = 0
//   KIND_GELU     a transformer's GELU on [T, C] tokens (the one-column image [C, T, 1]):
//              out = table[q] per lane (golden.transformer.GeluLayer, golden.tf_arith.lookup). The
//              table (256 uint8 codes, ROWS to a word, hexgen.tokens) is read first from in2_base
//              in bursts of MAX_BURST words, each word written into the lane table
//              (rtl/lut_lanes.sv, ROWS entries a write) as it arrives; then the input streams as a
//              concat run's with L = 0 (one stream, chunks within a channel tile), output word i
//              the lookup of input word i, its lanes past OUT_C z_out (padding: the table's entry
//              for the input's padding code need not be z_out)
// The output words leave in the layout's order ([c_tile][oy][ox]) on a valid/ready stream (the
// writer). Reads: bursts of at most MAX_BURST words on a request channel, data in order. A burst
// is requested only when the unit can take all its words without waiting (its own buffers; a
// GELU's table words go straight into the table), so
// read data never waits for the output stream (a unit that did could stall the read channel,
// and with it the port, on its own output). Work is sequential (an add requests a's and b's bursts back to back, takes their
// words, then gives the output; a pool one window row at a time); the layers it runs are a few
// percent of a network's cycles. tb/engine/test_vec_unit.py checks it against golden.
module vec_unit #(
    parameter int ROWS = 8,
    parameter int ADDR_W = 24,
    parameter int MAX_BURST = 16,
    localparam int WORD_BITS = ROWS * 8
) (
    input  logic                 clk_i,
    input  logic                 rst_i,
    input  logic                 start_i,     // run the layer below (one cycle)

    input  logic [15:0]          kind_i,      // the KIND register: a vector kind
    input  logic [15:0]          ct_i,        // channel tiles (concat: of the input)
    input  logic [15:0]          kt_i,        // output channel tiles (concat)
    input  logic [15:0]          in_c_i,      // channels of the input and of the output (concat)
    input  logic [15:0]          out_c_i,
    input  logic [15:0]          in_h_i,
    input  logic [15:0]          in_w_i,
    input  logic [15:0]          out_h_i,
    input  logic [15:0]          out_w_i,
    input  logic [15:0]          kh_i,
    input  logic [15:0]          kw_i,
    input  logic [15:0]          sy_i,
    input  logic [15:0]          sx_i,
    input  logic [15:0]          pad_top_i,
    input  logic [15:0]          pad_left_i,
    input  logic [ADDR_W-1:0]    in_base_i,   // word addresses of the input (add: a) and of b
    input  logic [ADDR_W-1:0]    in2_base_i,  // (concat: the kept word; gelu: the table)
    input  logic [7:0]           z_a_i,
    input  logic [7:0]           z_b_i,
    input  logic [30:0]          a0_i,
    input  logic [30:0]          b0_i,
    input  logic [5:0]           n_i,
    input  logic [7:0]           z_out_i,
    input  logic [7:0]           lo_i,
    input  logic [7:0]           hi_i,

    output logic                 req_valid_o,
    input  logic                 req_ready_i,
    output logic [ADDR_W-1:0]    req_addr_o,
    output logic [7:0]           req_len_o,
    input  logic                 rd_valid_i,
    output logic                 rd_ready_o,
    input  logic [WORD_BITS-1:0] rd_data_i,

    output logic                 out_valid_o,
    input  logic                 out_ready_i,
    output logic [WORD_BITS-1:0] out_data_o,

    output logic                 busy_o,
    output logic                 done_o,      // one cycle: the last output word was taken
    output logic [31:0]          words_read_o // read words taken since reset (performance counter)
);

  /* verilator lint_off UNUSEDPARAM */  // the CSR map: this unit uses the kind codes only
`include "accel_csr.svh"
  /* verilator lint_on UNUSEDPARAM */

  logic is_max, is_avg, is_up, is_cat, is_gelu, stream, tiled;
  assign is_cat = kind_i == KIND_CONCAT;
  assign is_gelu = kind_i == KIND_GELU;
  assign stream = kind_i == KIND_ADD || is_cat || is_gelu;  // streamed: word i from word i
  assign tiled = is_cat || is_gelu;  // chunks within a channel tile (the lanes past OUT_C: padding)
  assign is_up = kind_i == KIND_UPSAMPLE;
  assign is_max = kind_i == KIND_MAXPOOL || is_up;  // an upsample's window is one word: its max is it
  assign is_avg = !stream && !is_max;  // desc_check lets only the six kinds reach this unit
  localparam int LW = $clog2(MAX_BURST + 1);
  localparam int IW = MAX_BURST > 1 ? $clog2(MAX_BURST) : 1;  // a word's index in a burst
  localparam int TAB_WORDS = (256 + ROWS - 1) / ROWS;  // a GELU table's words (ROWS codes each)

  initial begin
    if (ROWS < 1 || MAX_BURST < 1 || MAX_BURST > 255 || ADDR_W < 1 || ADDR_W > 32) begin
      $error("%m: ROWS = %0d >= 1, MAX_BURST = %0d in 1..255, ADDR_W = %0d in 1..32", ROWS, MAX_BURST, ADDR_W);
      $finish;
    end
  end

  typedef enum logic [3:0] {
    VIdle, VReqA, VRxA, VReqB, VRxB, VDiv, VPush, VTabReq, VTabRx
  } vst_e;
  vst_e st_q;

  // ---------------------------------------------------------------- add: chunks of MAX_BURST words
  logic [WORD_BITS-1:0] buf_a [MAX_BURST];
  logic [WORD_BITS-1:0] buf_y [MAX_BURST];
  logic [31:0]          words_q;     // words of the tensor (add, concat, gelu) done so far
  logic [31:0]          total;       // add: ct x in_h x in_w; concat, gelu: kt x in_h x in_w
  logic [31:0]          plane;       // in_h x in_w
  // concat, gelu: a chunk stays in one output tile (a concat's streams change there); pix_q the
  // chunk's first word in its tile, tile_q the tile
  logic [31:0]          pix_q;
  logic [15:0]          tile_q;
  logic [31:0]          pix_n, seg_n; // after this chunk: pix_q, and the words the next may take (to
                                      // the end of the tile (concat, gelu) or of the tensor)
  logic [15:0]          tile_n;
  logic                 skip_a;      // concat with L = 0, gelu: no lanes from the first stream
  logic [LW-1:0]        len_q;       // words of the current burst
  logic [LW-1:0]        cnt_q;       // words of it received / pushed
  logic [WORD_BITS-1:0] y_add;
  logic [IW-1:0]        idx;         // cnt_q as an index of the burst buffers (cnt_q < MAX_BURST there)

  assign idx = IW'(cnt_q);

  assign plane = 32'(in_h_i) * 32'(in_w_i);
  assign total = 32'(tiled ? kt_i : ct_i) * plane;
  assign skip_a = (is_cat && out_c_i == in_c_i) || is_gelu;
  always_comb begin
    pix_n = pix_q + 32'(len_q);
    tile_n = tile_q;
    seg_n = total - words_q - 32'(len_q);
    if (tiled) begin
      if (pix_n == plane) begin
        pix_n = '0;
        tile_n = tile_q + 16'd1;
      end
      seg_n = plane - pix_n;
    end
  end

  // concat: the output word from the first stream's word (buf_a: the input's tile t - 1, or the kept
  // word at t = 0) and the second's (rd_data_i: the input's tile t, or t - 1 again past its last)
  logic [15:0]            cat_l;     // L = OUT_C - IN_C
  /* verilator lint_off UNUSEDSIGNAL */  // its low word is the lanes that land in the tile
  logic [2*WORD_BITS-1:0] cat_pair;
  /* verilator lint_on UNUSEDSIGNAL */
  logic [WORD_BITS-1:0]   cat_in;    // the input's lanes as they land in the output tile
  logic [WORD_BITS-1:0]   cat_y;     // the tile's output word
  logic [WORD_BITS-1:0]   lanes_y;   // add_lanes' result: the add, or a concat's requantized lanes
  assign cat_l = out_c_i - in_c_i;
`ifdef MUT_SELECT  // +MUT_CAT_LANE: the input lands one lane too high (its channels one off in the output)
  logic mut_cat_lane;
  initial mut_cat_lane = $test$plusargs("MUT_CAT_LANE");
  assign cat_pair = {rd_data_i, buf_a[idx]} >> ((ROWS - 32'(cat_l) - (mut_cat_lane ? 32'd1 : 32'd0)) * 8);
`else
  assign cat_pair = {rd_data_i, buf_a[idx]} >> ((ROWS - 32'(cat_l)) * 8);
`endif
  assign cat_in = cat_pair[WORD_BITS-1:0];
  // the concat's requantization is the add's with b's term zero (b = z_b)
  add_lanes #(.LANES(ROWS)) u_add (
      .a_i(is_cat ? cat_in : buf_a[idx]), .b_i(is_cat ? {ROWS{z_b_i}} : rd_data_i), .z_a_i, .z_b_i, .a0_i, .b0_i,
      .n_i, .z_out_i, .lo_i, .hi_i, .y_o(lanes_y)
  );
  for (genvar l = 0; l < ROWS; l++) begin : g_cat
    logic [31:0] ch;  // the lane's channel in the run's output
    assign ch = 32'(tile_q) * ROWS + l;
    assign cat_y[l*8 +: 8] = ch < 32'(cat_l) ? buf_a[idx][l*8 +: 8]            // kept
                           : ch >= 32'(out_c_i) ? z_out_i                         // padding
                           : a0_i == '0 ? cat_in[l*8 +: 8] : lanes_y[l*8 +: 8];   // copied, requantized
  end

  // gelu: the table, loaded word by word from the table's bursts (tab_q: words loaded), read by
  // every lane of the input word; lanes past OUT_C are padding (z_out)
  logic [8:0]           tab_q;
  logic [WORD_BITS-1:0] lut_y, gelu_y;
  logic [7:0] tab_waddr;  // the table write of the word arriving: its first entry is tab_q x ROWS
`ifdef MUT_SELECT  // +MUT_GELU_TAB: every table word written one word later (a GELU reads entry q - ROWS)
  logic mut_gelu_tab;
  initial mut_gelu_tab = $test$plusargs("MUT_GELU_TAB");
  assign tab_waddr = 8'(tab_q) + (mut_gelu_tab ? 8'd1 : 8'd0);
`else
  assign tab_waddr = 8'(tab_q);
`endif
  lut_lanes #(.LANES(ROWS), .W(8), .WR(ROWS)) u_lut (
      .clk_i, .we_i(st_q == VTabRx && rd_valid_i), .waddr_i(tab_waddr), .wdata_i(rd_data_i),
      .q_i(rd_data_i), .y_o(lut_y)
  );
  for (genvar l = 0; l < ROWS; l++) begin : g_gelu
    assign gelu_y[l*8 +: 8] = 32'(tile_q) * ROWS + l >= 32'(out_c_i) ? z_out_i : lut_y[l*8 +: 8];
  end
  assign y_add = is_gelu ? gelu_y : is_cat ? cat_y : lanes_y;

  // ---------------------------------------------------------------- pooling: one output word at a time
  logic [15:0] c_q, oy_q, ox_q, ky_q, xoff_q; // output pixel, window row, columns of it read
  // upsample: the input pixel (uy_q, ux_q) output (oy_q, ox_q) copies, and where the output is in
  // its factor (fy_q < STRIDE_Y, fx_q < STRIDE_X): a counter per axis instead of a divider
  logic [15:0] uy_q, ux_q, fy_q, fx_q;
  logic        up_same;                      // the next output pixel copies the same input word
  logic signed [31:0] iy, x0, x_lo, x_hi, xs; // input row; the window row's columns in the image, the next
  logic        row_in, row_more;
  logic [31:0] row_left;                       // columns of the row still to read from xs
  logic [31:0] acc_q [ROWS];                   // per lane: max or sum
  logic [31:0] rem_q [ROWS];                   // divider: remainder (the quotient builds up in acc_q)
  logic [5:0]  div_q;
  logic [31:0] cnt_n;                          // N = KH x KW

  assign cnt_n = 32'(kh_i) * 32'(kw_i);
  assign iy = is_up ? $signed(32'(uy_q)) : $signed(32'(oy_q) * 32'(sy_i)) + $signed(32'(ky_q)) - $signed(32'(pad_top_i));
  assign x0 = is_up ? $signed(32'(ux_q)) : $signed(32'(ox_q) * 32'(sx_i)) - $signed(32'(pad_left_i));
  assign up_same = is_up && 32'(fx_q) + 1 != 32'(sx_i) && ox_q + 1 != out_w_i;
  assign x_lo = x0 > 0 ? x0 : 32'sd0;
  assign x_hi = (x0 + $signed(32'(kw_i)) - 32'sd1 < $signed(32'(in_w_i)) - 32'sd1)
                ? x0 + $signed(32'(kw_i)) - 32'sd1 : $signed(32'(in_w_i)) - 32'sd1;
  assign xs = x_lo + $signed(32'(xoff_q));
  assign row_in = iy >= 0 && iy < $signed(32'(in_h_i)) && x_hi >= x_lo;
  assign row_left = 32'(x_hi - xs) + 32'd1;
  assign row_more = row_left > 32'(MAX_BURST);

  // one step of the division of each lane: the dividend (with + N/2 on the first step) shifts its top
  // bit into the remainder; a quotient bit enters at the bottom
  logic [31:0] div_dividend [ROWS];
  logic [32:0] div_r [ROWS];
  logic        div_ge [ROWS];
  for (genvar l = 0; l < ROWS; l++) begin : g_div
    assign div_dividend[l] = div_q == 6'd0 ? acc_q[l] + (cnt_n >> 1) : acc_q[l];
    assign div_r[l] = {rem_q[l], div_dividend[l][31]};
    assign div_ge[l] = div_r[l] >= 33'(cnt_n);
  end

  logic window_last_row, pixel_last;
  assign window_last_row = ky_q + 1 == kh_i;
  assign pixel_last = c_q + 1 == ct_i && oy_q + 1 == out_h_i && ox_q + 1 == out_w_i;

  // ---------------------------------------------------------------- read requests
`ifdef MUT_SELECT  // mutation tests (tests/test_diagnose_sim.py): faults chosen at run time, +MUT_<name>
  logic mut_vec_hang, mut_vec_reread, mut_reread_q, mut_maxpool_signed;
  initial begin
    mut_vec_hang = $test$plusargs("MUT_VEC_HANG");  // the unit never requests a read
    // max pool compares the bytes as signed (sign-extended, signed compare): 200 loses to 50
    mut_maxpool_signed = $test$plusargs("MUT_MAXPOOL_SIGNED");
    // an add's first a burst requested again behind b's: three bursts outstanding, one more than
    // the unit's bound (tests/test_protocol.py: its outstanding checker must stop it)
    mut_vec_reread = $test$plusargs("MUT_VEC_REREAD");
  end
`endif

  always_comb begin
    req_valid_o = 1'b0;
    req_addr_o = '0;
    req_len_o = '0;
`ifdef MUT_SELECT
    if (st_q == VReqA && stream && !mut_vec_hang) begin
`else
    if (st_q == VReqA && stream) begin
`endif
      req_valid_o = 1'b1;
      // concat: the kept word (tile 0), else the input's tile before this one
      req_addr_o = !is_cat ? in_base_i + ADDR_W'(words_q)
                 : tile_q == '0 ? in2_base_i + ADDR_W'(pix_q) : in_base_i + ADDR_W'(words_q - plane);
      req_len_o = 8'(len_q);
    end else if (st_q == VReqB) begin
      req_valid_o = 1'b1;
      // concat: the input's tile; past its last (a tile of lanes moved up from it only) the last again
      req_addr_o = !is_cat ? (is_gelu ? in_base_i : in2_base_i) + ADDR_W'(words_q)
                 : tile_q < ct_i ? in_base_i + ADDR_W'(words_q) : in_base_i + ADDR_W'(words_q - plane);
      req_len_o = 8'(len_q);
    end else if (st_q == VReqA && row_in) begin  // pooling: a window row (at most MAX_BURST words)
      req_valid_o = 1'b1;
      req_addr_o = in_base_i + ADDR_W'((32'(c_q) * 32'(in_h_i) + 32'(iy)) * 32'(in_w_i) + 32'(xs));
      req_len_o = row_more ? 8'(MAX_BURST) : 8'(row_left);
    end else if (st_q == VTabReq) begin  // gelu: a burst of the table
      req_valid_o = 1'b1;
      req_addr_o = in2_base_i + ADDR_W'(tab_q);
      req_len_o = 8'(len_q);
    end
  end
  assign rd_ready_o = st_q == VRxA || st_q == VRxB || st_q == VTabRx;
  assign busy_o = st_q != VIdle;

  // ---------------------------------------------------------------- output word
  logic [WORD_BITS-1:0] pool_word;
  for (genvar l = 0; l < ROWS; l++) begin : g_word
    assign pool_word[l*8 +: 8] = acc_q[l][7:0];
  end
  assign out_valid_o = st_q == VPush;
  assign out_data_o = stream ? buf_y[idx] : pool_word;

  logic add_last_chunk;
  assign add_last_chunk = words_q + 32'(len_q) >= total;

  always_ff @(posedge clk_i) begin
    if (rst_i) words_read_o <= '0;
    else if (rd_valid_i && rd_ready_o) words_read_o <= words_read_o + 32'd1;
  end

  always_ff @(posedge clk_i) begin
    done_o <= 1'b0;
    if (rst_i) begin
      st_q <= VIdle;
`ifdef MUT_SELECT
      mut_reread_q <= 1'b0;
`endif
    end else begin
      case (st_q)
        VIdle: if (start_i) begin
          words_q <= '0;
          pix_q <= '0;
          tile_q <= '0;
          len_q <= (tiled ? plane : total) < 32'(MAX_BURST) ? LW'(tiled ? plane : total) : LW'(MAX_BURST);
          cnt_q <= '0;
          tab_q <= '0;
          {c_q, oy_q, ox_q, ky_q, xoff_q} <= '0;
          {uy_q, ux_q, fy_q, fx_q} <= '0;
          for (int l = 0; l < ROWS; l++) acc_q[l] <= '0;
          st_q <= skip_a ? VReqB : VReqA;
          if (is_gelu) begin  // the table first
            len_q <= TAB_WORDS < MAX_BURST ? LW'(TAB_WORDS) : LW'(MAX_BURST);
            st_q <= VTabReq;
          end
        end
        VTabReq: if (req_ready_i) st_q <= VTabRx;
        VTabRx: if (rd_valid_i) begin  // the word is written into the table (u_lut) this edge
          tab_q <= tab_q + 1'b1;
          cnt_q <= cnt_q + 1'b1;
          if (cnt_q + 1'b1 == len_q) begin
            cnt_q <= '0;
            if (32'(tab_q) + 1 == TAB_WORDS) begin  // the table is in: the input's first chunk
              len_q <= plane < 32'(MAX_BURST) ? LW'(plane) : LW'(MAX_BURST);
              st_q <= VReqB;
            end else begin
              len_q <= TAB_WORDS - 32'(tab_q) - 1 < MAX_BURST ? LW'(TAB_WORDS - 32'(tab_q) - 1)
                                                                : LW'(MAX_BURST);
              st_q <= VTabReq;
            end
          end
        end
        VReqA: begin
          if (stream) begin
            if (req_ready_i) st_q <= VReqB;  // b's burst right behind a's: one memory latency per chunk
          end else if (!row_in) begin  // a window row outside the image: the next row, or the result
            ky_q <= ky_q + 1;
            xoff_q <= '0;
            if (window_last_row) st_q <= is_avg ? VDiv : VPush;
          end else if (req_ready_i) begin
            len_q <= row_more ? LW'(MAX_BURST) : LW'(row_left);
            cnt_q <= '0;
            st_q <= VRxA;
          end
          div_q <= '0;
          for (int l = 0; l < ROWS; l++) rem_q[l] <= '0;
        end
        VRxA: if (rd_valid_i) begin
          if (stream) buf_a[idx] <= rd_data_i;
          else begin
            for (int l = 0; l < ROWS; l++) begin
`ifdef MUT_SELECT
              if (is_max && mut_maxpool_signed)
                acc_q[l] <= $signed(acc_q[l]) > $signed({{24{rd_data_i[l*8+7]}}, rd_data_i[l*8 +: 8]})
                            ? acc_q[l] : {{24{rd_data_i[l*8+7]}}, rd_data_i[l*8 +: 8]};
              else
`endif
              if (is_max) acc_q[l] <= acc_q[l] > 32'(rd_data_i[l*8 +: 8]) ? acc_q[l] : 32'(rd_data_i[l*8 +: 8]);
              else acc_q[l] <= acc_q[l] + 32'(rd_data_i[l*8 +: 8]);
            end
          end
          cnt_q <= cnt_q + 1'b1;
          if (cnt_q + 1'b1 == len_q) begin
            cnt_q <= '0;
            if (stream) st_q <= VRxB;  // b's words follow a's (requested already)
            else if (xs + $signed(32'(len_q)) <= x_hi) begin  // more of this window row
              xoff_q <= xoff_q + 16'(len_q);
              st_q <= VReqA;
            end else begin
              ky_q <= ky_q + 1;
              xoff_q <= '0;
              st_q <= !window_last_row ? VReqA : (is_avg ? VDiv : VPush);
            end
          end
        end
`ifdef MUT_SELECT
        VReqB: if (req_ready_i) begin
          st_q <= skip_a ? VRxB : VRxA;
          if (mut_vec_reread && !mut_reread_q) begin
            st_q <= VReqA;
            mut_reread_q <= 1'b1;
          end
        end
`else
        VReqB: if (req_ready_i) st_q <= skip_a ? VRxB : VRxA;
`endif
        VRxB: if (rd_valid_i) begin
          buf_y[idx] <= y_add;
          cnt_q <= cnt_q + 1'b1;
          if (cnt_q + 1'b1 == len_q) begin
            cnt_q <= '0;
            st_q <= VPush;
          end
        end
        VDiv: begin
          // (sum + floor(N/2)) // N per lane: restoring division, one quotient bit a cycle, 32 cycles;
          // the dividend enters from acc_q (+ N/2 on the first step), the quotient replaces it
          for (int l = 0; l < ROWS; l++) begin
            rem_q[l] <= div_ge[l] ? 32'(div_r[l] - 33'(cnt_n)) : 32'(div_r[l]);
            acc_q[l] <= {div_dividend[l][30:0], div_ge[l]};
          end
          div_q <= div_q + 1'b1;
          if (div_q == 6'd31) st_q <= VPush;
        end
        VPush: if (out_ready_i) begin
          if (stream) begin
            cnt_q <= cnt_q + 1'b1;
            if (cnt_q + 1'b1 == len_q) begin
              cnt_q <= '0;
              words_q <= words_q + 32'(len_q);
              pix_q <= pix_n;
              tile_q <= tile_n;
              len_q <= seg_n < 32'(MAX_BURST) ? LW'(seg_n) : LW'(MAX_BURST);
              if (add_last_chunk) begin
                st_q <= VIdle;
                done_o <= 1'b1;
              end else begin
                st_q <= skip_a ? VReqB : VReqA;
              end
            end
          end else begin
            // an upsample's next pixel copying the same word is given straight away, unread
            if (!up_same) for (int l = 0; l < ROWS; l++) acc_q[l] <= '0;
            ky_q <= '0;
            if (pixel_last) begin
              st_q <= VIdle;
              done_o <= 1'b1;
            end else begin
              st_q <= up_same ? VPush : VReqA;
              if (ox_q + 1 != out_w_i) begin
                ox_q <= ox_q + 1;
                fx_q <= 32'(fx_q) + 1 == 32'(sx_i) ? '0 : fx_q + 1;
                if (32'(fx_q) + 1 == 32'(sx_i)) ux_q <= ux_q + 1;
              end else begin
                ox_q <= '0; fx_q <= '0; ux_q <= '0;
                if (oy_q + 1 != out_h_i) begin
                  oy_q <= oy_q + 1;
                  fy_q <= 32'(fy_q) + 1 == 32'(sy_i) ? '0 : fy_q + 1;
                  if (32'(fy_q) + 1 == 32'(sy_i)) uy_q <= uy_q + 1;
                end else begin
                  oy_q <= '0; fy_q <= '0; uy_q <= '0;
                  c_q <= c_q + 1;
                end
              end
            end
          end
        end
        default: st_q <= VIdle;
      endcase
    end
  end

`ifndef SYNTHESIS
  // protocol checkers (rtl/vr_check.sv, rtl/outstanding_check.sv; docs/rtl.md, "Protocol checkers"): the
  // read-request and output channels; read data only for requested words, at most two bursts
  // (add requests b's burst right behind a's)
  vr_check #(.W(ADDR_W + 8)) u_chk_req (.clk_i, .rst_i, .valid_i(req_valid_o), .ready_i(req_ready_i),
                                        .data_i({req_addr_o, req_len_o}));
  vr_check #(.W(WORD_BITS)) u_chk_out (.clk_i, .rst_i, .valid_i(out_valid_o), .ready_i(out_ready_i), .data_i(out_data_o));
  outstanding_check #(.LIMIT(2 * MAX_BURST)) u_chk_outstanding (
      .clk_i, .rst_i, .req_fire_i(req_valid_o && req_ready_i), .req_len_i(req_len_o), .data_valid_i(rd_valid_i),
      .data_fire_i(rd_valid_i && rd_ready_o));
`endif

endmodule

`resetall
