`resetall
`timescale 1ns / 1ps
`default_nettype none

// Compute-issue unit (a unit of the layer engine, docs/engine.md): the two weight banks and the
// beats to the MAC array.
//
// The reader writes k_tile t's weights into bank t % 2 word for word as hexgen lays them out
// ([c_tile][ky][kx][c_lane] vectors of ROWS output-channel weights; depthwise [ky][kx]; at W_BITS
// 4 and 2, two and four vectors to a word) and counts the k_tiles whose weights are in
// (wloaded_i). For the gather's oldest register set (step s of a pixel tile of k_tile t), once t's
// weights are in, the unit issues one beat per real input channel c of the step's channel tile:
// weight vector s * ROWS + c of the bank (word v >> log2(8 / W_BITS), unpacked by wgt_unpack) down
// the rows, lane c of every column's vector across them. Depthwise: one beat per set, weight vector
// s, every cell (r, j) taking lane r of column j's vector (its own channel). The set is popped with its last
// beat; a k_tile's last set popped counts in cfin_o (its weight bank is free again).
// tb/engine/test_compute_issue.py checks the beats against hexgen's weight layout.
module compute_issue #(
    parameter int ROWS = 8,
    parameter int COLS = 8,
    parameter int WORD_BITS = 64,
    parameter int WGT_WORDS = 1024,
    parameter int WGT_WIDTHS = 'h114,   // the weight widths the build unpacks (rtl/wgt_unpack.sv)
    localparam int WGT_AW = $clog2(WGT_WORDS),
    localparam int CW = $clog2(COLS + 1),
    localparam int RW = (ROWS > 1) ? $clog2(ROWS) : 1
) (
    input  logic                      clk_i,
    input  logic                      rst_i,
    input  logic                      start_i,       // a layer is started: the counters clear
    input  logic                      run_start_i,   // it starts running: from the first set, bank 0
    input  logic                      run_i,         // the engine runs a layer: beats may issue

    input  logic                      is_dw_i,
    input  logic [15:0]               in_c_i,        // input channels
    input  logic [3:0]                w_bits_i,      // the width the weights are stored at
    input  logic                      w_xor_i,       // 8-bit weights' bit 7 inverted (W_XOR: b's codes as int8)

    // the weight banks' write port (the reader: bank t % 2 at [WGT_AW], word below) and the
    // k_tiles whose weights are in
    input  logic                      wgt_we_i,
    input  logic [WGT_AW:0]           wgt_waddr_i,
    input  logic [WORD_BITS-1:0]      wgt_wdata_i,
    input  logic [15:0]               wloaded_i,

    // the gather's oldest full register set
    input  logic                      set_valid_i,
    output logic                      set_pop_o,
    input  logic [COLS*WORD_BITS-1:0] set_data_i,
    input  logic                      set_first_i,
    input  logic                      set_last_i,
    input  logic                      set_ktlast_i,
    input  logic [CW-1:0]             set_cols_i,
    input  logic [15:0]               set_step_i,
    input  logic [15:0]               set_ct_i,
    input  logic [15:0]               set_kt_i,

    // beats to the MAC array (rtl/mac_array.sv's input side)
    output logic                      mac_valid_o,
    input  logic                      mac_ready_i,
    output logic [ROWS*8-1:0]         mac_w_o,
    output logic [COLS*8-1:0]         mac_a_o,
    output logic [COLS*ROWS*8-1:0]    mac_a_cells_o, // depthwise: cell (r, j) = lane r of column j
    output logic                      mac_first_o,
    output logic                      mac_last_o,
    output logic [CW-1:0]             mac_cols_o,

    output logic [15:0]               cfin_o,        // k_tiles whose beats are all issued
    output logic [31:0]               beats_o,       // beats issued since start (BUSY_CYCLES)
    output logic [31:0]               macs_o,        // real MACs since start
    output logic                      wgt_wait_o     // a set waits for its k_tile's weights
);

  initial begin
    if (WORD_BITS != ROWS * 8) begin
      $error("%m: WORD_BITS = %0d must be ROWS * 8 = %0d (one memory word is one channel vector)", WORD_BITS, ROWS * 8);
      $finish;
    end
    if (COLS < 1) begin
      $error("%m: COLS = %0d must be >= 1", COLS);
      $finish;
    end
    if (WGT_WORDS < 1 || (WGT_WORDS & (WGT_WORDS - 1)) != 0) begin
      $error("%m: WGT_WORDS = %0d must be a power of two (one of two weight banks)", WGT_WORDS);
      $finish;
    end
  end

  // two weight banks of WGT_WORDS: k_tile t computes from bank t % 2 while the next one loads
  logic [WORD_BITS-1:0] wgt_buf [2 * WGT_WORDS];
  always_ff @(posedge clk_i) begin
    if (wgt_we_i) wgt_buf[wgt_waddr_i] <= wgt_wdata_i;
  end

  logic [15:0] lane_q;        // the beat within the set: its input channel
  logic        wgt_ok, fire, last_beat;
  logic [15:0] lanes;         // beats of the set
  logic [31:0] waddr, wvec;  // the beat's weight word in the banks; its vector within the k_tile
  logic [1:0]  wshift;       // log2 of the vectors a word holds

  assign wgt_ok = wloaded_i > set_kt_i;
  // one beat per real input channel of the step's channel tile
  assign lanes = is_dw_i ? 16'd1
               : (32'(in_c_i) - 32'(set_ct_i) * ROWS >= ROWS) ? 16'(ROWS)
               : 16'(32'(in_c_i) - 32'(set_ct_i) * ROWS);
  assign last_beat = (lane_q + 1 == lanes);
`ifdef MUT_SELECT  // mutation tests (tests/test_diagnose_sim.py): faults chosen at run time, +MUT_<name>
  logic mut_bank, mut_hang;
  initial begin
    mut_bank = $test$plusargs("MUT_BANK");  // k_tile 1 computes from bank 0
    mut_hang = $test$plusargs("MUT_HANG");  // no beat is ever issued (the watchdog must fire)
  end
