`resetall
`timescale 1ns / 1ps
`default_nettype none

// External memory model for the testbenches (not synthesisable: $readmemh/$writememh, plusargs).
//
// Port (slave side of the accelerator's external memory port, docs/rtl.md):
//   request  req_valid_i/req_ready_o, req_addr_i (word address), req_len_i (burst length in words,
//            1..255), req_we_i (1 = write burst)
//   read     rd_valid_o/rd_ready_i, rd_data_o, rd_last_o   (in request order)
//   write    wr_valid_i/wr_ready_o, wr_data_i               (in request order)
// Up to FIFO_DEPTH requests are queued; bursts are served in order (a read after a write sees the
// write). A read burst starts LATENCY cycles after its request was accepted at the earliest; every
// handshake can stall at random: req_ready_o, the start of each rd_valid_o beat (once raised,
// rd_valid_o holds until accepted) and wr_ready_o are low when a seeded xorshift32 byte is below
// STALL (STALL / 256 of the cycles). Addresses wrap modulo 2^ADDR_W.
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

    input  logic              req_valid_i,
    output logic              req_ready_o,
    input  logic [ADDR_W-1:0] req_addr_i,
    input  logic [7:0]        req_len_i,
    input  logic              req_we_i,

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

  logic stall_req, stall_rd, stall_wr;
  assign stall_req = rnd_q[7:0] < stall_q;
  assign stall_rd  = rnd_q[15:8] < stall_q;
  assign stall_wr  = rnd_q[23:16] < stall_q;

  // ---------------------------------------------------------------- request queue
  logic [ADDR_W-1:0] q_addr [FIFO_DEPTH];
  logic [7:0]        q_len  [FIFO_DEPTH];
  logic              q_we   [FIFO_DEPTH];
  logic [31:0]       q_time [FIFO_DEPTH];
  logic [FW-1:0]     head_q, tail_q;
  logic [FW:0]       count_q;
  logic [7:0]        idx_q;        // beat index within the head burst
  logic              push, pop;

  assign req_ready_o = (count_q != (FW + 1)'(FIFO_DEPTH)) && !stall_req;
  assign push = req_valid_i && req_ready_o;

  logic              head_ok, head_rd, head_wr;
  logic [ADDR_W-1:0] beat_addr;
  logic              head_last;
  assign head_ok = count_q != '0;
  assign head_rd = head_ok && !q_we[head_q];
  assign head_wr = head_ok && q_we[head_q];
  assign beat_addr = q_addr[head_q] + ADDR_W'(idx_q);
  assign head_last = (idx_q + 8'd1 >= q_len[head_q]);

  // read beats: the output register loads when empty or being accepted
  logic rd_load;
  assign rd_load = (!rd_valid_o || rd_ready_i) && head_rd && !stall_rd
                   && (now_q - q_time[head_q] >= 32'(latency_q));
  // write beats
  assign wr_ready_o = head_wr && !stall_wr;

  assign pop = (rd_load || (wr_valid_i && wr_ready_o)) && head_last;

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      head_q  <= '0;
      tail_q  <= '0;
      count_q <= '0;
      idx_q   <= '0;
      rd_valid_o <= 1'b0;
    end else begin
      if (push) begin
        q_addr[tail_q] <= req_addr_i;
        q_len[tail_q]  <= (req_len_i == 8'd0) ? 8'd1 : req_len_i;
        q_we[tail_q]   <= req_we_i;
        q_time[tail_q] <= now_q;
        tail_q <= tail_q + 1'b1;
      end
      count_q <= count_q + (FW + 1)'(push) - (FW + 1)'(pop);
      if (pop) begin
        head_q <= head_q + 1'b1;
        idx_q  <= '0;
      end else if (rd_load || (wr_valid_i && wr_ready_o)) begin
        idx_q <= idx_q + 8'd1;
      end
      if (rd_load) begin
        rd_valid_o <= 1'b1;
        rd_data_o  <= mem[beat_addr];
        rd_last_o  <= head_last;
      end else if (rd_ready_i) begin
        rd_valid_o <= 1'b0;
      end
      if (wr_valid_i && wr_ready_o) mem[beat_addr] <= wr_data_i;
      else if (poke_we_i) mem[poke_addr_i] <= poke_data_i;
    end
  end

  initial begin
    if (FIFO_DEPTH < 2 || (1 << FW) != FIFO_DEPTH) begin
      $error("%m: FIFO_DEPTH = %0d must be a power of two >= 2", FIFO_DEPTH);
      $finish;
    end
  end

endmodule

`resetall
