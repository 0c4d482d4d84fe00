`resetall
`timescale 1ns / 1ps
`default_nettype none

// Residual add datapath: LANES independent uint8 lanes (arithmetic.md, golden.arith.add_requant):
//
//   s = A0 * (a - z_a) + B0 * (b - z_b)        (A0, B0 unsigned, at most 31 bits; 64-bit signed sum)
//   y = clamp(((s + 2^(n-1)) >>> n) + z_out, lo, hi)     n = 1..63 (arithmetic shift: floor)
//
// Lane l is bits [l*8 +: 8] of a, b and y: one activation word of two tensors in the same layout
// gives the output word in that layout. Combinational; tb/engine/test_add_lanes.py checks it against
// golden.arith.add_requant. The unit of the engine's add layers (instantiated by rtl/vec_unit.sv).
module add_lanes #(
    parameter int LANES = 8
) (
    input  logic [LANES*8-1:0] a_i,
    input  logic [LANES*8-1:0] b_i,
    input  logic [7:0]         z_a_i,
    input  logic [7:0]         z_b_i,
    input  logic [30:0]        a0_i,
    input  logic [30:0]        b0_i,
    input  logic [5:0]         n_i,
    input  logic [7:0]         z_out_i,
    input  logic [7:0]         lo_i,
    input  logic [7:0]         hi_i,
    output logic [LANES*8-1:0] y_o
);

  initial begin
    if (LANES < 1) begin
      $error("%m: LANES = %0d must be >= 1", LANES);
      $finish;
    end
  end

  // 2^(n-1): n = 0 is outside the contract (then no rounding term)
  logic signed [63:0] half;
  assign half = n_i == 6'd0 ? 64'sd0 : 64'sd1 <<< (n_i - 6'd1);

  for (genvar l = 0; l < LANES; l++) begin : g_lane
    logic signed [63:0] da, db, s, r, y, t;
    assign da = 64'($signed({1'b0, a_i[l*8 +: 8]}) - $signed({1'b0, z_a_i}));
    assign db = 64'($signed({1'b0, b_i[l*8 +: 8]}) - $signed({1'b0, z_b_i}));
    assign s = $signed({33'd0, a0_i}) * da + $signed({33'd0, b0_i}) * db;
    assign r = (s + half) >>> n_i;
    assign y = r + $signed({56'd0, z_out_i});
    // max with lo first, then min with hi (the requantizer's order, numpy's clip)
    assign t = y < $signed({56'd0, lo_i}) ? $signed({56'd0, lo_i}) : y;
    assign y_o[l*8 +: 8] = t > $signed({56'd0, hi_i}) ? hi_i : t[7:0];
  end

endmodule

`resetall
