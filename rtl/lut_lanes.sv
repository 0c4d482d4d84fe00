`resetall
`timescale 1ns / 1ps
`default_nettype none

// A 256-entry table read by LANES uint8 codes at once (arithmetic.md, "Transformers"):
//
//   y[l] = TABLE[q[l]]        lane l = bits [l*8 +: 8] of q_i, [l*W +: W] of y_o
//
// An operation on 8-bit codes has only 256 inputs, so its whole function is a table computed at
// extraction, once per layer, and loaded through the write port before the layer runs:
//   - GELU is this unit with W = 8 and golden.tf_arith.gelu_table's table (the output codes);
//   - softmax's exp is this unit with W = 21 and softmax_params' exp_table, read by max - q
//     (rtl/softmax_unit.sv).
// The write port writes WR entries at once (WR = 1: one entry a write; the vector unit's GELU
// writes a memory word of ROWS codes a cycle, WR = ROWS): write waddr_i writes entries
// waddr_i x WR + k from wdata_i[k*W +: W], k < WR, those past 255 dropped (a table of 256 entries
// is ceil(256 / WR) writes). The read is combinational (golden.tf_arith.lookup), so a user
// registers it where its timing wants; every lane reads the same table, a copy per lane in
// hardware (LANES read ports). The
// write is synchronous: an entry written at an edge is read from that edge on. Entries are not
// reset (a table is always loaded before use). tb/engine/test_lut_lanes.py checks it against
// golden.
module lut_lanes #(
    parameter int LANES = 8,
    parameter int W = 8,
    parameter int WR = 1   // entries a write writes
) (
    input  logic               clk_i,
    input  logic               we_i,
    input  logic [7:0]         waddr_i,  // the write's first entry is waddr_i x WR
    input  logic [WR*W-1:0]    wdata_i,
    input  logic [LANES*8-1:0] q_i,
    output logic [LANES*W-1:0] y_o
);

  initial begin
    if (LANES < 1) begin
      $error("%m: LANES = %0d must be >= 1", LANES);
      $finish;
    end
    if (W < 1 || W > 32) begin
      $error("%m: W = %0d must be in 1..32 (an entry's bits)", W);
      $finish;
    end
    if (WR < 1 || WR > 256) begin
      $error("%m: WR = %0d must be in 1..256 (entries a write writes)", WR);
      $finish;
    end
  end

  logic [W-1:0] table_q [256];

  always_ff @(posedge clk_i) begin
    for (int k = 0; k < WR; k++) begin
      if (we_i && 32'(waddr_i) * WR + k < 256)
        table_q[8'(32'(waddr_i) * WR + k)] <= wdata_i[k*W +: W];
    end
  end

  for (genvar l = 0; l < LANES; l++) begin : g_lane
    assign y_o[l*W +: W] = table_q[q_i[l*8 +: 8]];
  end

endmodule

`resetall
