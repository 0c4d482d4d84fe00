`resetall
`timescale 1ns / 1ps
`default_nettype none

// Port-limit checker of a banked buffer (simulation only: empty under SYNTHESIS). The buffer has
// BANKS banks interleaved by word address (bank = address mod BANKS), each with one read port:
// at most one read per bank in a cycle. Instantiated on the gather's reads of the activation
// buffer (rtl/gather.sv), which the simulation models as one array with a read port per column:
// there a gather that read two words of one bank in a cycle would give right outputs in fewer
// cycles than the hardware can, and only this check sees it. Rule (docs/rtl.md, "Protocol checkers"):
//   - no two of the reads enabled at a clock edge (re_i) address the same bank.
// A broken rule stops the simulation with $fatal naming the instance, like rtl/vr_check.sv.
module bank_check #(
    parameter int PORTS = 8,   // reads a cycle
    parameter int BANKS = 8,   // a power of two
    parameter int AW = 32
) (
    input  logic                clk_i,
    input  logic                rst_i,
    input  logic [PORTS-1:0]    re_i,     // read q takes place at this edge
    input  logic [PORTS*AW-1:0] addr_i    // read q's word address, bits [q*AW +: AW]
);

`ifndef SYNTHESIS
  logic armed_q;  // a reset was seen (the rules hold from the first reset on, as in rtl/vr_check.sv)
`include "sim_error.svh"

  // One pass over the ports, each read marking its bank, rather than every pair compared: the pairs
  // (120 a cycle at 16 ports) made this checker a third of a layer's time on Icarus.
  task automatic check_banks(input logic [PORTS-1:0] re, input logic [PORTS*AW-1:0] addr);
    logic [BANKS-1:0] seen;
    logic [AW-1:0]    word [BANKS];  // the word each bank in `seen` gave
    int               b;
    seen = '0;
    for (int q = 0; q < PORTS; q++) begin
      if (re[q]) begin
        b = int'(addr[q*AW +: AW] % BANKS);
        if (seen[b]) begin
          broken($sformatf("bank %0d read twice in one cycle (words %0d and %0d): one read port a bank",
                           b, word[b], addr[q*AW +: AW]));
        end
        seen[b] = 1'b1;
        word[b] = addr[q*AW +: AW];
      end
    end
  endtask

  initial armed_q = 1'b0;
  always @(posedge clk_i) begin
    if (rst_i) begin
      armed_q <= 1'b1;
    end else if (armed_q && re_i != '0) begin
      check_banks(re_i, addr_i);
    end
  end
`else
  logic unused;
  assign unused = ^{clk_i, rst_i, re_i, addr_i};
`endif

endmodule

`resetall
