`resetall
`timescale 1ns / 1ps
`default_nettype none

// Outstanding-request checker of one memory channel (simulation only: empty under SYNTHESIS).
// Instantiated in each unit that requests bursts (burst_reader, mem_loader, vec_unit), so it runs
// in every simulation that has the unit, on both simulators. It counts the words of accepted
// requests not yet moved. Rules (docs/rtl.md, "Protocol checkers"):
//   - no request is accepted that takes the count beyond LIMIT words (the unit's own bound: its
//     buffer or window; beyond it, data would arrive that the unit has no room for);
//   - data is only offered (valid) while requested words are outstanding: read data for a burst
//     the unit asked for, write data after its request.
// A broken rule stops the simulation with $fatal naming the instance, like rtl/vr_check.sv.
module outstanding_check #(
    parameter int LIMIT = 1   // words
) (
    input  logic       clk_i,
    input  logic       rst_i,
    input  logic       req_fire_i,   // a request accepted (valid and ready)
    input  logic [7:0] req_len_i,    // its words
    input  logic       data_valid_i, // a data word offered
    input  logic       data_fire_i   // a data word moved (valid and ready)
);

`ifndef SYNTHESIS
  logic   armed_q;  // a reset was seen (the rules hold from the first reset on, as in rtl/vr_check.sv)
  longint count_q;  // words requested and not yet moved
  longint count_d;

`include "sim_error.svh"

  // count_q from 0 too, so that a checker armed before any reset would see pre-reset data as
  // data with nothing outstanding (tb/engine/hdl/checkers_tb.sv, case before_reset)
  initial begin
    armed_q = 1'b0;
    count_q = 0;
  end

  always_comb count_d = count_q + (req_fire_i ? longint'(req_len_i) : 0) - (data_fire_i ? 1 : 0);

  always @(posedge clk_i) begin
    if (rst_i) begin
      armed_q <= 1'b1;
      count_q <= 0;
    end else if (armed_q) begin
      if (data_valid_i && count_q == 0) broken("data offered with no requested word outstanding");
      if (count_d > longint'(LIMIT)) broken($sformatf("%0d words outstanding, more than the limit of %0d", count_d, LIMIT));
      count_q <= count_d;
    end
  end
`else
  logic unused;
  assign unused = ^{clk_i, rst_i, req_fire_i, req_len_i, data_valid_i, data_fire_i};
`endif

endmodule

`resetall
