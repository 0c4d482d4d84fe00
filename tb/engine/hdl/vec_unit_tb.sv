`resetall
`timescale 1ns / 1ps
`default_nettype none

// Test harness: vec_unit on the external memory model. cocotb programs the layer, pulses start and
// takes the output words (random ready); the memory is preloaded from +MEM_INIT= (mem_load_i
// re-reads it) and its latency, stall rate and seed are set through the cfg_* ports.
module vec_unit_tb #(
    parameter int ROWS = 8,
    parameter int ADDR_W = 14,
    parameter int MAX_BURST = 16,
    localparam int WORD_BITS = ROWS * 8
) (
    input  logic                 clk_i,
    input  logic                 rst_i,
    input  logic                 mem_load_i,
    input  logic                 cfg_load_i,
    input  logic [15:0]          cfg_latency_i,
    input  logic [7:0]           cfg_stall_i,
    input  logic [31:0]          cfg_seed_i,

    input  logic                 start_i,
    input  logic [15:0]          kind_i,
    input  logic [15:0]          ct_i,
    input  logic [15:0]          kt_i,
    input  logic [15:0]          in_c_i,
    input  logic [15:0]          out_c_i,
    input  logic [15:0]          in_h_i,
    input  logic [15:0]          in_w_i,
    input  logic [15:0]          out_h_i,
    input  logic [15:0]          out_w_i,
    input  logic [15:0]          kh_i,
    input  logic [15:0]          kw_i,
    input  logic [15:0]          sy_i,
    input  logic [15:0]          sx_i,
    input  logic [15:0]          pad_top_i,
    input  logic [15:0]          pad_left_i,
    input  logic [ADDR_W-1:0]    in_base_i,
    input  logic [ADDR_W-1:0]    in2_base_i,
    input  logic [7:0]           z_a_i,
    input  logic [7:0]           z_b_i,
    input  logic [30:0]          a0_i,
    input  logic [30:0]          b0_i,
    input  logic [5:0]           n_i,
    input  logic [7:0]           z_out_i,
    input  logic [7:0]           lo_i,
    input  logic [7:0]           hi_i,

    output logic                 out_valid_o,
    input  logic                 out_ready_i,
    output logic [WORD_BITS-1:0] out_data_o,
    output logic                 busy_o,
    output logic                 done_o,
    output logic                 rd_fire_o,     // a read word taken this cycle (the bench counts them)
    output logic [31:0]          words_read_o
);

  logic                 req_valid, req_ready, rd_valid, rd_ready, rd_last, wr_ready, wreq_ready;
  logic [ADDR_W-1:0]    req_addr;
  logic [7:0]           req_len;
  logic [WORD_BITS-1:0] rd_data;

  vec_unit #(.ROWS(ROWS), .ADDR_W(ADDR_W), .MAX_BURST(MAX_BURST)) u_vec (
      .clk_i, .rst_i, .start_i, .kind_i, .ct_i, .kt_i, .in_c_i, .out_c_i, .in_h_i, .in_w_i, .out_h_i, .out_w_i, .kh_i, .kw_i, .sy_i, .sx_i,
      .pad_top_i, .pad_left_i, .in_base_i, .in2_base_i, .z_a_i, .z_b_i, .a0_i, .b0_i, .n_i, .z_out_i, .lo_i, .hi_i,
      .req_valid_o(req_valid), .req_ready_i(req_ready), .req_addr_o(req_addr), .req_len_o(req_len),
      .rd_valid_i(rd_valid), .rd_ready_o(rd_ready), .rd_data_i(rd_data),
      .out_valid_o, .out_ready_i, .out_data_o, .busy_o, .done_o, .words_read_o
  );
  assign rd_fire_o = rd_valid && rd_ready;

  ext_mem_model #(.ADDR_W(ADDR_W), .DATA_W(WORD_BITS), .LATENCY(8), .STALL(0), .SEED(1)) u_mem (
      .clk_i, .rst_i,
      .load_i(mem_load_i), .dump_i(1'b0),
      .cfg_load_i, .cfg_latency_i, .cfg_stall_i, .cfg_seed_i,
      .rreq_valid_i(req_valid), .rreq_ready_o(req_ready), .rreq_addr_i(req_addr), .rreq_len_i(req_len),
      .wreq_valid_i(1'b0), .wreq_ready_o(wreq_ready), .wreq_addr_i({ADDR_W{1'b0}}), .wreq_len_i(8'd0),
      .rd_valid_o(rd_valid), .rd_ready_i(rd_ready), .rd_data_o(rd_data), .rd_last_o(rd_last),
      .wr_valid_i(1'b0), .wr_ready_o(wr_ready), .wr_data_i({WORD_BITS{1'b0}}),
      .poke_we_i(1'b0), .poke_addr_i({ADDR_W{1'b0}}), .poke_data_i({WORD_BITS{1'b0}})
  );

  // nothing is written; the unit counts its words itself
  logic unused;
  assign unused = rd_last ^ wr_ready ^ wreq_ready;

endmodule

`resetall
