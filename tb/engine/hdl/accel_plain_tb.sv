`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "accel_hw.svh"

// Plain-Verilog harness (no cocotb, no Python): the layer bench's work with a Verilog clock, for
// the cocotb-overhead benchmark (make bench-sim). It programs the CSRs listed in +CSR_FILE (one
// hex line per register: {addr[7:0], value[31:0]}), starts the layer +REPEAT times, waits for
// done each time and prints the cycles. +MEM_INIT loads the memory image as in the cocotb bench.
module accel_plain_tb #(
    // sizes: the hardware description's (hexgen/hw.py; make bench-sim HW= passes a preset's)
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
    parameter int ADDR_W = 18
);

  logic        clk;
  logic        rst;
  logic        csr_we;
  logic [7:0]  csr_addr;
  logic [31:0] csr_wdata;
  logic [31:0] csr_rdata;
  logic        busy, done, error, watchdog, finished;
  logic [3:0]  state;

  accel_tb #(
      .ROWS(ROWS), .COLS(COLS), .WORD_BITS(WORD_BITS), .ACT_WORDS(ACT_WORDS), .WGT_WORDS(WGT_WORDS),
      .REC_WORDS(REC_WORDS), .WGT_WIDTHS(WGT_WIDTHS), .PIX_W(PIX_W), .ROW_WORDS(ROW_WORDS), .LN_TILES(LN_TILES), .ADDR_W(ADDR_W)
  ) u_tb (
      .clk_i(clk), .rst_i(rst),
      .csr_we_i(csr_we), .csr_addr_i(csr_addr), .csr_wdata_i(csr_wdata), .csr_rdata_o(csr_rdata),
      .busy_o(busy), .done_o(done), .error_o(error), .state_o(state),
      .mem_load_i(1'b0), .mem_cfg_load_i(1'b0), .mem_latency_i(16'd8), .mem_stall_i(8'd0), .mem_seed_i(32'd1),
      .xfer_dump_i(1'b0), .xfer_cycles_i(1'b0), .xfer_clear_i(1'b0), .xfer_load_i(1'b0), .xfer_first_i({ADDR_W{1'b0}}),
      .xfer_last_i({ADDR_W{1'b0}}),
      .watchdog_cycles_i(32'd0), .watchdog_o(watchdog), .finished_o(finished)
  );

  /* verilator lint_off UNUSEDPARAM */  // the CSR map (tb/engine/csr.py): this harness writes CTRL and reads CYCLES
`include "accel_csr.svh"
  /* verilator lint_on UNUSEDPARAM */

  initial begin
    clk = 1'b0;
    forever #5 clk = ~clk;
  end

  logic [39:0] csrs [64];
  string       csr_file;
  int          ncsr, repeats, i, r;

  initial begin
    rst = 1'b1;
    csr_we = 1'b0;
    csr_addr = '0;
    csr_wdata = '0;
    repeats = 1;
    ncsr = 0;
    if (!$value$plusargs("CSR_FILE=%s", csr_file)) begin
      $display("accel_plain_tb: +CSR_FILE=<file> is required");
      $finish;
    end
    if ($value$plusargs("REPEAT=%d", repeats)) begin end
    if ($value$plusargs("NCSR=%d", ncsr)) begin end
    $readmemh(csr_file, csrs);
    repeat (3) @(posedge clk);
    rst = 1'b0;
    for (r = 0; r < repeats; r++) begin
      for (i = 0; i < ncsr; i++) begin
        @(negedge clk);
        csr_we = 1'b1;
        csr_addr = csrs[i][39:32];
        csr_wdata = csrs[i][31:0];
      end
      @(negedge clk);
      csr_addr = CSR_CTRL;
      csr_wdata = 32'd1;
      @(negedge clk);
      csr_we = 1'b0;
      @(posedge done or posedge error);
      @(negedge clk);
      csr_addr = CSR_CYCLES;
      #1 $display("accel_plain_tb: run %0d done=%0d error=%0d cycles=%0d", r, done, error, csr_rdata);
    end
    $finish;
  end

  logic unused;
  assign unused = ^{busy, state, watchdog, finished};

endmodule

`resetall