`endif
  assign wvec = is_dw_i ? 32'(set_step_i) : 32'(set_step_i) * ROWS + 32'(lane_q);
  assign wshift = w_bits_i == 4'd4 ? 2'd1 : w_bits_i == 4'd2 ? 2'd2 : 2'd0;
`ifdef MUT_SELECT
  assign waddr = ((set_kt_i[0] && !(mut_bank && set_kt_i == 16'd1)) ? 32'(WGT_WORDS) : 32'd0) + (wvec >> wshift);
`else
  assign waddr = (set_kt_i[0] ? 32'(WGT_WORDS) : 32'd0) + (wvec >> wshift);
`endif
`ifdef MUT_SELECT
  assign mac_valid_o = set_valid_i && wgt_ok && run_i && !mut_hang;
`else
  assign mac_valid_o = set_valid_i && wgt_ok && run_i;
`endif
  assign fire = mac_valid_o && mac_ready_i;
  assign set_pop_o = fire && last_beat;
  assign mac_first_o = set_first_i && lane_q == 0;
  assign mac_last_o = set_last_i && last_beat;
  assign mac_cols_o = set_cols_i;
  logic [WORD_BITS-1:0] wword;
  logic [1:0]           wsel;
  assign wword = wgt_buf[waddr[WGT_AW:0]];
  assign wsel = wvec[1:0] & ((2'd1 << wshift) - 2'd1);
  wgt_unpack #(.ROWS(ROWS), .WORD_BITS(WORD_BITS), .WGT_WIDTHS(WGT_WIDTHS)) u_unpack (
      .word_i(wword), .w_bits_i(w_bits_i), .xor_i(w_xor_i), .sel_i(wsel), .vec_o(mac_w_o));
  // Column j's operand: lane lane_q of its vector, or (depthwise, else quiet) the whole vector, one
  // lane a cell. One process for all columns: buses assembled from per-column parts cost Icarus
  // the whole bus, bit by bit, at each part's change.
  logic [RW-1:0] lane_sel;
  assign lane_sel = lane_q[RW-1:0];
  always_comb begin
    for (int j = 0; j < COLS; j++) begin
      mac_a_o[j*8 +: 8] = is_dw_i ? 8'd0 : set_data_i[j*WORD_BITS + 32'(lane_sel)*8 +: 8];
      mac_a_cells_o[j*ROWS*8 +: ROWS*8] = is_dw_i ? set_data_i[j*WORD_BITS +: WORD_BITS] : '0;  // WORD_BITS = ROWS * 8
    end
  end
  assign wgt_wait_o = set_valid_i && !wgt_ok;

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      lane_q  <= '0;
      beats_o <= '0;
      macs_o  <= '0;
      cfin_o  <= '0;
    end else begin
      if (start_i) begin
        beats_o <= '0;
        macs_o  <= '0;
      end
      if (run_start_i) begin
        lane_q <= '0;
        cfin_o <= '0;
      end else if (fire) begin
        beats_o <= beats_o + 1;
        macs_o  <= macs_o + 32'(set_cols_i) * 32'(ROWS);
        if (last_beat) begin
          lane_q <= '0;
          if (set_ktlast_i) cfin_o <= cfin_o + 1;
        end else begin
          lane_q <= lane_q + 1;
        end
      end
    end
  end

  logic unused;
  assign unused = ^{waddr[31:WGT_AW+1], lane_q[15:RW]};

`ifndef SYNTHESIS
  // protocol checkers (rtl/vr_check.sv, rtl/outstanding_check.sv; docs/rtl.md, "Protocol checkers"): the
  // beats to the MAC array
  vr_check #(.W(ROWS * 8 + COLS * 8 + 2 + CW)) u_chk_mac (.clk_i, .rst_i, .valid_i(mac_valid_o), .ready_i(mac_ready_i),
                                                         .data_i({mac_w_o, mac_a_o, mac_first_o, mac_last_o, mac_cols_o}));
`endif

endmodule

`resetall
