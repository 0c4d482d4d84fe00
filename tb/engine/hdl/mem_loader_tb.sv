`resetall
`timescale 1ns / 1ps
`default_nettype none

// Test harness: mem_loader on the external memory model. cocotb drives the command port, the
// buffer-side ready (backpressure) and the write source stream, and checks every buffer write;
// the memory's latency, stall rate and seed are set through the cfg_* ports per sub-test.
// rd_orphan_i plays a faulty memory: a read word offered that nobody asked for (the loader's
// outstanding checker must stop the simulation; tests/test_rtl_mem_loader.py).
module mem_loader_tb #(
    parameter int ADDR_W = 12,
    parameter int DATA_W = 32,
    parameter int BUF_AW = 12,
    parameter int LEN_W = 16,
    parameter int MAX_BURST = 8,
    parameter int MAX_OUTSTANDING = 3
) (
    input  logic              clk_i,
    input  logic              rst_i,
    input  logic              mem_load_i,
    input  logic              mem_dump_i,
    input  logic              cfg_load_i,
    input  logic [15:0]       cfg_latency_i,
    input  logic [7:0]        cfg_stall_i,
    input  logic [31:0]       cfg_seed_i,
    input  logic              rd_orphan_i,

    input  logic              cmd_valid_i,
    output logic              cmd_ready_o,
    input  logic              cmd_write_i,
    input  logic [ADDR_W-1:0] cmd_ext_addr_i,
    input  logic [BUF_AW-1:0] cmd_buf_addr_i,
    input  logic [LEN_W-1:0]  cmd_len_i,
    output logic              cmd_done_o,
    output logic              busy_o,

    output logic              buf_wr_valid_o,
    input  logic              buf_wr_ready_i,
    output logic [BUF_AW-1:0] buf_wr_addr_o,
    output logic [DATA_W-1:0] buf_wr_data_o,

    input  logic              src_valid_i,
    output logic              src_ready_o,
    input  logic [DATA_W-1:0] src_data_i,

    output logic [31:0]       words_read_o,
    output logic [31:0]       words_written_o,
    output logic              req_fire_o,
    output logic [7:0]        req_len_o
);

  logic              req_valid, req_ready, req_we, rreq_ready, wreq_ready;
  logic [ADDR_W-1:0] req_addr;
  logic [7:0]        req_len;
  logic              rd_valid, rd_ready, rd_last;
  logic [DATA_W-1:0] rd_data, wr_data;
  logic              wr_valid, wr_ready;

  // the loader's one request channel, steered to the model's read or write channel
  assign req_ready = req_we ? wreq_ready : rreq_ready;
  assign req_fire_o = req_valid & req_ready;
  assign req_len_o = req_len;

  mem_loader #(
      .ADDR_W(ADDR_W), .DATA_W(DATA_W), .BUF_AW(BUF_AW), .LEN_W(LEN_W),
      .MAX_BURST(MAX_BURST), .MAX_OUTSTANDING(MAX_OUTSTANDING)
  ) u_loader (
      .clk_i, .rst_i,
      .cmd_valid_i, .cmd_ready_o, .cmd_write_i, .cmd_ext_addr_i, .cmd_buf_addr_i, .cmd_len_i,
      .cmd_done_o, .busy_o,
      .req_valid_o(req_valid), .req_ready_i(req_ready), .req_addr_o(req_addr), .req_len_o(req_len),
      .req_we_o(req_we),
      .rd_valid_i(rd_valid || rd_orphan_i), .rd_ready_o(rd_ready), .rd_data_i(rd_data),
      .wr_valid_o(wr_valid), .wr_ready_i(wr_ready), .wr_data_o(wr_data),
      .buf_wr_valid_o, .buf_wr_ready_i, .buf_wr_addr_o, .buf_wr_data_o,
      .src_valid_i, .src_ready_o, .src_data_i,
      .words_read_o, .words_written_o
  );

  ext_mem_model #(
      .ADDR_W(ADDR_W), .DATA_W(DATA_W), .LATENCY(8), .STALL(0), .SEED(1)
  ) u_mem (
      .clk_i, .rst_i,
      .load_i(mem_load_i), .dump_i(mem_dump_i),
      .cfg_load_i, .cfg_latency_i, .cfg_stall_i, .cfg_seed_i,
      .rreq_valid_i(req_valid && !req_we), .rreq_ready_o(rreq_ready), .rreq_addr_i(req_addr), .rreq_len_i(req_len),
      .wreq_valid_i(req_valid && req_we), .wreq_ready_o(wreq_ready), .wreq_addr_i(req_addr), .wreq_len_i(req_len),
      .rd_valid_o(rd_valid), .rd_ready_i(rd_ready), .rd_data_o(rd_data), .rd_last_o(rd_last),
      .wr_valid_i(wr_valid), .wr_ready_o(wr_ready), .wr_data_i(wr_data),
      .poke_we_i(1'b0), .poke_addr_i({ADDR_W{1'b0}}), .poke_data_i({DATA_W{1'b0}})
  );

  // rd_last is the model's own burst framing; the loader counts words instead.
  logic unused;
  assign unused = rd_last;

endmodule

`resetall
