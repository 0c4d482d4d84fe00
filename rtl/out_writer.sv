`resetall
`timescale 1ns / 1ps
`default_nettype none

// Output writer (a unit of the layer engine, docs/engine.md): the requantizer's output vectors go
// through a FIFO to external memory, as out_rows_i write commands of out_len_i consecutive words,
// out_stride_i words apart, issued one after another from when the pass starts running: one
// command over the whole region when the pass covers every output row ([k_tile][y][x] is
// consecutive words), else one per k_tile (the band's rows of that k_tile's plane). A write burst is
// requested only when all of its words wait in the FIFO, beyond those of bursts already
// requested: a burst holds the memory's write side until its last word, and it then never holds
// it waiting on the array (a memory that shares one in-order queue between reads and writes
// could otherwise deadlock: the words would wait on reads queued behind the burst). tb/engine/test_out_writer.py
// checks the words, their addresses and that rule.
module out_writer #(
    parameter int ADDR_W = 24,
    parameter int WORD_BITS = 64,
    parameter int MAX_BURST = 16
) (
    input  logic                 clk_i,
    input  logic                 rst_i,
    input  logic                 start_i,       // a layer starts: FIFO and command state from zero
    input  logic                 run_i,         // the engine runs a layer: the command may be issued
    input  logic [ADDR_W-1:0]    out_base_i,    // word address of the pass's first output word
    input  logic [31:0]          out_len_i,     // words of each write command
    input  logic [15:0]          out_rows_i,    // write commands
    input  logic [ADDR_W-1:0]    out_stride_i,  // words from one command's start to the next

    // output vectors from the requantizer
    input  logic                 in_valid_i,
    output logic                 in_ready_o,
    input  logic [WORD_BITS-1:0] in_data_i,

    // the external memory port's request side (arbitrated in accel_top) and write data
    output logic                 req_valid_o,
    input  logic                 req_ready_i,
    output logic [ADDR_W-1:0]    req_addr_o,
    output logic [7:0]           req_len_o,
    output logic                 wr_valid_o,
    input  logic                 wr_ready_i,
    output logic [WORD_BITS-1:0] wr_data_o,

    output logic                 written_o,     // the pass's last output word is written (one cycle)
    output logic                 busy_o,
    output logic [31:0]          words_written_o  // since reset
);

  initial begin
    if (MAX_BURST < 1 || MAX_BURST > 255) begin
      $error("%m: MAX_BURST = %0d must be in 1..255", MAX_BURST);
      $finish;
    end
  end

  localparam int OF_DEPTH = 2 * MAX_BURST;
  localparam int OF_AW = $clog2(OF_DEPTH);
  logic [WORD_BITS-1:0] of_mem [OF_DEPTH];
  logic [OF_AW-1:0]     of_rd_q, of_wr_q;
  logic [OF_AW:0]       of_cnt_q;
  logic                 of_push, of_pop, of_valid;
  logic [8:0]           w_ahead_q;     // write words requested from memory, not yet sent

  assign in_ready_o = 32'(of_cnt_q) < OF_DEPTH;
  assign of_push = in_valid_i && in_ready_o;
  assign of_valid = of_cnt_q != '0;

  // the loader's read side is tied off
  logic                 w_nc_rd_ready, w_nc_bw_valid, w_nc_bw_addr, w_nc_req_we;
  logic [WORD_BITS-1:0] w_nc_bw_data;
  logic [31:0]          w_nc_words;
  logic                 w_cmd_valid, w_cmd_ready, w_cmd_done;
  logic [15:0]          w_issued_q, w_done_q;  // write commands issued / finished
  logic [ADDR_W-1:0]    w_addr_q;              // the next command's address
  logic                 w_req_valid;
  logic                 w_src_ready;

  // the FIFO's head offered to the loader (of_valid, but for the MUT_SELECT build's idle cycle)
  logic src_valid;
  assign of_pop = src_valid && w_src_ready;

  always_ff @(posedge clk_i) begin
    if (rst_i || start_i) begin
      of_rd_q  <= '0;
      of_wr_q  <= '0;
      of_cnt_q <= '0;
    end else begin
      if (of_push) begin
        of_mem[of_wr_q] <= in_data_i;
        of_wr_q <= of_wr_q + 1'b1;
      end
      if (of_pop) of_rd_q <= of_rd_q + 1'b1;
      of_cnt_q <= of_cnt_q + (OF_AW + 1)'(of_push) - (OF_AW + 1)'(of_pop);
    end
  end

  always_ff @(posedge clk_i) begin
    if (rst_i || start_i) begin
      w_issued_q <= '0;
      w_done_q   <= '0;
      w_addr_q   <= out_base_i;
    end else begin
      if (w_cmd_valid && w_cmd_ready) begin
        w_issued_q <= w_issued_q + 1;
        w_addr_q   <= w_addr_q + out_stride_i;
      end
      if (w_cmd_done) w_done_q <= w_done_q + 1;
    end
  end
  assign w_cmd_valid = run_i && w_issued_q != out_rows_i;
  assign written_o = w_cmd_done && w_done_q + 1 == out_rows_i;

  // the loader's source word: the FIFO's head
  logic [WORD_BITS-1:0] w_src_data;
`ifdef MUT_SELECT  // mutation tests (tests/test_diagnose_sim.py): faults chosen at run time, +MUT_<name>
  logic mut_lane, mut_wreq_drop, mut_wr_idle;
  initial begin
    mut_lane = $test$plusargs("MUT_LANE");  // lanes 0 and 1 of every word exchanged
    mut_wreq_drop = $test$plusargs("MUT_WREQ_DROP");  // a write request withdrawn after waiting a cycle
    mut_wr_idle = $test$plusargs("MUT_WR_IDLE");  // one idle cycle after each write request (slow, right)
  end
  logic mut_req_fired_q;
  always_ff @(posedge clk_i) mut_req_fired_q <= req_valid_o && req_ready_i;
  assign src_valid = of_valid && !(mut_wr_idle && mut_req_fired_q);
