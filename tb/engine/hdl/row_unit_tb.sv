`resetall
`timescale 1ns / 1ps
`default_nettype none

// Test harness: row_unit on the external memory model (as tb/engine/hdl/vec_unit_tb.sv). cocotb
// programs a block, pulses start and takes the output words (random ready); the memory is preloaded
// from +MEM_INIT= (mem_load_i re-reads it), its latency, stall rate and seed set through cfg_*.
// cycle_o counts the cycles since the last start_i (0: the unit's first cycle after it) and
// reads_o the read words taken since reset, so the bench wakes only for the output words.
module row_unit_tb #(
    parameter int ROWS = 8,
    parameter int ADDR_W = 14,
    parameter int MAX_BURST = 16,
    parameter int ROW_WORDS = 256,
    parameter int LN_TILES = 64,
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
    input  logic                 is_ln_i,
    input  logic                 first_i,
    input  logic [15:0]          len_i,
    input  logic [15:0]          ct_i,
    input  logic [15:0]          rows_i,
    input  logic [31:0]          plane_i,
    input  logic [ADDR_W-1:0]    in_base_i,
    input  logic [ADDR_W-1:0]    tab_base_i,
    input  logic [51:0]          dividend_i,
    input  logic [5:0]           shift_i,
    input  logic [4:0]           sqrt_shift_i,
    input  logic [47:0]          eps_term_i,
    input  logic [7:0]           z_out_i,
    input  logic [7:0]           lo_i,
    input  logic [7:0]           hi_i,

    output logic                 out_valid_o,
    input  logic                 out_ready_i,
    output logic [WORD_BITS-1:0] out_data_o,
    output logic                 busy_o,
    output logic                 done_o,
    output logic [31:0]          words_read_o,
    output logic [31:0]          cycle_o,       // cycles since start_i (0: the first after it)
    output logic [31:0]          reads_o,       // read words taken since reset, as the port saw them
    output logic                 idle_gap_o     // busy_o was low in a cycle of the block (start_i to done_o)
);

  logic                 req_valid, req_ready, rd_valid, rd_ready, rd_last, wr_ready, wreq_ready;
  logic [ADDR_W-1:0]    req_addr;
  logic [7:0]           req_len;
  logic [WORD_BITS-1:0] rd_data;

  row_unit #(.ROWS(ROWS), .ADDR_W(ADDR_W), .MAX_BURST(MAX_BURST), .ROW_WORDS(ROW_WORDS), .LN_TILES(LN_TILES)) u_row (
      .clk_i, .rst_i, .start_i, .is_ln_i, .first_i, .len_i, .ct_i, .rows_i, .plane_i, .in_base_i, .tab_base_i,
      .dividend_i, .shift_i, .sqrt_shift_i, .eps_term_i, .z_out_i, .lo_i, .hi_i,
      .req_valid_o(req_valid), .req_ready_i(req_ready), .req_addr_o(req_addr), .req_len_o(req_len),
      .rd_valid_i(rd_valid), .rd_ready_o(rd_ready), .rd_data_i(rd_data),
      .out_valid_o, .out_ready_i, .out_data_o, .busy_o, .done_o, .words_read_o
  );

  // a block runs from the cycle after start_i through the one with done_o: busy_o must be high until
  // the last output word is taken (done_o's cycle: idle again)
  logic in_block_q;
  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      cycle_o <= '0;
      reads_o <= '0;
      in_block_q <= 1'b0;
      idle_gap_o <= 1'b0;
    end else begin
      cycle_o <= start_i ? '0 : cycle_o + 32'd1;
      if (rd_valid && rd_ready) reads_o <= reads_o + 32'd1;
      if (start_i) begin
        in_block_q <= 1'b1;
        idle_gap_o <= 1'b0;
      end else if (done_o) begin
        in_block_q <= 1'b0;
      end else if (in_block_q && !busy_o) begin
        idle_gap_o <= 1'b1;
      end
    end
  end

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

  // nothing is written
  logic unused;
  assign unused = rd_last ^ wr_ready ^ wreq_ready;

endmodule

`resetall
