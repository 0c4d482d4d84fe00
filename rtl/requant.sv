`resetall
`timescale 1ns / 1ps
`default_nettype none

// Requantizer: LANES independent lanes, one output channel each (docs/rtl.md, arithmetic.md).
//
//   sum = acc + (bias_mant <<< bias_shift)          stage 1 (saturated to int32, ovf flagged)
//   p   = sum * M0                                  stage 2 (64-bit signed product)
//   r   = (p + 2^(n-1)) >>> n                       stage 3 (ties round toward +infinity)
//   y   = clamp(r + z_out, lo, hi)                  stage 4 (max with lo first, then min with hi)
//
// Latency: 4 cycles from an accepted input beat to its output beat when out_ready_i stays high.
// Throughput: one beat (LANES results) per cycle. Valid/ready on both sides; each stage holds its
// beat while the next stage is full and stalled (bubbles are squeezed out).
//
// Fields per lane (flattened, lane l at bits [l*W +: W]):
//   acc   signed 32  raw MAC sum
//   bias_mant signed 32 mantissa: int16 (sign-extended) in the int16 modes, int32 in int32 mode
//   bias_shift 4     left shift 0..15 (0 outside int16_shift mode)
//   m0    unsigned 31
//   n     6 bits, 1..63 (n = 0 is outside the contract: no rounding term, no shift)
// Per beat: z_out, lo, hi (uint8). The contract requires acc + bias_term to fit int32; if it does
// not, the sum saturates to int32 and out_ovf_o flags the lane (an error for the layer engine).
module requant #(
    parameter int LANES = 4
) (
    input  logic                 clk_i,
    input  logic                 rst_i,

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

    output logic                 out_valid_o,
    input  logic                 out_ready_i,
    output logic [LANES*8-1:0]   out_data_o,
    output logic [LANES-1:0]     out_ovf_o
);

  initial begin
    if (LANES < 1) begin
      $error("%m: LANES = %0d must be >= 1", LANES);
      $finish;
    end
  end

  // ---------------------------------------------------------------- stage control
  // v_qN: stage N holds a beat. enN: stage N may load (it is empty or its beat moves on).
  logic v_q1, v_q2, v_q3, v_q4;
  logic en1, en2, en3, en4;

  assign en4 = ~v_q4 | out_ready_i;
  assign en3 = ~v_q3 | en4;
  assign en2 = ~v_q2 | en3;
  assign en1 = ~v_q1 | en2;
  assign in_ready_o = en1;
  assign out_valid_o = v_q4;

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      v_q1 <= 1'b0;
      v_q2 <= 1'b0;
      v_q3 <= 1'b0;
      v_q4 <= 1'b0;
    end else begin
      if (en1) v_q1 <= in_valid_i;
      if (en2) v_q2 <= v_q1;
      if (en3) v_q3 <= v_q2;
      if (en4) v_q4 <= v_q3;
    end
  end

  // Per-beat fields travel with the beat.
  logic [7:0] z_q1, lo_q1, hi_q1, z_q2, lo_q2, hi_q2, z_q3, lo_q3, hi_q3;
`ifdef MUT_SELECT  // mutation tests (tests/test_diagnose_sim.py): faults chosen at run time, +MUT_<name>
  logic mut_clamp, mut_m0, mut_round;
  initial begin
    mut_round = $test$plusargs("MUT_ROUND");  // the rounding bit one place too low
    mut_clamp = $test$plusargs("MUT_CLAMP");  // a value clamped up to lo comes out as lo + 1
    mut_m0 = $test$plusargs("MUT_M0");  // M0 halved
  end
