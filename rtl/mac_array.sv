`resetall
`timescale 1ns / 1ps
`default_nettype none

// Output-stationary MAC array: ROWS x COLS int8 x 9-bit multipliers with int32 accumulators.
//
// Dataflow (docs/rtl.md): the array computes one tile C[ROWS x COLS] of C = W . (A - z):
//   rows    = output channels  (row r holds output channel m0 + r of the tile)
//   columns = output pixels    (column c holds output pixel n0 + c of the tile)
//   per beat k (one step of the dot-product dimension: input channel x kernel position):
//     in_w_i  broadcasts one weight column  W[m0 .. m0+ROWS-1, k]  along the rows,
//     in_a_i  broadcasts one activation row A[k, n0 .. n0+COLS-1]  down the columns,
//     every cell (r, c) adds (a[c] - z) * w[r] to its accumulator, which stays in place.
// The zero point is subtracted in the array: (a - z) is a 9-bit signed operand in -255..255.
// Per-cell activations (in_cells_i = 1, for depthwise layers): cell (r, c) takes its own
// activation, byte r of column c's vector in in_a_cells_i, instead of the column's broadcast
// in_a_i[c]: row r then sees only channel r, so one beat is one kernel tap for ROWS channels.
//
// Control, per beat (sideband of in_valid_i):
//   in_first_i  clear: the accumulators start from this beat's products (acc = p)
//   in_last_i   drain: after adding this beat, the tile's sums move to the drain bank and are
//               shifted out one column (one output pixel, ROWS channels) per out_valid_o/out_ready_i
//               handshake, columns 0 .. in_cols_i-1 (in_cols_i = 0 means all COLS; partial tiles
//               drain only their real columns). The next tile accumulates meanwhile (double buffer).
//   A tile of K beats is: first on beat 0, last on beat K-1 (both on the same beat when K = 1).
// Partial tiles: rows past the last output channel get zero weights (their outputs are ignored);
// columns past the last pixel are not drained.
// Latency 3 (operand, product and accumulator/drain-bank registers): a last beat accepted at edge t
// raises out_valid_o after edge t+2, so its first column can be taken at edge t+3.
// Backpressure: in_ready_o falls only when a last beat reaches the accumulators while the drain
// bank still holds an undrained tile.
module mac_array #(
    parameter int ROWS = 4,
    parameter int COLS = 4,
    localparam int CW = $clog2(COLS + 1)
) (
    input  logic                 clk_i,
    input  logic                 rst_i,

    input  logic                 in_valid_i,
    output logic                 in_ready_o,
    input  logic [ROWS*8-1:0]    in_w_i,      // int8 weights, row r at [r*8 +: 8]
    input  logic [COLS*8-1:0]    in_a_i,      // uint8 activations, column c at [c*8 +: 8]
    input  logic                 in_cells_i,  // 1: per-cell activations from in_a_cells_i
    input  logic [COLS*ROWS*8-1:0] in_a_cells_i,  // cell (r, c) at [(c*ROWS + r)*8 +: 8]
    input  logic [7:0]           in_z_i,      // activation zero point
    input  logic                 in_first_i,
    input  logic                 in_last_i,
    input  logic [CW-1:0]        in_cols_i,

    output logic                 out_valid_o,
    input  logic                 out_ready_i,
    output logic [ROWS*32-1:0]   out_acc_o,   // int32 sums of one column, row r at [r*32 +: 32]
    output logic [CW-1:0]        out_col_o,
    output logic                 out_last_o
);

  initial begin
    if (ROWS < 1 || COLS < 1) begin
      $error("%m: ROWS = %0d and COLS = %0d must be >= 1", ROWS, COLS);
      $finish;
    end
  end

  // ---------------------------------------------------------------- control
  logic          v_q1, v_q2, first_q1, first_q2, last_q1, last_q2;
  logic [CW-1:0] cols_q1, cols_q2;
  logic          bank_full_q;
  logic [CW-1:0] dcol_q, dcols_q;
  logic          out_fire, drain_done, adv, commit, load_bank;

  assign out_fire = bank_full_q & out_ready_i;
  assign drain_done = out_fire & out_last_o;
  // The whole input pipeline advances unless a last beat would overwrite an undrained bank.
  assign adv = ~(v_q2 & last_q2 & bank_full_q & ~drain_done);
  assign in_ready_o = adv;
  assign commit = v_q2 & adv;
  assign load_bank = commit & last_q2;

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      v_q1 <= 1'b0;
      v_q2 <= 1'b0;
    end else if (adv) begin
      v_q1 <= in_valid_i;
      v_q2 <= v_q1;
    end
  end

  always_ff @(posedge clk_i) begin
    if (adv) begin
      first_q1 <= in_first_i;
      last_q1  <= in_last_i;
      /* verilator lint_off CMPCONST */  // constant when COLS = 2^CW - 1 (e.g. COLS = 1)
      cols_q1  <= (in_cols_i == '0 || in_cols_i > CW'(COLS)) ? CW'(COLS) : in_cols_i;
      /* verilator lint_on CMPCONST */
      first_q2 <= first_q1;
      last_q2  <= last_q1;
      cols_q2  <= cols_q1;
    end
  end

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      bank_full_q <= 1'b0;
      dcol_q      <= '0;
      dcols_q     <= '0;
    end else if (load_bank) begin
      bank_full_q <= 1'b1;
      dcol_q      <= '0;
      dcols_q     <= cols_q2;
    end else if (out_fire) begin
      if (out_last_o) bank_full_q <= 1'b0;
      dcol_q <= dcol_q + 1'b1;
    end
  end

  assign out_valid_o = bank_full_q;
  assign out_col_o = dcol_q;
  assign out_last_o = (dcol_q == dcols_q - 1'b1);

  // ---------------------------------------------------------------- cells
  // Stage 1: the operands (w, a - z); stage 2: their product; stage 3: the sum. Each cell keeps its
  // own registers and does its arithmetic in its clocked block: as continuous assigns over shared
  // buses, Icarus evaluated the adds and multiplies bit by bit at every operand change, and sliced
  // the whole array's buses for each cell.
  logic [ROWS*8-1:0] w_q1;
  always_ff @(posedge clk_i) if (adv) w_q1 <= in_w_i;

  // the sums of the last tile, cell (r, c) at [(c*ROWS + r)*32 +: 32]: one variable the cells write
  // (a bus assembled from per-column parts cost Icarus the whole bus, bit by bit, at each part's change)
  logic [COLS*ROWS*32-1:0] bank_q;

`ifdef MUT_SELECT  // mutation tests (tests/test_diagnose_sim.py): faults chosen at run time, +MUT_<name>
  logic mut_pe;
  initial begin
    mut_pe = $test$plusargs("MUT_PE");  // the cell at row 1, column 2 adds nothing
  end
