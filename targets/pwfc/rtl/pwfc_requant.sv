`resetall
`timescale 1ns / 1ps
`default_nettype none

// One lane of pwfc's requantizer, the contract's single rounding (docs/arithmetic.md):
//   y = clamp(((acc * M0 + 2^(n-1)) >>> n) + z_out, lo, hi)
// with the product formed in 64 bits (|acc| < 2^31, M0 < 2^31, n in 1..63). Two register stages:
// the product, then the rounded, shifted, offset and clamped byte; valid_o follows valid_i by two
// cycles and y_o holds until the next valid_o.
module pwfc_requant (
    input  logic               clk_i,
    input  logic               rst_i,
    input  logic               valid_i,
    input  logic signed [31:0] acc_i,
    input  logic [31:0]        m0_i,
    input  logic [5:0]         n_i,
    input  logic [7:0]         z_out_i,
    input  logic [7:0]         lo_i,
    input  logic [7:0]         hi_i,
    output logic               valid_o,
    output logic [7:0]         y_o
);

  logic signed [63:0] prod_q;
  logic [5:0]         n_q;
  logic               valid_q, out_valid_q;
  logic [7:0]         y_q;

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      valid_q <= 1'b0;
      out_valid_q <= 1'b0;
    end else begin
      valid_q <= valid_i;
      out_valid_q <= valid_q;
    end
  end

  // stage 1: the 64-bit product of the signed accumulator and the unsigned M0
  always_ff @(posedge clk_i) begin
    if (valid_i) begin
      prod_q <= $signed({{32{acc_i[31]}}, acc_i}) * $signed({32'd0, m0_i});
      n_q <= n_i;
    end
  end

  // stage 2: round (ties toward +infinity), arithmetic shift, zero point, clamp
  logic signed [63:0] rounded, shifted, offset;
  logic signed [63:0] lo_s, hi_s;
  always_comb begin
    rounded = prod_q + (64'sd1 <<< (n_q - 6'd1));
    shifted = rounded >>> n_q;
    offset = shifted + $signed({56'd0, z_out_i});
    lo_s = $signed({56'd0, lo_i});
    hi_s = $signed({56'd0, hi_i});
  end

  always_ff @(posedge clk_i) begin
    if (valid_q) begin
      if (offset < lo_s) y_q <= lo_i;
      else if (offset > hi_s) y_q <= hi_i;
      else y_q <= offset[7:0];
    end
  end

  assign valid_o = out_valid_q;
  assign y_o = y_q;

endmodule

`resetall
