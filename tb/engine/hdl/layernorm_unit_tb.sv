`resetall
`timescale 1ns / 1ps
`default_nettype none

// Test harness: layernorm_unit with protocol checkers (rtl/vr_check.sv) on its input stream (the
// word and the records that travel with it: what the bench drives must hold while it waits) and
// on its output stream (what the unit gives must hold while out_ready_i is low). cocotb drives
// everything else (tb/engine/test_layernorm_unit.py).
module layernorm_unit_tb #(
    parameter int LANES = 8
) (
    input  logic                 clk_i,
    input  logic                 rst_i,
    input  logic [15:0]          len_i,
    input  logic [4:0]           sqrt_shift_i,
    input  logic [47:0]          eps_term_i,
    input  logic [7:0]           z_out_i,
    input  logic [7:0]           lo_i,
    input  logic [7:0]           hi_i,
    input  logic                 start_i,
    output logic                 busy_o,
    input  logic                 in_valid_i,
    output logic                 in_ready_o,
    input  logic [LANES*8-1:0]   in_data_i,
    input  logic [LANES*32-1:0]  gain_i,
    input  logic [LANES*6-1:0]   shift_i,
    input  logic [LANES*64-1:0]  bias_i,
    output logic                 out_valid_o,
    input  logic                 out_ready_i,
    output logic [LANES*8-1:0]   out_data_o
);

  layernorm_unit #(.LANES(LANES)) u_ln (
      .clk_i, .rst_i, .len_i, .sqrt_shift_i, .eps_term_i, .z_out_i, .lo_i, .hi_i, .start_i, .busy_o,
      .in_valid_i, .in_ready_o, .in_data_i, .gain_i, .shift_i, .bias_i, .out_valid_o, .out_ready_i, .out_data_o
  );

  vr_check #(.W(LANES * (8 + 32 + 6 + 64))) u_chk_in (
      .clk_i, .rst_i, .valid_i(in_valid_i), .ready_i(in_ready_o), .data_i({in_data_i, gain_i, shift_i, bias_i}));
  vr_check #(.W(LANES * 8)) u_chk_out (
      .clk_i, .rst_i, .valid_i(out_valid_o), .ready_i(out_ready_i), .data_i(out_data_o));

endmodule

`resetall
