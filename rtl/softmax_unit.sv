`resetall
`timescale 1ns / 1ps
`default_nettype none

// softmax over one row of L uint8 codes (arithmetic.md, "softmax"; golden.tf_arith.softmax):
//
//   d = max(q) - q                        8 bits (z_in cancels)
//   e = EXP[d]                            21-bit unsigned, EXP[0] = 2^20 (rtl/lut_lanes.sv, W = 21)
//   S = sum over the row of e             2^20 <= S <= L * 2^20 < 2^32 (L <= 4095)
//   R = D // S                            one division per row, truncating; R <= 2^32: 33 bits
//   y = clamp(((e * R + 2^(P-1)) >> P) + z_out, lo, hi)          e * R < 2^54
//
// The row arrives as words of LANES codes (lane l = bits [l*8 +: 8]; the last word's lanes past L
// are padding, ignored), sent three times in order, because the max, the sum and the output each
// need the whole of what comes before: pass 1 takes the max, pass 2 the sum of the table's entries
// (the same table read, max - q, as pass 3), then the unit divides (in_ready_o low, one quotient
// bit a cycle: a 52-bit dividend, 52 cycles; the rows are long, so one restoring divider costs
// less than a multiplier-based reciprocal), and pass 3 gives one output word per input word,
// its padding lanes z_out (the token layout's padding). Rereading the row (from memory, by the
// vector unit that streams it) costs 2 words per word but no row buffer: rows are up to 4095 codes.
//
// Cycles (hexgen.cycles.softmax_cycles, checked exactly by the bench): with W = ceil(L / LANES)
// words a pass, no input gaps and the output always ready, the last output word is taken 3 W + 53
// cycles after the start pulse's edge (3 W words, 52 divider steps, the output register's one).
//
// Config (len_i .. hi_i) is held while a row runs; the table is written (tbl_we_i) while idle.
// Outside the contract: len_i = 0 (the unit would wait for words forever); a table whose entry 0
// is below 2^20 (S may then be small enough for R to need more than 33 bits: its top bits are
// lost).
// tb/engine/test_softmax_unit.py checks it against golden.tf_arith.softmax, cycles included.
module softmax_unit #(
    parameter int LANES = 8
) (
    input  logic               clk_i,
    input  logic               rst_i,

    input  logic [15:0]        len_i,       // L, 1..4095
    input  logic [51:0]        dividend_i,  // D = round(2^P / S_out), 2^51 <= D < 2^52
    input  logic [5:0]         shift_i,     // P, 1..63
    input  logic [7:0]         z_out_i,
    input  logic [7:0]         lo_i,
    input  logic [7:0]         hi_i,

    input  logic               tbl_we_i,    // exp table write port (softmax_params' exp_table)
    input  logic [7:0]         tbl_addr_i,
    input  logic [20:0]        tbl_data_i,

    input  logic               start_i,     // one cycle while idle: a row begins
    output logic               busy_o,

    input  logic               in_valid_i,
    output logic               in_ready_o,
    input  logic [LANES*8-1:0] in_data_i,

    output logic               out_valid_o,
    input  logic               out_ready_i,
    output logic [LANES*8-1:0] out_data_o
);

  localparam int DIV_STEPS = 52;  // golden.tf_arith.SM_DIV_BITS: one step per dividend bit
  localparam int EW = 21;         // exp table entries: SM_EXP_BITS + 1

  initial begin
    if (LANES < 1) begin
      $error("%m: LANES = %0d must be >= 1", LANES);
      $finish;
    end
  end

  typedef enum logic [2:0] {
    SIdle, SMax, SSum, SDiv, SOut
  } st_e;
  st_e st_q, st_d;

  logic [31:0] base_q;    // the row index of the current word's lane 0 (a multiple of LANES)
  logic [7:0]  max_q;     // pass 1's running max; held through passes 2 and 3
  logic [31:0] sum_q;     // pass 2's running S; the divisor
  logic [51:0] quo_q;     // the dividend, shifted out at the top as the quotient comes in below
  logic [31:0] rem_q;     // the division's remainder, < S
  logic [5:0]  step_q;    // divider steps done
  logic        out_valid_q;
  logic [LANES*8-1:0] out_data_q;

  logic in_fire, last_word, div_last;
  assign in_fire = in_valid_i && in_ready_o;
  assign last_word = base_q + 32'(LANES) >= 32'(len_i);
  assign div_last = step_q == 6'(DIV_STEPS - 1);

  // pass 3 takes a word when the output register is free or is emptied at this edge; passes 1 and
  // 2 take one every cycle; between them (dividing) and while idle, none
  assign in_ready_o = st_q == SMax || st_q == SSum
                   || (st_q == SOut && (!out_valid_q || out_ready_i));
  // busy until the last output word is taken
  assign busy_o = st_q != SIdle || out_valid_q;
  assign out_valid_o = out_valid_q;
  assign out_data_o = out_data_q;

  // ---------------------------------------------------------------- per lane: max, table read
  logic [LANES-1:0]    lane_ok;   // the lane holds a code of the row (not padding)
  logic [LANES*8-1:0]  d;         // max - q per lane (padding lanes: anything, unused)
  logic [LANES*EW-1:0] e;         // EXP[d] per lane

  for (genvar l = 0; l < LANES; l++) begin : g_in
    assign lane_ok[l] = base_q + 32'(l) < 32'(len_i);
    assign d[l*8 +: 8] = max_q - in_data_i[l*8 +: 8];
  end

  logic [EW-1:0] tbl_data;  // the entry written
`ifdef MUT_SELECT  // +MUT_SM_EXP: the entry for d = 1 written one too large (a wrong exp constant)
  logic mut_sm_exp;
  initial mut_sm_exp = $test$plusargs("MUT_SM_EXP");
  assign tbl_data = tbl_data_i + (mut_sm_exp && tbl_addr_i == 8'd1 ? 21'd1 : 21'd0);
`else
  assign tbl_data = tbl_data_i;
`endif
  lut_lanes #(.LANES(LANES), .W(EW)) u_exp (
      .clk_i, .we_i(tbl_we_i), .waddr_i(tbl_addr_i), .wdata_i(tbl_data), .q_i(d), .y_o(e)
  );

  // the word's max and its entries' sum over the row's lanes (0 is neutral for both: codes >= 0)
  logic [7:0]  word_max;
  logic [31:0] word_sum;
  always_comb begin
    word_max = '0;
    word_sum = '0;
    for (int l = 0; l < LANES; l++) begin
      if (lane_ok[l] && in_data_i[l*8 +: 8] > word_max) word_max = in_data_i[l*8 +: 8];
      if (lane_ok[l]) word_sum = word_sum + 32'(e[l*EW +: EW]);
    end
  end

  // ---------------------------------------------------------------- the division D // S
  // restoring, one quotient bit a step (as vec_unit's average): the remainder takes the dividend's
  // next bit; if it reaches S, S is subtracted and the quotient bit is 1
  logic [32:0] div_r;
  logic        div_ge;
  assign div_r = {rem_q, quo_q[51]};
  assign div_ge = div_r >= {1'b0, sum_q};

  // ---------------------------------------------------------------- per lane: the output code
  // R <= D / 2^20 < 2^32 + 1 while S >= EXP[0] = 2^20 (the max's own entry): the quotient's bits
  // above 32 are 0 in the contract
  /* verilator lint_off UNUSEDSIGNAL */
  logic [51:0] quo;
  /* verilator lint_on UNUSEDSIGNAL */
  logic [63:0] recip;   // R
  logic [63:0] half;    // 2^(P-1); P = 0 is outside the contract (then no rounding term)
  assign quo = quo_q;
`ifdef MUT_SELECT  // +MUT_SM_RECIP: R one larger than the quotient D // S
  logic mut_sm_recip;
  initial mut_sm_recip = $test$plusargs("MUT_SM_RECIP");
  assign recip = 64'(quo[32:0]) + (mut_sm_recip ? 64'd1 : 64'd0);
`else
  assign recip = 64'(quo[32:0]);
`endif
  assign half = shift_i == 6'd0 ? 64'd0 : 64'd1 << (shift_i - 6'd1);

  logic [LANES*8-1:0] y_word;
  for (genvar l = 0; l < LANES; l++) begin : g_out
    logic [63:0] p, t, y, c;
    assign p = 64'(e[l*EW +: EW]) * recip;           // < 2^54
    assign t = (p + half) >> shift_i;
    assign y = t + 64'(z_out_i);
    // max with lo first, then min with hi (numpy's clip, golden's order)
    assign c = y < 64'(lo_i) ? 64'(lo_i) : y;
    assign y_word[l*8 +: 8] = !lane_ok[l] ? z_out_i : c > 64'(hi_i) ? hi_i : c[7:0];
  end

  // ---------------------------------------------------------------- control: next state
  always_comb begin
    st_d = st_q;
    case (st_q)
      SIdle: if (start_i && !out_valid_q) st_d = SMax;
      SMax:  if (in_fire && last_word) st_d = SSum;
      SSum:  if (in_fire && last_word) st_d = SDiv;
      SDiv:  if (div_last) st_d = SOut;
      SOut:  if (in_fire && last_word) st_d = SIdle;
      default: st_d = SIdle;
    endcase
  end

  always_ff @(posedge clk_i) begin
    if (rst_i) st_q <= SIdle;
    else st_q <= st_d;
  end

  // ---------------------------------------------------------------- datapath registers
  always_ff @(posedge clk_i) begin
    case (st_q)
      SIdle: begin
        base_q <= '0;
        max_q <= '0;
        sum_q <= '0;
      end
      SMax: if (in_fire) begin
        if (word_max > max_q) max_q <= word_max;
        base_q <= last_word ? '0 : base_q + 32'(LANES);
      end
      SSum: if (in_fire) begin
        sum_q <= sum_q + word_sum;
        base_q <= last_word ? '0 : base_q + 32'(LANES);
        // the divider starts from the dividend, an empty remainder
        quo_q <= dividend_i;
        rem_q <= '0;
        step_q <= '0;
      end
      SDiv: begin
        rem_q <= div_ge ? 32'(div_r - {1'b0, sum_q}) : div_r[31:0];
        quo_q <= {quo_q[50:0], div_ge};
        step_q <= step_q + 6'd1;
      end
      SOut: if (in_fire) base_q <= base_q + 32'(LANES);
      default: ;
    endcase
  end

  // the output register: loaded by a pass-3 word, emptied when taken
  always_ff @(posedge clk_i) begin
    if (rst_i) out_valid_q <= 1'b0;
    else if (st_q == SOut && in_fire) out_valid_q <= 1'b1;
    else if (out_ready_i) out_valid_q <= 1'b0;
  end
  always_ff @(posedge clk_i) begin
    if (st_q == SOut && in_fire) out_data_q <= y_word;
  end

endmodule

`resetall