`endif
  for (genvar c = 0; c < COLS; c++) begin : g_col
    for (genvar r = 0; r < ROWS; r++) begin : g_row
      logic        [7:0]  a;
      logic signed [7:0]  w;
      logic signed [8:0]  d_q1;  // a - z
      logic signed [16:0] p_q2;  // w * (a - z): |p| <= 255 * 128 fits 17 bits signed
      logic [31:0] acc_q;
      assign a = in_cells_i ? in_a_cells_i[(c*ROWS + r)*8 +: 8] : in_a_i[c*8 +: 8];
      assign w = w_q1[r*8 +: 8];

      // a signed 8 x 9-bit product (sign-extended operands: synthesis sees the narrow multiplier)
      always_ff @(posedge clk_i) begin
        if (adv) d_q1 <= $signed({1'b0, a} - {1'b0, in_z_i});
`ifdef MUT_SELECT
        if (adv) p_q2 <= (mut_pe && r == 1 && c == 2) ? 17'sd0 : 17'(w) * 17'(d_q1);
`else
        if (adv) p_q2 <= 17'(w) * 17'(d_q1);
`endif
        if (commit) acc_q <= (first_q2 ? 32'd0 : acc_q) + {{15{p_q2[16]}}, p_q2};
        if (load_bank) bank_q[(c*ROWS + r)*32 +: 32] <= (first_q2 ? 32'd0 : acc_q) + {{15{p_q2[16]}}, p_q2};
      end
    end
  end

  assign out_acc_o = bank_q[dcol_q*ROWS*32 +: ROWS*32];

`ifndef SYNTHESIS
  // protocol checkers (rtl/vr_check.sv, rtl/outstanding_check.sv; docs/rtl.md, "Protocol checkers"): the
  // column sums out
  vr_check #(.W(ROWS * 32 + CW + 1)) u_chk_out (.clk_i, .rst_i, .valid_i(out_valid_o), .ready_i(out_ready_i),
                                               .data_i({out_acc_o, out_col_o, out_last_o}));
`endif

endmodule

`resetall
