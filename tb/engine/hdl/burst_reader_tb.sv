`resetall
`timescale 1ns / 1ps
`default_nettype none

// Test harness: burst_reader on the external memory model. cocotb drives the command port (commands
// back to back) and monitors the buffer write stream, the done pulses and the requests; the memory
// is preloaded from +MEM_INIT= (mem_load_i re-reads it) and its latency, stall rate and seed are set
// through the cfg_* ports. MEM_FIFO_DEPTH (the memory's request queue) defaults to more than DEPTH
// so that the reader's own lookahead limit is the one reached.
module burst_reader_tb #(
    parameter int ADDR_W = 12,
    parameter int DATA_W = 32,
    parameter int MAX_BURST = 16,
    parameter int DEPTH = 8,
    parameter int TAG_W = 2,
    parameter int MEM_FIFO_DEPTH = 16
) (
    input  logic              clk_i,
    input  logic              rst_i,
    input  logic              mem_load_i,
    input  logic              cfg_load_i,
    input  logic [15:0]       cfg_latency_i,
    input  logic [7:0]        cfg_stall_i,
    input  logic [31:0]       cfg_seed_i,

    input  logic              cmd_valid_i,
    output logic              cmd_ready_o,
    input  logic [TAG_W-1:0]  cmd_tag_i,
    input  logic [ADDR_W-1:0] cmd_ext_addr_i,
    input  logic [ADDR_W-1:0] cmd_ext_stride_i,
    input  logic [15:0]       cmd_buf_addr_i,
    input  logic [15:0]       cmd_buf_stride_i,
    input  logic [15:0]       cmd_row_len_i,
    input  logic [15:0]       cmd_rows_i,

    output logic              buf_valid_o,
    output logic [TAG_W-1:0]  buf_tag_o,
    output logic [15:0]       buf_addr_o,
    output logic [DATA_W-1:0] buf_data_o,
    output logic              done_o,
    output logic [TAG_W-1:0]  done_tag_o,
    output logic [31:0]       words_read_o,

    // the request channel and rd_ready, for the bench's checks
    output logic              req_fire_o,
    output logic [ADDR_W-1:0] req_addr_o,
    output logic [7:0]        req_len_o,
    output logic              rd_ready_o
);

  logic              req_valid, req_ready;
  logic              rd_valid, rd_last;
  logic [DATA_W-1:0] rd_data, wr_data;
  logic              wr_ready, wreq_ready;

  assign wr_data = '0;

  assign req_fire_o = req_valid & req_ready;

  burst_reader #(
      .ADDR_W(ADDR_W), .DATA_W(DATA_W), .MAX_BURST(MAX_BURST), .DEPTH(DEPTH), .TAG_W(TAG_W)
  ) u_reader (
      .clk_i, .rst_i,
      .cmd_valid_i, .cmd_ready_o, .cmd_tag_i, .cmd_ext_addr_i, .cmd_ext_stride_i,
      .cmd_buf_addr_i, .cmd_buf_stride_i, .cmd_row_len_i, .cmd_rows_i,
      .req_valid_o(req_valid), .req_ready_i(req_ready), .req_addr_o, .req_len_o,
      .rd_valid_i(rd_valid), .rd_ready_o, .rd_data_i(rd_data),
      .buf_valid_o, .buf_tag_o, .buf_addr_o, .buf_data_o, .done_o, .done_tag_o, .words_read_o
  );

  ext_mem_model #(
      .ADDR_W(ADDR_W), .DATA_W(DATA_W), .LATENCY(8), .STALL(0), .SEED(1), .FIFO_DEPTH(MEM_FIFO_DEPTH)
  ) u_mem (
      .clk_i, .rst_i,
      .load_i(mem_load_i), .dump_i(1'b0),
      .cfg_load_i, .cfg_latency_i, .cfg_stall_i, .cfg_seed_i,
      .rreq_valid_i(req_valid), .rreq_ready_o(req_ready), .rreq_addr_i(req_addr_o), .rreq_len_i(req_len_o),
      .wreq_valid_i(1'b0), .wreq_ready_o(wreq_ready), .wreq_addr_i({ADDR_W{1'b0}}), .wreq_len_i(8'd0),
      .rd_valid_o(rd_valid), .rd_ready_i(rd_ready_o), .rd_data_o(rd_data), .rd_last_o(rd_last),
      .wr_valid_i(1'b0), .wr_ready_o(wr_ready), .wr_data_i(wr_data),
      .poke_we_i(1'b0), .poke_addr_i({ADDR_W{1'b0}}), .poke_data_i({DATA_W{1'b0}})
  );

  // rd_last is the model's own burst framing (the reader counts words); nothing is written.
  logic unused;
  assign unused = rd_last ^ wr_ready ^ wreq_ready;

endmodule

`resetall
