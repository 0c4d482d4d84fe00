`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "accel_hw.svh"

// Layer-bench harness: the accelerator and the external memory model (preloaded with hexgen's
// DRAM image through +MEM_INIT=<dram.memh>). cocotb drives the CSR port, starts a layer and waits
// for done/error; it reads the output region back (and writes a chained layer's input) through the
// bulk transfer below, one file per transfer, X and Z preserved as x and z digits so that they are
// caught rather than read as 0.
module accel_tb #(
    // sizes: the hardware description's (hexgen/hw.py; the build passes the chosen preset's)
    parameter int ROWS = `HW_ROWS,
    parameter int COLS = `HW_COLS,
    parameter int WORD_BITS = `HW_WORD_BITS,
    parameter int ACT_WORDS = `HW_ACT_WORDS,
    parameter int WGT_WORDS = `HW_WGT_WORDS,
    parameter int REC_WORDS = `HW_REC_WORDS,
    parameter int WGT_WIDTHS = `HW_WGT_WIDTHS,
    parameter int PIX_W = `HW_PIX_W,
    parameter int ROW_WORDS = `HW_ROW_WORDS,
    parameter int LN_TILES = `HW_LN_TILES,
    // the bench's external memory: 2^ADDR_W words
    parameter int ADDR_W = 18
) (
    input  logic              clk_i,
    input  logic              rst_i,

    input  logic              csr_we_i,
    input  logic [7:0]        csr_addr_i,
    input  logic [31:0]       csr_wdata_i,
    output logic [31:0]       csr_rdata_o,
    output logic              busy_o,
    output logic              done_o,
    output logic              error_o,
    output logic [3:0]        state_o,

    input  logic              mem_load_i,
    input  logic              mem_cfg_load_i,
    input  logic [15:0]       mem_latency_i,
    input  logic [7:0]        mem_stall_i,
    input  logic [31:0]       mem_seed_i,
    // bulk transfers (one file instead of a simulator call per word): at a clock edge with
    // xfer_dump_i, words xfer_first_i .. xfer_last_i of the memory model are written to the file
    // +XFER_FILE= names ($writememh: X and Z stay visible as x and z digits); with xfer_load_i,
    // they are read from it ($readmemh: chained runs write a layer's input, the RTL output of its
    // producer, this way)
    // xfer_cycles_i dumps, for the same words, the cycle (since the start) each was last written
    // through the memory port: where a wrong output word was written (docs/engine.md, diagnosis)
    input  logic              xfer_dump_i,
    input  logic              xfer_cycles_i,
    input  logic              xfer_clear_i,
    input  logic              xfer_load_i,
    input  logic [ADDR_W-1:0] xfer_first_i,
    input  logic [ADDR_W-1:0] xfer_last_i,
    // The watchdog, in the bench's Verilog: cycles since the last write to CTRL (the start); it
    // fires at watchdog_cycles_i (0: never). finished_o = done | error | watchdog is the one signal
    // cocotb waits on during a layer: one value-change callback, no Python timer.
    input  logic [31:0]       watchdog_cycles_i,
    output logic              watchdog_o,
    output logic              finished_o
);

  /* verilator lint_off UNUSEDPARAM */  // the CSR map (tb/engine/csr.py): the watchdog restarts on a CTRL write
`include "accel_csr.svh"
  /* verilator lint_on UNUSEDPARAM */

  // The clock: generated here (HDL_CLOCK, the default for the layer bench: no simulator-to-Python
  // call per edge) or driven by cocotb on clk_i.
  logic clk;
`ifdef HDL_CLOCK
  initial begin
    clk = 1'b0;
    forever #5 clk = ~clk;
  end
  logic unused_clk;
  assign unused_clk = clk_i;
`else
  assign clk = clk_i;
