`resetall
`timescale 1ns / 1ps
`default_nettype none

// Protocol checker of one valid/ready interface (simulation only: empty under SYNTHESIS).
// Instantiated beside every valid/ready interface of the engine (accel_top: the memory port's
// four channels and the units' streams), so it runs in every simulation that has the interface,
// on both simulators. Rules (docs/rtl.md, "Protocol checkers"):
//   - a valid that was not accepted (valid and not ready at a clock edge) stays high at the next
//     edge: the source may not withdraw it;
//   - its payload does not change until it is accepted.
// The rules hold from the first reset on: before it, the units' registers hold whatever the
// simulator starts them with (Verilator: random values).
// A broken rule stops the simulation with $fatal naming the instance (the interface), so the test
// that hits it fails with the checker's line (tb.layer_sim reports it as the layer's reason).
module vr_check #(
    parameter int W = 1
) (
    input  logic         clk_i,
    input  logic         rst_i,
    input  logic         valid_i,
    input  logic         ready_i,
    input  logic [W-1:0] data_i
);

`ifndef SYNTHESIS
  logic         armed_q;    // a reset was seen (before it, Verilator's random initial values would break any rule)
  logic         waiting_q;  // valid and not ready at the last edge
  logic [W-1:0] data_q;

`include "sim_error.svh"

  initial armed_q = 1'b0;

  always @(posedge clk_i) begin
    if (rst_i) begin
      armed_q <= 1'b1;
      waiting_q <= 1'b0;
    end else if (armed_q) begin
      if (waiting_q) begin
        if (!valid_i) broken("valid dropped before it was accepted");
        else if (data_i !== data_q) broken("payload changed while valid waited for ready");
      end
      waiting_q <= valid_i && !ready_i;
      if (valid_i && !ready_i) data_q <= data_i;  // only what waits is compared (fewer events per cycle)
    end
  end
`else
  logic unused;
  assign unused = ^{clk_i, rst_i, valid_i, ready_i, data_i};
`endif

endmodule

`resetall