`endif

  always_ff @(posedge clk_i) begin
    if (en1) begin
      z_q1  <= in_z_out_i;
      lo_q1 <= in_lo_i;
      hi_q1 <= in_hi_i;
    end
    if (en2) begin
      z_q2  <= z_q1;
      lo_q2 <= lo_q1;
      hi_q2 <= hi_q1;
    end
    if (en3) begin
      z_q3  <= z_q2;
      lo_q3 <= lo_q2;
      hi_q3 <= hi_q2;
    end
  end

  // ---------------------------------------------------------------- lanes
  for (genvar l = 0; l < LANES; l++) begin : g_lane
    // stage 1: acc + bias_term, in 48 bits (|bias_term| < 2^46), saturated to int32
    logic signed [31:0] acc;
    logic signed [31:0] mant;
    logic signed [47:0] bias_term;
    logic signed [47:0] sum48;
    logic signed [31:0] sum_d;
    logic               ovf_d;

    assign acc = $signed(in_acc_i[l*32 +: 32]);
    assign mant = $signed(in_bias_mant_i[l*32 +: 32]);
    assign bias_term = {{16{mant[31]}}, mant} <<< in_bias_shift_i[l*4 +: 4];
    assign sum48 = {{16{acc[31]}}, acc} + bias_term;

    logic ovf_hi, ovf_lo;
    assign ovf_hi = sum48 > 48'sh0000_7FFF_FFFF;
    assign ovf_lo = sum48 < -48'sh0000_8000_0000;
    assign ovf_d = ovf_hi | ovf_lo;
    assign sum_d = ovf_hi ? 32'sh7FFF_FFFF : ovf_lo ? -32'sh8000_0000 : sum48[31:0];

    logic signed [31:0] sum_q1;
    logic        [30:0] m0_q1;
    logic        [5:0]  n_q1, n_q2;
    logic               ovf_q1, ovf_q2, ovf_q3, ovf_q4;

    always_ff @(posedge clk_i) begin
      if (en1) begin
        sum_q1 <= sum_d;
        ovf_q1 <= ovf_d;
`ifdef MUT_SELECT
        m0_q1  <= mut_m0 ? {1'b0, in_m0_i[l*31+1 +: 30]} : in_m0_i[l*31 +: 31];
`else
        m0_q1  <= in_m0_i[l*31 +: 31];
`endif
        n_q1   <= in_n_i[l*6 +: 6];
      end
    end

    // stage 2: 64-bit signed product; |sum| <= 2^31 and M0 < 2^31, so it cannot overflow
    logic signed [63:0] sum64, m064, prod_d, prod_q2;
    assign sum64 = {{32{sum_q1[31]}}, sum_q1};
    assign m064 = {33'b0, m0_q1};
    assign prod_d = sum64 * m064;

    always_ff @(posedge clk_i) begin
      if (en2) begin
        prod_q2 <= prod_d;
        n_q2    <= n_q1;
        ovf_q2  <= ovf_q1;
      end
    end

    // stage 3: rounding shift. p + 2^(n-1) stays below 2^63 for every in-contract input:
    // max (2^31-1)^2 + 2^62 < 2^63, min -2^31 (2^31-1) + 2^0 > -2^63.
    logic signed [63:0] rnd, shr_d, shr_q3;
`ifdef MUT_SELECT
    assign rnd = mut_round ? ((n_q2 < 6'd2) ? 64'sd0 : (64'sd1 <<< (n_q2 - 6'd2)))
                           : ((n_q2 == 6'd0) ? 64'sd0 : (64'sd1 <<< (n_q2 - 6'd1)));
`else
    assign rnd = (n_q2 == 6'd0) ? 64'sd0 : (64'sd1 <<< (n_q2 - 6'd1));
`endif
    assign shr_d = (prod_q2 + rnd) >>> n_q2;

    always_ff @(posedge clk_i) begin
      if (en3) begin
        shr_q3 <= shr_d;
        ovf_q3 <= ovf_q2;
      end
    end

    // stage 4: + z_out, clamp: y = min(max(y, lo), hi) (numpy.clip order, also when lo > hi)
    logic signed [64:0] y65, lo65, hi65, ylo;
    logic        [7:0]  y_d, y_q4;
    assign y65 = {shr_q3[63], shr_q3} + $signed({57'b0, z_q3});
    assign lo65 = $signed({57'b0, lo_q3});
    assign hi65 = $signed({57'b0, hi_q3});
`ifdef MUT_SELECT
    assign ylo = (y65 < lo65) ? lo65 + 65'(mut_clamp) : y65;
`else
    assign ylo = (y65 < lo65) ? lo65 : y65;
`endif
    assign y_d = (ylo > hi65) ? hi_q3 : ylo[7:0];

    always_ff @(posedge clk_i) begin
      if (en4) begin
        y_q4   <= y_d;
        ovf_q4 <= ovf_q3;
      end
    end

    assign out_data_o[l*8 +: 8] = y_q4;
    assign out_ovf_o[l] = ovf_q4;
  end

`ifndef SYNTHESIS
  // protocol checkers (rtl/vr_check.sv, rtl/outstanding_check.sv; docs/rtl.md, "Protocol checkers"): the
  // output vectors
  vr_check #(.W(LANES * 9)) u_chk_out (.clk_i, .rst_i, .valid_i(out_valid_o), .ready_i(out_ready_i),
                                      .data_i({out_data_o, out_ovf_o}));
`endif

endmodule

`resetall
