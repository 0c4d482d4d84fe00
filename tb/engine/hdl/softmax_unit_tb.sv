`resetall
`timescale 1ns / 1ps
`default_nettype none

// Test harness: softmax_unit with a protocol checker (rtl/vr_check.sv) on each of its streams, so
// that a broken valid/ready rule stops the run whichever side breaks it: the input checker judges
// the bench's source (it must hold a word until taken), the output checker the unit. cocotb loads
// the exp table, programs the row, pulses start and drives both streams (random gaps and ready).
module softmax_unit_tb #(
    parameter int LANES = 8
) (
    input  logic               clk_i,
    input  logic               rst_i,

    input  logic [15:0]        len_i,
    input  logic [51:0]        dividend_i,
    input  logic [5:0]         shift_i,
    input  logic [7:0]         z_out_i,
    input  logic [7:0]         lo_i,
    input  logic [7:0]         hi_i,

    input  logic               tbl_we_i,
    input  logic [7:0]         tbl_addr_i,
    input  logic [20:0]        tbl_data_i,

    input  logic               start_i,
    output logic               busy_o,

    input  logic               in_valid_i,
    output logic               in_ready_o,
    input  logic [LANES*8-1:0] in_data_i,

    output logic               out_valid_o,
    input  logic               out_ready_i,
    output logic [LANES*8-1:0] out_data_o
);

  softmax_unit #(.LANES(LANES)) u_sm (
      .clk_i, .rst_i, .len_i, .dividend_i, .shift_i, .z_out_i, .lo_i, .hi_i,
      .tbl_we_i, .tbl_addr_i, .tbl_data_i, .start_i, .busy_o,
      .in_valid_i, .in_ready_o, .in_data_i, .out_valid_o, .out_ready_i, .out_data_o
  );

  vr_check #(.W(LANES * 8)) u_chk_in (
      .clk_i, .rst_i, .valid_i(in_valid_i), .ready_i(in_ready_o), .data_i(in_data_i));
  vr_check #(.W(LANES * 8)) u_chk_out (
      .clk_i, .rst_i, .valid_i(out_valid_o), .ready_i(out_ready_i), .data_i(out_data_o));

endmodule

`resetall
