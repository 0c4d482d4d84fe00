`timescale 1ns / 1ps
`default_nettype none

// Bench of the protocol checkers themselves (tests/test_protocol.py): +CASE=<name> plays one
// scripted sequence on a vr_check and an outstanding_check. "legal" keeps every rule at its edge
// (a valid that waits and is taken, a payload changing on every accepted beat, exactly LIMIT words
// outstanding, a request and a word in the same cycle at the limit) and must end with
// CHECKERS_TB_DONE; "before_reset" breaks rules before the first reset only, which the checkers
// must not judge; each other case breaks one rule once and must be stopped by the checker.
module checkers_tb;
  logic       clk, rst;
  logic       valid, ready, req_fire, data_valid, data_fire;
  logic [7:0] data, req_len;
  string      name;

  initial begin
    clk = 1'b0;
    forever #5 clk = ~clk;
  end

  vr_check #(.W(8)) u_vr (.clk_i(clk), .rst_i(rst), .valid_i(valid), .ready_i(ready), .data_i(data));
  outstanding_check #(.LIMIT(4)) u_outstanding (.clk_i(clk), .rst_i(rst), .req_fire_i(req_fire), .req_len_i(req_len),
                                                .data_valid_i(data_valid), .data_fire_i(data_fire));

  // one clock cycle with these inputs (set after a falling edge, seen at the next rising edge)
  task automatic cycle(input logic v, input logic r, input logic [7:0] d, input logic rf, input logic [7:0] rl,
                       input logic dv, input logic df);
    @(negedge clk);
    {valid, ready, data, req_fire, req_len, data_valid, data_fire} = {v, r, d, rf, rl, dv, df};
  endtask

  initial begin
    {valid, ready, data, req_fire, req_len, data_valid, data_fire} = '0;
    if (!$value$plusargs("CASE=%s", name)) name = "legal";
    rst = name != "before_reset";
    if (name == "before_reset") begin
      // rules broken before the first reset (registers then hold the simulator's initial values):
      // not checked
      cycle(1'b1, 1'b0, 8'h11, 1'b0, 8'd0, 1'b1, 1'b0);  // waits; a word nobody asked for
      cycle(1'b0, 1'b0, 8'h11, 1'b0, 8'd0, 1'b1, 1'b0);  // withdrawn
      cycle(1'b0, 1'b0, 8'h00, 1'b0, 8'd0, 1'b0, 1'b0);
      rst = 1'b1;
    end
    repeat (2) @(posedge clk);
    @(negedge clk) rst = 1'b0;
    // if/else, not case: Icarus 11 cannot case on a string
    if (name == "legal") begin
      //     valid ready data  req len   data valid/fire   (words outstanding after the edge)
      cycle(1'b1, 1'b0, 8'h11, 1'b0, 8'd0, 1'b0, 1'b0);  // waits                                  0
      cycle(1'b1, 1'b0, 8'h11, 1'b1, 8'd3, 1'b0, 1'b0);  // still waits, same payload; 3 asked      3
      cycle(1'b1, 1'b1, 8'h11, 1'b0, 8'd0, 1'b1, 1'b0);  // taken; a word offered, not taken       3
      cycle(1'b1, 1'b1, 8'h22, 1'b1, 8'd1, 1'b1, 1'b0);  // new payload on a taken beat; the limit  4
      cycle(1'b1, 1'b1, 8'h33, 1'b1, 8'd1, 1'b1, 1'b1);  // a request and a word at the limit       4
      cycle(1'b0, 1'b0, 8'h44, 1'b0, 8'd0, 1'b1, 1'b1);  // no valid: the payload is free          3
      cycle(1'b0, 1'b1, 8'h55, 1'b0, 8'd0, 1'b1, 1'b1);  //                                         2
      cycle(1'b1, 1'b0, 8'h66, 1'b0, 8'd0, 1'b1, 1'b1);  //                                         1
      cycle(1'b1, 1'b1, 8'h66, 1'b0, 8'd0, 1'b1, 1'b1);  // the last word                           0
    end else if (name == "before_reset") begin
      cycle(1'b0, 1'b0, 8'h00, 1'b0, 8'd0, 1'b0, 1'b0);  // after the reset: quiet, legal
    end else if (name == "dropped") begin
      cycle(1'b1, 1'b0, 8'h11, 1'b0, 8'd0, 1'b0, 1'b0);
      cycle(1'b0, 1'b0, 8'h11, 1'b0, 8'd0, 1'b0, 1'b0);  // withdrawn before it was taken
    end else if (name == "payload") begin
      cycle(1'b1, 1'b0, 8'h11, 1'b0, 8'd0, 1'b0, 1'b0);
      cycle(1'b1, 1'b0, 8'h12, 1'b0, 8'd0, 1'b0, 1'b0);  // changed while waiting
    end else if (name == "over_limit") begin
      cycle(1'b0, 1'b0, 8'h00, 1'b1, 8'd4, 1'b0, 1'b0);
      cycle(1'b0, 1'b0, 8'h00, 1'b1, 8'd1, 1'b0, 1'b0);  // a fifth word
    end else if (name == "orphan_data") begin
      cycle(1'b0, 1'b0, 8'h00, 1'b0, 8'd0, 1'b1, 1'b0);  // a word nobody asked for
    end else begin
      $fatal(1, "checkers_tb: no case %s", name);
    end
    cycle(1'b0, 1'b0, 8'h00, 1'b0, 8'd0, 1'b0, 1'b0);
    repeat (2) @(posedge clk);
    $display("CHECKERS_TB_DONE %s", name);
    $finish;
  end
endmodule
