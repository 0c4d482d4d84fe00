`resetall
`timescale 1ns / 1ps
`default_nettype none

// LayerNorm unit: one row of C uint8 codes (C = 2..2580) normalized over its channels, bit for bit
// golden.tf_arith.layernorm (docs/arithmetic.md, "LayerNorm"; docs/rtl.md, "LayerNorm unit"):
//
//   S   = sum_c q[c],  Q = sum_c q[c]^2                          pass 1 (one word a cycle)
//   SS  = C * (C*Q - S^2)                                        = sum_c x[c]^2, x[c] = C*q[c] - S
//   V   = (SS << 2P) + E                                         < 2^48
//   r   = isqrt(V)                                               restoring, 24 cycles
//   Rr  = (2^48 - 1) // max(r, 1)                                restoring divider, 48 cycles
//   t   = (x*Rr + 2^(s-1)) >>> s,  s = 48 - 24 - P               pass 2, per lane
//   y   = clamp(((t*G + B + 2^(n-1)) >>> n) + z_out, lo, hi)     per lane (G, n, B: the lane's record)
//
// Why two passes: golden sums x^2 with x = C*q - S, which needs S before the first square. The
// identity sum_c x^2 = C*(C*Q - S^2) gives the same integer from S and Q, both summed in one pass:
//   sum_c (C q_c - S)^2 = C^2 sum_c q_c^2 - 2 C S sum_c q_c + C S^2
//                       = C^2 Q - 2 C S^2 + C S^2 = C^2 Q - C S^2 = C (C Q - S^2).
// Exact integer algebra (no division, no rounding), so V, r, Rr and every output equal golden's.
// C*Q - S^2 = C * sum (q - mean)^2 >= 0 (Cauchy-Schwarz), so no width below goes negative.
//
// Protocol: start_i while idle begins a row (len_i, sqrt_shift_i, eps_term_i, z_out_i, lo_i, hi_i
// held stable until busy_o falls). The row's ceil(C/LANES) words come twice on the input stream,
// lane l = bits [l*8 +: 8], the last word's lanes from C on padding (ignored, whatever they hold):
// pass 1 for S and Q (in_ready_o high), then in_ready_o low for the variance, the square root and
// the reciprocal, then pass 2, each word with its lanes' records (gain_i, shift_i, bias_i, sampled
// with the word). Each pass-2 word gives one output word (padding lanes z_out) through a 3-stage
// pipeline with a stall per stage (rtl/requant.sv's scheme: bubbles squeezed out, nothing dropped
// while out_ready_i is low). busy_o falls the cycle after the last output word is taken.
// Cycles with no stalls (hexgen.cycles.layernorm_cycles): 2 ceil(C/LANES) + 2 + 24 + 48 + 3.
//
// Widths (C <= 2580 = MAX_C: golden.tf_arith.layernorm_params refuses larger rows, whose sum of
// squares C^3 255^2 / 4 reaches 2^48; a simulation check stops a row outside 2..MAX_C):
//   S  <= 255 C            = 657,900        < 2^20 (S_W)
//   Q  <= 255^2 C          = 167,764,500    < 2^28 (Q_W)
//   C*Q, S^2               < 2^40           (12-bit C times 28 bits; 20 bits squared)
//   D = C*Q - S^2 = SS / C <= C^2 255^2 / 4 < 2^37 (D_W)
//   SS = C * D             <= C^3 255^2 / 4 < 2^48 (layernorm_max_sumsq(2580) < 2^48)
//   V  = (SS << 2P) + E    < 2^48           (P and E from layernorm_params: max SS << 2P + E < 2^48)
//   sqrt remainder, root and trial values   < 2^48 (docs/arithmetic.md); r < 2^24
//   divider remainder < max(r, 1) <= 2^24 - 1 (24 bits; the shifted-in dividend 25); Rr < 2^48
//   x = C q - S: |x| <= 255 (C - 1) < 2^20: 21 bits signed (X_W)
//   x * Rr: x^2 <= SS and V >= SS 4^P give |x| 2^P <= sqrt(V), so |x| 2^P <= r (an integer below
//       sqrt(V)), and |x Rr| <= r 2^-P (2^48 - 1) / r < 2^(48-P) <= 2^48: 50 bits signed (XR_W)
//   t: |t| <= 2^24 (golden's bound): 26 bits signed (T_W)
//   t*G + B + 2^(n-1): |t G| <= 2^24 (2^31 - 1) < 2^55, |B| < 2^57 (the record's bound), 2^(n-1)
//       <= 2^62 at the 6-bit field's largest n: < 2^63, 64 bits signed
module layernorm_unit #(
    parameter int LANES = 8
) (
    input  logic                 clk_i,
    input  logic                 rst_i,

    // the row's configuration: stable while busy_o
    input  logic [15:0]          len_i,         // C, channels of the row (2..2580)
    input  logic [4:0]           sqrt_shift_i,  // P (0..23: s = 24 - P >= 1)
    input  logic [47:0]          eps_term_i,    // E
    input  logic [7:0]           z_out_i,
    input  logic [7:0]           lo_i,
    input  logic [7:0]           hi_i,

    input  logic                 start_i,       // while idle: a row begins
    output logic                 busy_o,

    input  logic                 in_valid_i,
    output logic                 in_ready_o,
    input  logic [LANES*8-1:0]   in_data_i,
    input  logic [LANES*32-1:0]  gain_i,        // per lane: G, signed (pass 2, with the word)
    input  logic [LANES*6-1:0]   shift_i,       // per lane: n, 1..48
    input  logic [LANES*64-1:0]  bias_i,        // per lane: B, signed, |B| < 2^57

    output logic                 out_valid_o,
    input  logic                 out_ready_i,
    output logic [LANES*8-1:0]   out_data_o
);

  localparam int MAX_C = 2580;  // golden.tf_arith.layernorm_params' largest row
  localparam int C_W = 12;      // C <= 2580 < 2^12
  localparam int S_W = 20;
  localparam int Q_W = 28;
  localparam int D_W = 37;
  localparam int V_W = 48;      // 2 x LN_SQRT_ITERS: radicand, remainder, trial values
  localparam int R_W = 24;      // LN_SQRT_ITERS: the root, the divisor
  localparam int RR_W = 48;     // LN_RECIP_BITS: the reciprocal's quotient bits
  localparam int X_W = 21;
  localparam int XR_W = 50;
  localparam int T_W = 26;
  localparam int NORM_BITS = 24;  // LN_NORM_BITS: s = RR_W - NORM_BITS - P

  initial begin
    if (LANES < 1) begin
      $error("%m: LANES = %0d must be >= 1", LANES);
      $finish;
    end
  end

  typedef enum logic [2:0] {
    StIdle, StPass1, StVar, StRad, StSqrt, StDiv, StPass2, StDrain
  } st_e;
  st_e st_q, st_d;

  // ---------------------------------------------------------------- pipeline control (pass 2)
  // v1_q..v3_q: stage N holds a word; enN: stage N may load (it is empty or its word moves on)
  logic v1_q, v2_q, v3_q;
  logic en1, en2, en3;
  assign en3 = !v3_q || out_ready_i;
  assign en2 = !v2_q || en3;
  assign en1 = !v1_q || en2;

  assign in_ready_o = st_q == StPass1 || (st_q == StPass2 && en1);
  assign busy_o = st_q != StIdle;

  logic in_fire;
  assign in_fire = in_valid_i && in_ready_o;

  // ---------------------------------------------------------------- the word's lanes, pass 1 sums
  logic [15:0]      base_q;   // channel of the word's lane 0 (< C while a pass runs)
  logic [LANES-1:0] lane_in;  // lane l holds a channel of the row (else: padding)
  logic             last_word;
  for (genvar l = 0; l < LANES; l++) begin : g_in
    assign lane_in[l] = 32'(base_q) + 32'(l) < 32'(len_i);
  end
  assign last_word = 32'(base_q) + 32'(LANES) >= 32'(len_i);

  // a word's sums: only its channels count (at most C of them: below the row's S_W, Q_W bounds)
  logic [S_W-1:0] word_s;
  logic [Q_W-1:0] word_q;
  always_comb begin
    word_s = '0;
    word_q = '0;
    for (int l = 0; l < LANES; l++) begin
      if (lane_in[l]) begin
        word_s = word_s + S_W'(in_data_i[l*8 +: 8]);
        word_q = word_q + Q_W'(16'(in_data_i[l*8 +: 8]) * 16'(in_data_i[l*8 +: 8]));
      end
    end
  end

  logic [C_W-1:0] cl;  // C at the multipliers' width (C <= MAX_C < 2^C_W)
  assign cl = C_W'(len_i);

  logic [S_W-1:0] s_q;
  logic [Q_W-1:0] q_q;
  logic [D_W-1:0] d_q;
  logic [39:0]    cq, ss;  // C*Q and S^2, each < 2^40
  logic [47:0]    sumsq;   // C * D = sum x^2 < 2^48
  logic [V_W-1:0] v_rad;   // the radicand V
  assign cq = 40'(cl) * 40'(q_q);
  assign ss = 40'(s_q) * 40'(s_q);
  assign sumsq = 48'(cl) * 48'(d_q);
  assign v_rad = (sumsq << {sqrt_shift_i, 1'b0}) + eps_term_i;

  // ---------------------------------------------------------------- square root (golden isqrt_fixed)
  // bit_q = 4^j for j = 23 down to 0, one iteration a cycle; res_q the root when bit_q passes 1
  logic [V_W-1:0] rem_q, res_q, bit_q, trial;
  logic           sq_ge;
  assign trial = res_q + bit_q;
  assign sq_ge = rem_q >= trial;
  logic sq_last;  // the iteration of j = 0
  assign sq_last = bit_q[0];

  // ---------------------------------------------------------------- reciprocal: (2^48 - 1) // max(r, 1)
  // restoring division, one quotient bit a cycle from the top; every dividend bit is 1
  logic [R_W-1:0]  root, dvs, drem_q;
  logic [R_W:0]    dshift;
  logic            dv_ge;
  logic [RR_W-1:0] quo_q;   // the quotient, after StDiv: Rr
  logic [RR_W-1:0] quo_next;
  logic [5:0]      dcnt_q;
  assign root = R_W'(res_q);  // r < 2^24 once the root is done
  assign dvs = root == '0 ? R_W'(1) : root;
  assign dshift = {drem_q, 1'b1};
  assign dv_ge = dshift >= {1'b0, dvs};
  assign quo_next = {quo_q[RR_W-2:0], dv_ge};

  // ---------------------------------------------------------------- pass-2 pipeline
  // stage 1: the accepted word and its records; stage 2: t per lane; stage 3: the output word
  logic [LANES*8-1:0]  q1_q;
  logic [LANES*32-1:0] g1_q, g2_q;
  logic [LANES*6-1:0]  n1_q, n2_q;
  logic [LANES*64-1:0] b1_q, b2_q;
  logic [LANES-1:0]    m1_q, m2_q;
  logic [LANES*T_W-1:0] t2_q;
  logic [LANES*8-1:0]  y3_q;
  logic [LANES*T_W-1:0] t_new;
  logic [LANES*8-1:0]  y_new;

  logic [4:0]            sh_s;    // s = 24 - P (1..24)
  logic signed [XR_W-1:0] half_s;  // 2^(s-1)
  logic signed [XR_W-1:0] rr_s;    // Rr, non-negative
  assign sh_s = 5'(NORM_BITS) - sqrt_shift_i;
  assign half_s = sh_s == '0 ? '0 : XR_W'(1) <<< (sh_s - 5'd1);
`ifdef MUT_SELECT  // +MUT_LN_RECIP: Rr one larger than (2^48 - 1) // max(r, 1)
  logic mut_ln_recip;
  initial mut_ln_recip = $test$plusargs("MUT_LN_RECIP");
  assign rr_s = $signed({2'b00, quo_q}) + (mut_ln_recip ? XR_W'(1) : XR_W'(0));
`else
  assign rr_s = $signed({2'b00, quo_q});
`endif

  for (genvar l = 0; l < LANES; l++) begin : g_lane
    // stage 2: x = C q - S, t = (x Rr + 2^(s-1)) >>> s
    logic [S_W-1:0]         cq_l;  // C q <= 255 C < 2^20
    logic signed [X_W-1:0]  x;
    logic signed [XR_W-1:0] xr;
    /* verilator lint_off UNUSEDSIGNAL */  // |t| <= 2^24: its low T_W bits are t
    logic signed [XR_W-1:0] t_full;
    /* verilator lint_on UNUSEDSIGNAL */
    assign cq_l = S_W'(cl) * S_W'(q1_q[l*8 +: 8]);
    assign x = $signed({1'b0, cq_l}) - $signed({1'b0, s_q});
    assign xr = $signed({{(XR_W - X_W){x[X_W-1]}}, x}) * rr_s;
    assign t_full = (xr + half_s) >>> sh_s;
    assign t_new[l*T_W +: T_W] = T_W'(t_full);  // |t| <= 2^24

    // stage 3: y = clamp(((t G + B + 2^(n-1)) >>> n) + z_out, lo, hi); padding lanes z_out
    logic signed [T_W-1:0] t;
    logic signed [31:0]    g;
    logic [5:0]            n;
    logic signed [63:0]    half_n, acc, y, lo_c;
    assign t = $signed(t2_q[l*T_W +: T_W]);
    assign g = $signed(g2_q[l*32 +: 32]);
    assign n = n2_q[l*6 +: 6];
    assign half_n = n == 6'd0 ? 64'sd0 : 64'sd1 <<< (n - 6'd1);  // n = 0: outside the records
    assign acc = $signed({{(64 - T_W){t[T_W-1]}}, t}) * $signed({{32{g[31]}}, g})
                 + $signed(b2_q[l*64 +: 64]) + half_n;
    assign y = (acc >>> n) + $signed({56'd0, z_out_i});
    // max with lo first, then min with hi (numpy's clip, rtl/add_lanes.sv)
    assign lo_c = y < $signed({56'd0, lo_i}) ? $signed({56'd0, lo_i}) : y;
    assign y_new[l*8 +: 8] = !m2_q[l] ? z_out_i : lo_c > $signed({56'd0, hi_i}) ? hi_i : lo_c[7:0];
  end

  assign out_valid_o = v3_q;
  assign out_data_o = y3_q;

  // ---------------------------------------------------------------- state machine
  always_comb begin
    st_d = st_q;
    case (st_q)
      StIdle:  if (start_i) st_d = StPass1;
      StPass1: if (in_fire && last_word) st_d = StVar;
      StVar:   st_d = StRad;
      StRad:   st_d = StSqrt;
      StSqrt:  if (sq_last) st_d = StDiv;
      StDiv:   if (dcnt_q == 6'(RR_W - 1)) st_d = StPass2;
      StPass2: if (in_fire && last_word) st_d = StDrain;
      // the last word leaves stage 3 with nothing behind it
      StDrain: if (v3_q && out_ready_i && !v2_q && !v1_q) st_d = StIdle;
      default: st_d = StIdle;
    endcase
  end

  always_ff @(posedge clk_i) begin
    if (rst_i) st_q <= StIdle;
    else st_q <= st_d;
  end

  // ---------------------------------------------------------------- row datapath
  always_ff @(posedge clk_i) begin
    case (st_q)
      StIdle: begin
        base_q <= '0;
        s_q <= '0;
        q_q <= '0;
      end
      StPass1: if (in_fire) begin
        s_q <= s_q + word_s;
        q_q <= q_q + word_q;
        base_q <= last_word ? '0 : base_q + 16'(LANES);
      end
      StVar: d_q <= D_W'(cq - ss);  // = SS / C >= 0, < 2^37
      StRad: begin
        rem_q <= v_rad;
        res_q <= '0;
        bit_q <= V_W'(1) << (2 * (R_W - 1));
      end
      StSqrt: begin
        if (sq_ge) rem_q <= rem_q - trial;
        res_q <= (res_q >> 1) + (sq_ge ? bit_q : '0);
        bit_q <= bit_q >> 2;
        drem_q <= '0;
        quo_q <= '0;
        dcnt_q <= '0;
      end
      StDiv: begin
        drem_q <= dv_ge ? R_W'(dshift - {1'b0, dvs}) : R_W'(dshift);
        quo_q <= quo_next;
        dcnt_q <= dcnt_q + 6'd1;
      end
      StPass2: if (in_fire) base_q <= last_word ? '0 : base_q + 16'(LANES);
      default: ;
    endcase
  end

  // ---------------------------------------------------------------- pass-2 pipeline registers
  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      v1_q <= 1'b0;
      v2_q <= 1'b0;
      v3_q <= 1'b0;
    end else begin
      if (en1) v1_q <= st_q == StPass2 && in_valid_i;
      if (en2) v2_q <= v1_q;
      if (en3) v3_q <= v2_q;
    end
  end

  always_ff @(posedge clk_i) begin
    if (en1 && st_q == StPass2 && in_valid_i) begin
      q1_q <= in_data_i;
      g1_q <= gain_i;
      n1_q <= shift_i;
      b1_q <= bias_i;
      m1_q <= lane_in;
    end
    if (en2 && v1_q) begin
      t2_q <= t_new;
      g2_q <= g1_q;
      n2_q <= n1_q;
      b2_q <= b1_q;
      m2_q <= m1_q;
    end
    if (en3 && v2_q) y3_q <= y_new;
  end

`ifndef SYNTHESIS
  // a row outside the widths argued above stops the simulation (golden refuses it at extraction)
  always @(posedge clk_i) begin
    if (!rst_i && st_q == StIdle && start_i && (len_i < 16'd2 || 32'(len_i) > MAX_C || sqrt_shift_i > 5'd23))
      $fatal(1, "%m: a row of C = %0d channels with P = %0d: outside C = 2..%0d, P = 0..23", len_i, sqrt_shift_i,
             MAX_C);
  end
`endif

endmodule

`resetall