`endif

  logic                 rreq_valid, rreq_ready, wreq_valid, wreq_ready, rd_valid, rd_ready, rd_last, wr_valid, wr_ready;
  logic [ADDR_W-1:0]    rreq_addr, wreq_addr;
  logic [7:0]           rreq_len, wreq_len;
  logic [WORD_BITS-1:0] rd_data, wr_data;

  accel_top #(
      .ROWS(ROWS), .COLS(COLS), .WORD_BITS(WORD_BITS), .ADDR_W(ADDR_W),
      .ACT_WORDS(ACT_WORDS), .WGT_WORDS(WGT_WORDS), .REC_WORDS(REC_WORDS), .WGT_WIDTHS(WGT_WIDTHS), .PIX_W(PIX_W), .ROW_WORDS(ROW_WORDS), .LN_TILES(LN_TILES)
  ) u_accel (
      .clk_i(clk), .rst_i,
      .csr_we_i, .csr_addr_i, .csr_wdata_i, .csr_rdata_o,
      .busy_o, .done_o, .error_o, .state_o,
      .rreq_valid_o(rreq_valid), .rreq_ready_i(rreq_ready), .rreq_addr_o(rreq_addr), .rreq_len_o(rreq_len),
      .rd_valid_i(rd_valid), .rd_ready_o(rd_ready), .rd_data_i(rd_data),
      .wreq_valid_o(wreq_valid), .wreq_ready_i(wreq_ready), .wreq_addr_o(wreq_addr), .wreq_len_o(wreq_len),
      .wr_valid_o(wr_valid), .wr_ready_i(wr_ready), .wr_data_o(wr_data)
  );

  ext_mem_model #(.ADDR_W(ADDR_W), .DATA_W(WORD_BITS), .LATENCY(8), .STALL(0)) u_mem (
      .clk_i(clk), .rst_i,
      .load_i(mem_load_i), .dump_i(1'b0),
      .cfg_load_i(mem_cfg_load_i), .cfg_latency_i(mem_latency_i), .cfg_stall_i(mem_stall_i), .cfg_seed_i(mem_seed_i),
      .rreq_valid_i(rreq_valid), .rreq_ready_o(rreq_ready), .rreq_addr_i(rreq_addr), .rreq_len_i(rreq_len),
      .wreq_valid_i(wreq_valid), .wreq_ready_o(wreq_ready), .wreq_addr_i(wreq_addr), .wreq_len_i(wreq_len),
      .rd_valid_o(rd_valid), .rd_ready_i(rd_ready), .rd_data_o(rd_data), .rd_last_o(rd_last),
      .wr_valid_i(wr_valid), .wr_ready_o(wr_ready), .wr_data_i(wr_data),
      .poke_we_i(1'b0), .poke_addr_i(xfer_first_i), .poke_data_i({WORD_BITS{1'b0}})
  );


  string xfer_file;
  initial begin
    xfer_file = "xfer.hex";
    if ($value$plusargs("XFER_FILE=%s", xfer_file)) begin end
  end
  always @(posedge clk) begin
    if (xfer_dump_i) $writememh(xfer_file, u_mem.mem, xfer_first_i, xfer_last_i);
    if (xfer_cycles_i) $writememh(xfer_file, wr_cycle, xfer_first_i, xfer_last_i);
    if (xfer_load_i) $readmemh(xfer_file, u_mem.mem, xfer_first_i, xfer_last_i);
  end


  logic [31:0] wd_cnt_q;
  always @(posedge clk) begin
    if (rst_i || (csr_we_i && csr_addr_i == CSR_CTRL)) wd_cnt_q <= '0;
    else if (wd_cnt_q != 32'hffffffff) wd_cnt_q <= wd_cnt_q + 32'd1;
  end
  assign watchdog_o = watchdog_cycles_i != 0 && wd_cnt_q >= watchdog_cycles_i;

  // the cycle, counted from the layer's start (the watchdog's counter), at which each word was
  // last written through the memory port; all ones for a word the port did not write since the
  // bench cleared it (xfer_clear_i: words xfer_first_i .. xfer_last_i, before a layer starts; a
  // clear of the output region only, not a loop over the whole memory at time 0 of every run)
  logic [31:0] wr_cycle [1 << ADDR_W];
  always @(posedge clk) begin
    if (xfer_clear_i) begin
      for (int i = int'(xfer_first_i); i <= int'(xfer_last_i); i++) wr_cycle[ADDR_W'(i)] <= '1;
    end else if (u_mem.w_fire) begin
      wr_cycle[u_mem.w_beat_addr] <= wd_cnt_q;
    end
  end

  assign finished_o = done_o || error_o || watchdog_o;

  // The bench's own count of a layer, never the engine's: the cycles from the start (the CTRL
  // write that starts it) to done or error, and the words the memory port moved in that time. The
  // layer bench holds CYCLES, WORDS_READ and WORDS_WRITTEN to these (tb/engine/test_layers.py): a counter
  // stuck at 0 or counting the wrong events cannot pass. A CTRL write during a run does not restart it.
  logic        bench_run_q;
  logic [31:0] bench_cycles_q, bench_rd_words_q, bench_wr_words_q;
  always @(posedge clk) begin
    if (rst_i) begin
      bench_run_q      <= 1'b0;
      bench_cycles_q   <= '0;
      bench_rd_words_q <= '0;
      bench_wr_words_q <= '0;
    end else if (!bench_run_q && csr_we_i && csr_addr_i == CSR_CTRL && csr_wdata_i[0]) begin
      bench_run_q      <= 1'b1;
      bench_cycles_q   <= '0;
      bench_rd_words_q <= '0;
      bench_wr_words_q <= '0;
    end else if (bench_run_q) begin
      if (done_o || error_o) bench_run_q <= 1'b0;
      else bench_cycles_q <= bench_cycles_q + 32'd1;
      if (rd_valid && rd_ready) bench_rd_words_q <= bench_rd_words_q + 32'd1;
      if (wr_valid && wr_ready) bench_wr_words_q <= bench_wr_words_q + 32'd1;
    end
  end

  logic unused;
  assign unused = rd_last;

endmodule

`resetall
