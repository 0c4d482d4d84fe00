`resetall
`timescale 1ns / 1ps
`default_nettype none

// External memory model for the testbenches (not synthesisable: $readmemh/$writememh, plusargs).
//
// Port (slave side of the accelerator's external memory port, docs/rtl.md): two independent
// channels, as AXI has, so a read burst and a write burst move a word each in the same cycle.
//   read request   rreq_valid_i/rreq_ready_o, rreq_addr_i (word address), rreq_len_i (1..255 words)
//   read data      rd_valid_o/rd_ready_i, rd_data_o, rd_last_o   (in read-request order)
//   write request  wreq_valid_i/wreq_ready_o, wreq_addr_i, wreq_len_i
//   write data     wr_valid_i/wr_ready_o, wr_data_i               (in write-request order)
// Each channel queues up to FIFO_DEPTH requests and serves its bursts in order; the channels are
// not ordered against each other (a read does not wait for a write queued before it: the engine
// never reads a region it is writing in the same layer). A read burst starts LATENCY cycles after
// its request was accepted at the earliest; every handshake can stall at random: the request
// readies, the start of each rd_valid_o beat (once raised, rd_valid_o holds until accepted) and
// wr_ready_o are low when their own seeded xorshift32 byte is below STALL (STALL / 256 of the
// cycles). Addresses wrap modulo 2^ADDR_W.
//
// Configuration: parameters LATENCY, STALL, SEED, INIT_FILE; plusargs +MEM_LATENCY=, +MEM_STALL=,
// +MEM_SEED=, +MEM_INIT=<hex file>, +MEM_DUMP=<hex file> override them at time 0; cfg_load_i loads
// cfg_latency_i/cfg_stall_i/cfg_seed_i at run time. load_i re-reads the init file, dump_i writes
// the whole memory to the dump file.
module ext_mem_model #(
    parameter int ADDR_W = 16,
    parameter int DATA_W = 32,
    parameter int LATENCY = 8,
    parameter int STALL = 0,
    parameter int SEED = 1,
    parameter int FIFO_DEPTH = 4,
    parameter INIT_FILE = ""
) (
    input  logic              clk_i,
    input  logic              rst_i,

    input  logic              load_i,
    input  logic              dump_i,
    input  logic              cfg_load_i,
    input  logic [15:0]       cfg_latency_i,
    input  logic [7:0]        cfg_stall_i,
    input  logic [31:0]       cfg_seed_i,

    input  logic              rreq_valid_i,
    output logic              rreq_ready_o,
    input  logic [ADDR_W-1:0] rreq_addr_i,
    input  logic [7:0]        rreq_len_i,

    input  logic              wreq_valid_i,
    output logic              wreq_ready_o,
    input  logic [ADDR_W-1:0] wreq_addr_i,
    input  logic [7:0]        wreq_len_i,

    output logic              rd_valid_o,
    input  logic              rd_ready_i,
    output logic [DATA_W-1:0] rd_data_o,
    output logic              rd_last_o,

    input  logic              wr_valid_i,
    output logic              wr_ready_o,
    input  logic [DATA_W-1:0] wr_data_i,

    // backdoor write at the next clock edge (a bench writing a layer's input), outside the port's
    // order; a port write in the same cycle wins
    input  logic              poke_we_i,
    input  logic [ADDR_W-1:0] poke_addr_i,
    input  logic [DATA_W-1:0] poke_data_i
);

  localparam int DEPTH = 1 << ADDR_W;
  localparam int FW = $clog2(FIFO_DEPTH);

  logic [DATA_W-1:0] mem [DEPTH];
  string init_file, dump_file;
  /* verilator lint_off UNUSEDSIGNAL */  // 32-bit plusarg targets, only the low bits are used
  logic [31:0] lat_init, stall_init, seed_init;
  /* verilator lint_on UNUSEDSIGNAL */

  initial begin
    init_file = INIT_FILE;
    dump_file = "ext_mem_dump.hex";
    lat_init = LATENCY;
    stall_init = STALL;
    seed_init = SEED;
    if ($value$plusargs("MEM_INIT=%s", init_file)) begin end
    if ($value$plusargs("MEM_DUMP=%s", dump_file)) begin end
    if ($value$plusargs("MEM_LATENCY=%d", lat_init)) begin end
    if ($value$plusargs("MEM_STALL=%d", stall_init)) begin end
    if ($value$plusargs("MEM_SEED=%d", seed_init)) begin end
    if (init_file != "") $readmemh(init_file, mem);
  end

  always @(posedge clk_i) begin
    if (load_i && init_file != "") $readmemh(init_file, mem);
    if (dump_i) $writememh(dump_file, mem);
  end

  // ---------------------------------------------------------------- configuration and randomness
  logic [15:0] latency_q;
  logic [7:0]  stall_q;
  logic [31:0] rnd_q, rnd_x1, rnd_x2, rnd_next, now_q;

  assign rnd_x1 = rnd_q ^ (rnd_q << 13);
  assign rnd_x2 = rnd_x1 ^ (rnd_x1 >> 17);
  assign rnd_next = rnd_x2 ^ (rnd_x2 << 5);

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      latency_q <= lat_init[15:0];
      stall_q   <= stall_init[7:0];
      rnd_q     <= (seed_init == 0) ? 32'h1 : seed_init;
      now_q     <= '0;
    end else begin
      now_q <= now_q + 32'd1;
      if (cfg_load_i) begin
        latency_q <= cfg_latency_i;
        stall_q   <= cfg_stall_i;
        rnd_q     <= (cfg_seed_i == '0) ? 32'h1 : cfg_seed_i;
      end else begin
        rnd_q <= rnd_next;
      end
    end
  end

  logic stall_rreq, stall_wreq, stall_rd, stall_wr;
  assign stall_rreq = rnd_q[7:0] < stall_q;
  assign stall_rd   = rnd_q[15:8] < stall_q;
  assign stall_wr   = rnd_q[23:16] < stall_q;
  assign stall_wreq = rnd_q[31:24] < stall_q;

  // ---------------------------------------------------------------- read channel
  logic [ADDR_W-1:0] r_addr [FIFO_DEPTH];
  logic [7:0]        r_len  [FIFO_DEPTH];
  logic [31:0]       r_time [FIFO_DEPTH];
  logic [FW-1:0]     r_head_q, r_tail_q;
  logic [FW:0]       r_count_q;
  logic [7:0]        r_idx_q;      // beat index within the head read burst
  logic              r_push, r_pop, r_last, rd_load;
  logic [ADDR_W-1:0] r_beat_addr;  // an ADDR_W-bit net, so the address wraps (not an index expression)
  assign r_beat_addr = r_addr[r_head_q] + ADDR_W'(r_idx_q);

  assign rreq_ready_o = (r_count_q != (FW + 1)'(FIFO_DEPTH)) && !stall_rreq;
  assign r_push = rreq_valid_i && rreq_ready_o;
  assign r_last = (r_idx_q + 8'd1 >= r_len[r_head_q]);
  // the output register loads when empty or being accepted
  assign rd_load = (!rd_valid_o || rd_ready_i) && r_count_q != '0 && !stall_rd
                   && (now_q - r_time[r_head_q] >= 32'(latency_q));
  assign r_pop = rd_load && r_last;

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      r_head_q   <= '0;
      r_tail_q   <= '0;
      r_count_q  <= '0;
      r_idx_q    <= '0;
      rd_valid_o <= 1'b0;
    end else begin
      if (r_push) begin
        r_addr[r_tail_q] <= rreq_addr_i;
        r_len[r_tail_q]  <= (rreq_len_i == 8'd0) ? 8'd1 : rreq_len_i;
        r_time[r_tail_q] <= now_q;
        r_tail_q <= r_tail_q + 1'b1;
      end
      r_count_q <= r_count_q + (FW + 1)'(r_push) - (FW + 1)'(r_pop);
      if (r_pop) begin
        r_head_q <= r_head_q + 1'b1;
        r_idx_q  <= '0;
      end else if (rd_load) begin
        r_idx_q <= r_idx_q + 8'd1;
      end
      if (rd_load) begin
        rd_valid_o <= 1'b1;
        rd_data_o  <= mem[r_beat_addr];
        rd_last_o  <= r_last;
      end else if (rd_ready_i) begin
        rd_valid_o <= 1'b0;
      end
    end
  end

  // ---------------------------------------------------------------- write channel
  logic [ADDR_W-1:0] w_addr [FIFO_DEPTH];
  logic [7:0]        w_len  [FIFO_DEPTH];
  logic [FW-1:0]     w_head_q, w_tail_q;
  logic [FW:0]       w_count_q;
  logic [7:0]        w_idx_q;      // beat index within the head write burst
  logic              w_push, w_pop, w_fire;
  logic [ADDR_W-1:0] w_beat_addr;
  assign w_beat_addr = w_addr[w_head_q] + ADDR_W'(w_idx_q);

  assign wreq_ready_o = (w_count_q != (FW + 1)'(FIFO_DEPTH)) && !stall_wreq;
  assign w_push = wreq_valid_i && wreq_ready_o;
  assign wr_ready_o = w_count_q != '0 && !stall_wr;
  assign w_fire = wr_valid_i && wr_ready_o;
  assign w_pop = w_fire && (w_idx_q + 8'd1 >= w_len[w_head_q]);

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      w_head_q  <= '0;
      w_tail_q  <= '0;
      w_count_q <= '0;
      w_idx_q   <= '0;
    end else begin
      if (w_push) begin
        w_addr[w_tail_q] <= wreq_addr_i;
        w_len[w_tail_q]  <= (wreq_len_i == 8'd0) ? 8'd1 : wreq_len_i;
        w_tail_q <= w_tail_q + 1'b1;
      end
      w_count_q <= w_count_q + (FW + 1)'(w_push) - (FW + 1)'(w_pop);
      if (w_pop) begin
        w_head_q <= w_head_q + 1'b1;
        w_idx_q  <= '0;
      end else if (w_fire) begin
        w_idx_q <= w_idx_q + 8'd1;
      end
      if (w_fire) mem[w_beat_addr] <= wr_data_i;
      else if (poke_we_i) mem[poke_addr_i] <= poke_data_i;
    end
  end

  initial begin
    if (FIFO_DEPTH < 2 || (1 << FW) != FIFO_DEPTH) begin
      $error("%m: FIFO_DEPTH = %0d must be a power of two >= 2", FIFO_DEPTH);
      $finish;
    end
  end

`ifndef SYNTHESIS
  // protocol checkers (rtl/vr_check.sv, rtl/outstanding_check.sv; docs/rtl.md, "Protocol checkers"): the
  // read data it returns (the requests and write data come from the units, which check them)
  vr_check #(.W(DATA_W + 1)) u_chk_rd (.clk_i, .rst_i, .valid_i(rd_valid_o), .ready_i(rd_ready_i),
                                      .data_i({rd_data_o, rd_last_o}));
`endif

endmodule

`resetall