`else
  assign src_valid = of_valid;
`endif
`ifdef MUT_ZBIT  // mutation test (tests/test_faults_sim.py): the word's top bit driven z
  assign w_src_data = {1'bz, of_mem[of_rd_q][WORD_BITS-2:0]};
`elsif MUT_UNDRIVEN  // mutation test (tests/test_faults_sim.py): the word's top bit driven by nothing
  assign w_src_data[WORD_BITS-2:0] = of_mem[of_rd_q][WORD_BITS-2:0];
`elsif MUT_SELECT
  assign w_src_data = mut_lane ? {of_mem[of_rd_q][WORD_BITS-1:16], of_mem[of_rd_q][7:0], of_mem[of_rd_q][15:8]}
                              : of_mem[of_rd_q];
`else
  assign w_src_data = of_mem[of_rd_q];
`endif

  mem_loader #(
      .ADDR_W(ADDR_W),
      .DATA_W(WORD_BITS),
      .BUF_AW(1),
      .LEN_W(32),
      .MAX_BURST(MAX_BURST),
      .MAX_OUTSTANDING(2)
  ) u_loader (
      .clk_i, .rst_i,
      .cmd_valid_i(w_cmd_valid), .cmd_ready_o(w_cmd_ready), .cmd_write_i(1'b1),
      .cmd_ext_addr_i(w_addr_q), .cmd_buf_addr_i(1'b0), .cmd_len_i(out_len_i),
      .cmd_done_o(w_cmd_done), .busy_o(busy_o),
      .req_valid_o(w_req_valid), .req_ready_i(req_ready_i && req_valid_o), .req_addr_o(req_addr_o),
      .req_len_o(req_len_o), .req_we_o(w_nc_req_we),
      .rd_valid_i(1'b0), .rd_ready_o(w_nc_rd_ready), .rd_data_i({WORD_BITS{1'b0}}),
      .wr_valid_o, .wr_ready_i, .wr_data_o,
      .buf_wr_valid_o(w_nc_bw_valid), .buf_wr_ready_i(1'b1), .buf_wr_addr_o(w_nc_bw_addr), .buf_wr_data_o(w_nc_bw_data),
      .src_valid_i(src_valid), .src_ready_o(w_src_ready), .src_data_i(w_src_data),
      .words_read_o(w_nc_words), .words_written_o(words_written_o)
  );

  // all of the burst's words are in the FIFO, beyond those of bursts already requested
`ifdef MUT_SELECT
  logic mut_waited_q;  // the request waited for ready at the last edge
  always_ff @(posedge clk_i) mut_waited_q <= req_valid_o && !req_ready_i;
  assign req_valid_o = w_req_valid && 32'(of_cnt_q) >= 32'(w_ahead_q) + 32'(req_len_o) && !(mut_wreq_drop && mut_waited_q);
`else
  assign req_valid_o = w_req_valid && 32'(of_cnt_q) >= 32'(w_ahead_q) + 32'(req_len_o);
`endif
  always_ff @(posedge clk_i) begin
    if (rst_i || start_i) w_ahead_q <= '0;
    else w_ahead_q <= w_ahead_q + ((req_valid_o && req_ready_i) ? 9'(req_len_o) : 9'd0) - 9'(of_pop);
  end

  logic unused;
  assign unused = ^{w_nc_rd_ready, w_nc_bw_valid, w_nc_bw_addr, w_nc_req_we, w_nc_bw_data, w_nc_words};

`ifndef SYNTHESIS
  // protocol checkers (rtl/vr_check.sv, rtl/outstanding_check.sv; docs/rtl.md, "Protocol checkers"): the
  // write-request channel (its valid waits for the words in the FIFO; the write data is
  // mem_loader's, checked there)
  vr_check #(.W(ADDR_W + 8)) u_chk_req (.clk_i, .rst_i, .valid_i(req_valid_o), .ready_i(req_ready_i),
                                        .data_i({req_addr_o, req_len_o}));
`endif

endmodule

`resetall
