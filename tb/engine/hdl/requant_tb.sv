`resetall
`timescale 1ns / 1ps
`default_nettype none

// Test harness around requant: either cocotb drives the DUT's ports directly (mode_i = 0: corner
// cases, pyuvm), or the harness streams beats from a vector memory loaded with $readmemh and stores
// every output beat in a result memory written back with $writememh (mode_i = 1: bulk random
// vectors without a Python call per cycle). Valid gaps and output backpressure come from a seeded
// xorshift32, so the handshake is exercised in stream mode too.
//
// Vector word (one beat), LSB first: lane 0 .. lane LANES-1, then z_out, lo, hi (8 bits each).
// Lane (108 bits, nibble aligned): acc[31:0], bias_mant[31:0], bias_shift[3:0], m0[31:0] (bit 31
// ignored), n[7:0] (bits 7:6 ignored).
// Result word: lane outputs (LANES x 8 bits) then the LANES ovf flags (padded to a nibble).
// Files: plusargs +VEC_FILE=... and +RES_FILE=...; load_i reads VEC_FILE, dump_i writes RES_FILE
// (entries 0 .. count_i-1 in both cases: set count_i before load_i).
module requant_tb #(
    parameter int LANES = 8,
    parameter int DEPTH = 16384
) (
    input  logic                 clk_i,
    input  logic                 rst_i,

    // mode and stream control
    input  logic                 mode_i,
    input  logic                 load_i,
    input  logic                 dump_i,
    input  logic                 start_i,
    input  logic [31:0]          count_i,
    input  logic [31:0]          seed_i,
    input  logic [7:0]           stall_i,    // input gap when rand[7:0] < stall_i
    input  logic [7:0]           bp_i,       // output backpressure when rand[15:8] < bp_i
    output logic                 done_o,
    output logic [31:0]          cycles_o,

    // direct drive (mode_i = 0)
    input  logic                 in_valid_i,
    output logic                 in_ready_o,
    input  logic [LANES*32-1:0]  in_acc_i,
    input  logic [LANES*32-1:0]  in_bias_mant_i,
    input  logic [LANES*4-1:0]   in_bias_shift_i,
    input  logic [LANES*31-1:0]  in_m0_i,
    input  logic [LANES*6-1:0]   in_n_i,
    input  logic [7:0]           in_z_out_i,
    input  logic [7:0]           in_lo_i,
    input  logic [7:0]           in_hi_i,
    input  logic                 out_ready_i,

    // DUT outputs (both modes)
    output logic                 out_valid_o,
    output logic                 out_fire_o,
    output logic [LANES*8-1:0]   out_data_o,
    output logic [LANES-1:0]     out_ovf_o
);

  localparam int LANE_W = 108;
  localparam int VEC_W = LANES * LANE_W + 24;
  localparam int OVF_W = ((LANES + 3) / 4) * 4;
  localparam int RES_W = LANES * 8 + OVF_W;

  logic [VEC_W-1:0] vec_mem [DEPTH];
  logic [RES_W-1:0] res_mem [DEPTH];
  string vec_file, res_file;

  initial begin
    if (!$value$plusargs("VEC_FILE=%s", vec_file)) vec_file = "requant_vec.hex";
    if (!$value$plusargs("RES_FILE=%s", res_file)) res_file = "requant_res.hex";
  end

  always @(posedge clk_i) begin
    if (load_i && count_i != 0) $readmemh(vec_file, vec_mem, 0, count_i - 1);
    if (dump_i) $writememh(res_file, res_mem, 0, count_i - 1);
  end

  // ---------------------------------------------------------------- stream source and sink
  // start_i: clear the indices and run until count_i output beats are stored, then stop (done_o
  // stays high until the next start). Nothing is sent while stopped, so no beat of one run can
  // be in flight when the next one starts, whatever count_i is set to in between.
  logic        running_q, done_q;
  logic [31:0] src_idx_q, snk_idx_q, rnd_q, cycles_q;
  logic        s_valid, s_ready, o_ready, o_valid;
  /* verilator lint_off UNUSEDSIGNAL */  // padding bits of the nibble-aligned lane fields
  logic [VEC_W-1:0] vec;
  /* verilator lint_on UNUSEDSIGNAL */

  // xorshift32
  logic [31:0] rnd_x1, rnd_x2, rnd_next;
  assign rnd_x1 = rnd_q ^ (rnd_q << 13);
  assign rnd_x2 = rnd_x1 ^ (rnd_x1 >> 17);
  assign rnd_next = rnd_x2 ^ (rnd_x2 << 5);

  assign vec = vec_mem[src_idx_q[$clog2(DEPTH)-1:0]];
  assign s_valid = running_q && (src_idx_q < count_i) && (rnd_q[7:0] >= stall_i);
  assign o_ready = mode_i ? (rnd_q[15:8] >= bp_i) : out_ready_i;
  assign done_o = done_q;
  assign cycles_o = cycles_q;
  assign out_valid_o = o_valid;
  assign out_fire_o = o_valid & o_ready;

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      running_q <= 1'b0;
      done_q    <= 1'b0;
      src_idx_q <= '0;
      snk_idx_q <= '0;
      rnd_q     <= 32'h1;
      cycles_q  <= '0;
    end else if (start_i) begin
      running_q <= 1'b1;
      done_q    <= 1'b0;
      src_idx_q <= '0;
      snk_idx_q <= '0;
      rnd_q     <= (seed_i == 32'h0) ? 32'h1 : seed_i;
      cycles_q  <= '0;
    end else begin
      rnd_q <= rnd_next;
      if (running_q && snk_idx_q == count_i) begin
        running_q <= 1'b0;
        done_q    <= 1'b1;
      end
      if (running_q) cycles_q <= cycles_q + 32'd1;
      if (s_valid && s_ready) src_idx_q <= src_idx_q + 32'd1;
      if (mode_i && running_q && o_valid && o_ready) begin
        res_mem[snk_idx_q[$clog2(DEPTH)-1:0]] <= {{(OVF_W - LANES){1'b0}}, out_ovf_o, out_data_o};
        snk_idx_q <= snk_idx_q + 32'd1;
      end
    end
  end

  // ---------------------------------------------------------------- DUT input mux
  logic                 d_valid;
  logic [LANES*32-1:0]  d_acc, d_mant;
  logic [LANES*4-1:0]   d_shift;
  logic [LANES*31-1:0]  d_m0;
  logic [LANES*6-1:0]   d_n;
  logic [LANES*32-1:0]  v_acc, v_mant;
  logic [LANES*4-1:0]   v_shift;
  logic [LANES*31-1:0]  v_m0;
  logic [LANES*6-1:0]   v_n;

  for (genvar l = 0; l < LANES; l++) begin : g_unpack
    assign v_acc[l*32 +: 32]  = vec[l*LANE_W +: 32];
    assign v_mant[l*32 +: 32] = vec[l*LANE_W + 32 +: 32];
    assign v_shift[l*4 +: 4]  = vec[l*LANE_W + 64 +: 4];
    assign v_m0[l*31 +: 31]   = vec[l*LANE_W + 68 +: 31];
    assign v_n[l*6 +: 6]      = vec[l*LANE_W + 100 +: 6];
  end

  assign d_valid = mode_i ? s_valid : in_valid_i;
  assign d_acc   = mode_i ? v_acc : in_acc_i;
  assign d_mant  = mode_i ? v_mant : in_bias_mant_i;
  assign d_shift = mode_i ? v_shift : in_bias_shift_i;
  assign d_m0    = mode_i ? v_m0 : in_m0_i;
  assign d_n     = mode_i ? v_n : in_n_i;
  assign in_ready_o = s_ready;

  requant #(
      .LANES(LANES)
  ) u_dut (
      .clk_i          (clk_i),
      .rst_i          (rst_i),
      .in_valid_i     (d_valid),
      .in_ready_o     (s_ready),
      .in_acc_i       (d_acc),
      .in_bias_mant_i (d_mant),
      .in_bias_shift_i(d_shift),
      .in_m0_i        (d_m0),
      .in_n_i         (d_n),
      .in_z_out_i     (mode_i ? vec[LANES*LANE_W +: 8] : in_z_out_i),
      .in_lo_i        (mode_i ? vec[LANES*LANE_W + 8 +: 8] : in_lo_i),
      .in_hi_i        (mode_i ? vec[LANES*LANE_W + 16 +: 8] : in_hi_i),
      .out_valid_o    (o_valid),
      .out_ready_i    (o_ready),
      .out_data_o     (out_data_o),
      .out_ovf_o      (out_ovf_o)
  );

endmodule

`resetall
