`resetall
`timescale 1ns / 1ps
`default_nettype none

// Memory loader: moves LEN words between the external memory port and the on-chip buffers.
//
// Command (cmd_valid_i/cmd_ready_o, one at a time; cmd_ready_o = idle):
//   cmd_write_i = 0  read:  ext[ext_addr + i] -> buffer write stream (buf_addr + i, data), i = 0..len-1
//   cmd_write_i = 1  write: source stream word i -> ext[ext_addr + i]
// The command is split into bursts of at most MAX_BURST words (req_addr_o, req_len_o, req_we_o on a
// valid/ready request channel). Up to MAX_OUTSTANDING bursts are requested ahead of the data, so
// the memory latency is hidden; nothing depends on the latency, on when any ready rises, or on
// gaps in any valid: read data goes from rd_* to buf_wr_* in order (a combinational valid/ready
// pass-through: the buffer's backpressure reaches the memory), write data from src_* to wr_*.
// Write data beats are only offered for bursts already requested. cmd_done_o pulses for one cycle
// after the last word of the command has been handed over. Counters words_read_o and
// words_written_o count every word moved since reset (performance counters).
module mem_loader #(
    parameter int ADDR_W = 16,
    parameter int DATA_W = 32,
    parameter int BUF_AW = 10,
    parameter int LEN_W = 16,
    parameter int MAX_BURST = 16,
    parameter int MAX_OUTSTANDING = 4
) (
    input  logic              clk_i,
    input  logic              rst_i,

    input  logic              cmd_valid_i,
    output logic              cmd_ready_o,
    input  logic              cmd_write_i,
    input  logic [ADDR_W-1:0] cmd_ext_addr_i,
    input  logic [BUF_AW-1:0] cmd_buf_addr_i,
    input  logic [LEN_W-1:0]  cmd_len_i,
    output logic              cmd_done_o,
    output logic              busy_o,

    // external memory port (master)
    output logic              req_valid_o,
    input  logic              req_ready_i,
    output logic [ADDR_W-1:0] req_addr_o,
    output logic [7:0]        req_len_o,
    output logic              req_we_o,
    input  logic              rd_valid_i,
    output logic              rd_ready_o,
    input  logic [DATA_W-1:0] rd_data_i,
    output logic              wr_valid_o,
    input  logic              wr_ready_i,
    output logic [DATA_W-1:0] wr_data_o,

    // on-chip buffer fill (read commands)
    output logic              buf_wr_valid_o,
    input  logic              buf_wr_ready_i,
    output logic [BUF_AW-1:0] buf_wr_addr_o,
    output logic [DATA_W-1:0] buf_wr_data_o,

    // source stream (write commands)
    input  logic              src_valid_i,
    output logic              src_ready_o,
    input  logic [DATA_W-1:0] src_data_i,

    output logic [31:0]       words_read_o,
    output logic [31:0]       words_written_o
);

  initial begin
    if (MAX_BURST < 1 || MAX_BURST > 255 || MAX_OUTSTANDING < 1 || LEN_W < 1 || LEN_W > 32) begin
      $error("%m: MAX_BURST = %0d must be in 1..255, MAX_OUTSTANDING = %0d >= 1, LEN_W = %0d in 1..32",
             MAX_BURST, MAX_OUTSTANDING, LEN_W);
      $finish;
    end
  end

  // ahead_q <= WINDOW; ahead_q + burst < 2 * (WINDOW + 1) <= 2^OW
  localparam int OW = $clog2(MAX_BURST * MAX_OUTSTANDING + 1) + 1;
  localparam logic [OW-1:0] WINDOW = OW'(MAX_BURST * MAX_OUTSTANDING);

  logic              busy_q, write_q;
  logic [ADDR_W-1:0] req_addr_q;
  logic [BUF_AW-1:0] buf_addr_q;
  logic [LEN_W-1:0]  req_left_q;    // words not yet requested
  logic [LEN_W-1:0]  data_left_q;   // words not yet moved
  logic [OW-1:0]     ahead_q;       // words requested but not yet moved
  logic              done_q;
  logic [31:0]       nrd_q, nwr_q;

  /* verilator lint_off UNUSEDSIGNAL */  // <= 255: the high bits are always 0
  logic [31:0]      burst;             // words of the next burst: min(req_left_q, MAX_BURST)
  /* verilator lint_on UNUSEDSIGNAL */
  logic             req_fire, data_fire, start;

  // In 32 bits: LEN_W'(MAX_BURST) would truncate when MAX_BURST >= 2^LEN_W.
  /* verilator lint_off CMPCONST */  // constant when a LEN_W-bit count cannot exceed MAX_BURST
  assign burst = (32'(req_left_q) > MAX_BURST) ? 32'(MAX_BURST) : 32'(req_left_q);
  /* verilator lint_on CMPCONST */
  assign req_valid_o = busy_q && (req_left_q != '0) && (ahead_q + OW'(burst) <= WINDOW);
  assign req_addr_o = req_addr_q;
  assign req_len_o = burst[7:0];
  assign req_we_o = write_q;
  assign req_fire = req_valid_o && req_ready_i;

  // read data -> buffer
  assign buf_wr_valid_o = busy_q && !write_q && rd_valid_i;
  assign rd_ready_o = busy_q && !write_q && buf_wr_ready_i;
  assign buf_wr_addr_o = buf_addr_q;
  assign buf_wr_data_o = rd_data_i;

  // source -> write data, only for requested words
  logic wr_ok;
  assign wr_ok = busy_q && write_q && (ahead_q != '0);
  assign wr_valid_o = wr_ok && src_valid_i;
  assign src_ready_o = wr_ok && wr_ready_i;
  assign wr_data_o = src_data_i;

  assign data_fire = write_q ? (wr_valid_o && wr_ready_i) : (buf_wr_valid_o && buf_wr_ready_i);

  assign cmd_ready_o = !busy_q;
  assign start = cmd_valid_i && cmd_ready_o && (cmd_len_i != '0);
  assign cmd_done_o = done_q;
  assign busy_o = busy_q;
  assign words_read_o = nrd_q;
  assign words_written_o = nwr_q;

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      busy_q      <= 1'b0;
      write_q     <= 1'b0;
      req_addr_q  <= '0;
      buf_addr_q  <= '0;
      req_left_q  <= '0;
      data_left_q <= '0;
      ahead_q     <= '0;
      done_q      <= 1'b0;
      nrd_q       <= '0;
      nwr_q       <= '0;
    end else begin
      done_q <= 1'b0;
      if (start) begin
        busy_q      <= 1'b1;
        write_q     <= cmd_write_i;
        req_addr_q  <= cmd_ext_addr_i;
        buf_addr_q  <= cmd_buf_addr_i;
        req_left_q  <= cmd_len_i;
        data_left_q <= cmd_len_i;
        ahead_q     <= '0;
      end else if (cmd_valid_i && cmd_ready_o) begin
        done_q <= 1'b1;  // zero-length command: done at once
      end else if (busy_q) begin
        if (req_fire) begin
          req_addr_q <= req_addr_q + ADDR_W'(burst);
          req_left_q <= req_left_q - LEN_W'(burst);
        end
        ahead_q <= ahead_q + (req_fire ? OW'(burst) : '0) - OW'(data_fire);
        if (data_fire) begin
          buf_addr_q  <= buf_addr_q + 1'b1;
          data_left_q <= data_left_q - 1'b1;
          if (write_q) nwr_q <= nwr_q + 32'd1;
          else nrd_q <= nrd_q + 32'd1;
          if (data_left_q == LEN_W'(1)) begin
            busy_q <= 1'b0;
            done_q <= 1'b1;
          end
        end
      end
    end
  end

`ifndef SYNTHESIS
  // protocol checkers (rtl/vr_check.sv, rtl/outstanding_check.sv; docs/rtl.md, "Protocol checkers"): the
  // request, write-data and buffer-write channels; data only for requested words, at most
  // MAX_OUTSTANDING bursts of MAX_BURST words ahead
  vr_check #(.W(ADDR_W + 9)) u_chk_req (.clk_i, .rst_i, .valid_i(req_valid_o), .ready_i(req_ready_i),
                                        .data_i({req_addr_o, req_len_o, req_we_o}));
  vr_check #(.W(DATA_W)) u_chk_wr (.clk_i, .rst_i, .valid_i(wr_valid_o), .ready_i(wr_ready_i), .data_i(wr_data_o));
  vr_check #(.W(BUF_AW + DATA_W)) u_chk_buf_wr (.clk_i, .rst_i, .valid_i(buf_wr_valid_o), .ready_i(buf_wr_ready_i),
                                                .data_i({buf_wr_addr_o, buf_wr_data_o}));
  outstanding_check #(.LIMIT(MAX_BURST * MAX_OUTSTANDING)) u_chk_outstanding (
      .clk_i, .rst_i, .req_fire_i(req_fire), .req_len_i(req_len_o), .data_valid_i(rd_valid_i || wr_valid_o),
      .data_fire_i((rd_valid_i && rd_ready_o) || (wr_valid_o && wr_ready_i)));
`endif

endmodule

`resetall
