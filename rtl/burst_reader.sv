`resetall
`timescale 1ns / 1ps
`default_nettype none

// Burst reader: the engine's read path. Takes 2D read commands back to back and keeps the memory's
// request queue full across command boundaries (mem_loader, which moves one command at a time,
// would leave the port idle for a memory latency between commands).
//
// Command (cmd_valid_i/cmd_ready_o): ROWS_N rows of ROW_LEN words; row r is read from
//   ext_addr + r * ext_stride into buffer addresses buf_addr + r * buf_stride ..., tagged cmd_tag_i
//   (the engine's buffer select). cmd_ready_o rises as soon as every burst of the previous command
//   has been requested; its data may still be in flight. ROW_LEN and ROWS_N must be >= 1.
// Each row is split into bursts of at most MAX_BURST words. Up to DEPTH bursts are in flight; their
// descriptors (tag, buffer address, length, last of its command) wait in a FIFO and steer the read
// data, which the memory returns in request order. rd_ready_o is always 1: the buffers take a word
// every cycle.
// done_o pulses (with done_tag_o) in the cycle the last word of a command is written to its buffer.
module burst_reader #(
    parameter int ADDR_W = 16,
    parameter int DATA_W = 32,
    parameter int MAX_BURST = 16,
    parameter int DEPTH = 8,
    parameter int TAG_W = 2,
    parameter int BUF_AW = 16  // buffer address width
) (
    input  logic              clk_i,
    input  logic              rst_i,

    input  logic              cmd_valid_i,
    output logic              cmd_ready_o,
    input  logic [TAG_W-1:0]  cmd_tag_i,
    input  logic [ADDR_W-1:0] cmd_ext_addr_i,
    input  logic [ADDR_W-1:0] cmd_ext_stride_i,
    input  logic [BUF_AW-1:0] cmd_buf_addr_i,
    input  logic [BUF_AW-1:0] cmd_buf_stride_i,
    input  logic [15:0]       cmd_row_len_i,
    input  logic [15:0]       cmd_rows_i,

    output logic              req_valid_o,
    input  logic              req_ready_i,
    output logic [ADDR_W-1:0] req_addr_o,
    output logic [7:0]        req_len_o,
    input  logic              rd_valid_i,
    output logic              rd_ready_o,
    input  logic [DATA_W-1:0] rd_data_i,

    output logic              buf_valid_o,
    output logic [TAG_W-1:0]  buf_tag_o,
    output logic [BUF_AW-1:0] buf_addr_o,
    output logic [DATA_W-1:0] buf_data_o,
    output logic              done_o,
    output logic [TAG_W-1:0]  done_tag_o,
    output logic [31:0]       words_read_o
);

  localparam int DW = $clog2(DEPTH);

  initial begin
    if (MAX_BURST < 1 || MAX_BURST > 255 || DEPTH < 2 || (1 << DW) != DEPTH) begin
      $error("%m: MAX_BURST = %0d must be in 1..255, DEPTH = %0d a power of two >= 2", MAX_BURST, DEPTH);
      $finish;
    end
    if (BUF_AW < 1 || BUF_AW > 31) begin
      $error("%m: BUF_AW = %0d must be in 1..31", BUF_AW);
      $finish;
    end
  end

  // ---------------------------------------------------------------- request side
  logic              active_q;
  logic [TAG_W-1:0]  tag_q;
  logic [ADDR_W-1:0] row_ext_q, ext_q, ext_stride_q;
  logic [BUF_AW-1:0] row_buf_q, buf_q, buf_stride_q;
  logic [15:0]       row_len_q, left_q, rows_q;
  logic [15:0]       burst;
  logic              req_fire, last_in_row, last_of_cmd;
  logic [DW:0]       inflight_q;   // descriptors in the FIFO
  logic              pop;

  assign burst = (left_q > 16'(MAX_BURST)) ? 16'(MAX_BURST) : left_q;
  assign req_valid_o = active_q && 32'(inflight_q) < DEPTH;
  assign req_addr_o = ext_q;
  assign req_len_o = burst[7:0];
  assign req_fire = req_valid_o && req_ready_i;
  assign last_in_row = burst == left_q;
  assign last_of_cmd = last_in_row && rows_q == 16'd1;
  assign cmd_ready_o = !active_q;

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      active_q <= 1'b0;
    end else if (cmd_valid_i && cmd_ready_o) begin
      active_q     <= 1'b1;
      tag_q        <= cmd_tag_i;
      row_ext_q    <= cmd_ext_addr_i;
      ext_q        <= cmd_ext_addr_i;
      ext_stride_q <= cmd_ext_stride_i;
      row_buf_q    <= cmd_buf_addr_i;
      buf_q        <= cmd_buf_addr_i;
      buf_stride_q <= cmd_buf_stride_i;
      row_len_q    <= cmd_row_len_i;
      left_q       <= cmd_row_len_i;
      rows_q       <= cmd_rows_i;
    end else if (req_fire) begin
      if (!last_in_row) begin
        ext_q  <= ext_q + ADDR_W'(burst);
        buf_q  <= buf_q + BUF_AW'(burst);
        left_q <= left_q - burst;
      end else if (!last_of_cmd) begin
        row_ext_q <= row_ext_q + ext_stride_q;
        ext_q     <= row_ext_q + ext_stride_q;
        row_buf_q <= row_buf_q + buf_stride_q;
        buf_q     <= row_buf_q + buf_stride_q;
        left_q    <= row_len_q;
        rows_q    <= rows_q - 16'd1;
      end else begin
        active_q <= 1'b0;
      end
    end
  end

  // ---------------------------------------------------------------- descriptor FIFO
  logic [TAG_W-1:0] d_tag [DEPTH];
  logic [BUF_AW-1:0] d_buf [DEPTH];
  logic [7:0]       d_len [DEPTH];
  logic             d_last [DEPTH];
  logic [DW-1:0]    d_wr_q, d_rd_q;

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      d_wr_q     <= '0;
      d_rd_q     <= '0;
      inflight_q <= '0;
    end else begin
      if (req_fire) begin
        d_tag[d_wr_q]  <= tag_q;
        d_buf[d_wr_q]  <= buf_q;
        d_len[d_wr_q]  <= burst[7:0];
        d_last[d_wr_q] <= last_of_cmd;
        d_wr_q <= d_wr_q + 1'b1;
      end
      if (pop) d_rd_q <= d_rd_q + 1'b1;
      inflight_q <= inflight_q + (DW + 1)'(req_fire) - (DW + 1)'(pop);
    end
  end

  // ---------------------------------------------------------------- data side
  logic [7:0]  idx_q;
  logic [31:0] nrd_q;
  logic        beat_last;

  assign rd_ready_o = 1'b1;
  assign beat_last = idx_q + 8'd1 == d_len[d_rd_q];
  assign pop = rd_valid_i && beat_last;
  assign buf_valid_o = rd_valid_i;
  assign buf_tag_o = d_tag[d_rd_q];
  assign buf_addr_o = d_buf[d_rd_q] + BUF_AW'(idx_q);
  assign buf_data_o = rd_data_i;
  assign done_o = pop && d_last[d_rd_q];
  assign done_tag_o = d_tag[d_rd_q];
  assign words_read_o = nrd_q;

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      idx_q <= '0;
      nrd_q <= '0;
    end else if (rd_valid_i) begin
      idx_q <= beat_last ? 8'd0 : idx_q + 8'd1;
      nrd_q <= nrd_q + 32'd1;
    end
  end

`ifndef SYNTHESIS
  // protocol checkers (rtl/vr_check.sv, rtl/outstanding_check.sv; docs/rtl.md, "Protocol checkers"): the
  // request channel; read data only for requested words, at most DEPTH bursts of MAX_BURST words
  vr_check #(.W(ADDR_W + 8)) u_chk_req (.clk_i, .rst_i, .valid_i(req_valid_o), .ready_i(req_ready_i),
                                        .data_i({req_addr_o, req_len_o}));
  outstanding_check #(.LIMIT(DEPTH * MAX_BURST)) u_chk_outstanding (
      .clk_i, .rst_i, .req_fire_i(req_fire), .req_len_i(req_len_o), .data_valid_i(rd_valid_i),
      .data_fire_i(rd_valid_i && rd_ready_o));
`endif

endmodule

`resetall
