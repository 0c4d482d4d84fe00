`resetall
`timescale 1ns / 1ps
`default_nettype none

// Weight transposer (a unit of the layer engine, docs/engine.md): between the burst reader's
// weight words and the weight bank. With W_TRANSPOSE (transpose_i) a k_tile's weights arrive as
// blocks of ROWS words, each word the ROWS channels of one token of a channel tile of K (the
// token layout, hexgen.tokens.token_layout), and each block goes into the bank transposed: bank
// word base + i holds channel i of the tile across the block's ROWS tokens, lane j of it token
// j (the fc weight order [c_tile][c_lane][k_lane], hexgen.tokens.b_weight_layout: Q K^T's K read
// where the qkv linear wrote it, hexgen.matmul). A block's words land at ROWS consecutive bank
// addresses (the load sequencer's command: buffer stride ROWS), so its transposed words go to the
// same addresses, from the block's first.
//
// One ROWS x ROWS byte array, written in one orientation and read in the other, the two swapped
// each block: a block's words are written as rows (block parity 0) or columns (parity 1); once its
// last word is in, its transposed words leave one a cycle, columns (or rows) 0 .. ROWS - 1, while
// the next block's words overwrite the lines already read: the reader gives at most one word a
// cycle, so the next block's word j never arrives before line j has left (checked below). So
// the unit never stalls the reader; a block leaves ROWS cycles after its last word.
// Scoreboard: done_o pulses when the last transposed word of a weight command is written (the
// command's last word came with last_i), so a k_tile counts as loaded only once its transposed
// words are in the bank. Without transpose_i the words and the done pass through unchanged
// (combinational). tb/engine/test_wgt_transpose.py checks the bank's words against hexgen's
// layouts of K (token layout in, fc weight order out).
module wgt_transpose #(
    parameter int ROWS = 8,
    parameter int WORD_BITS = 64,
    parameter int AW = 16          // bank address width
) (
    input  logic                 clk_i,
    input  logic                 rst_i,
    input  logic                 start_i,      // a run starts: the next word is a block's first
    input  logic                 transpose_i,  // W_TRANSPOSE

    input  logic                 in_we_i,      // a weight word from the reader
    input  logic [AW-1:0]        in_addr_i,
    input  logic [WORD_BITS-1:0] in_data_i,
    input  logic                 in_last_i,    // its command's last word (the reader's done)

    output logic                 out_we_o,     // to the weight bank
    output logic [AW-1:0]        out_addr_o,
    output logic [WORD_BITS-1:0] out_data_o,
    output logic                 done_o        // a weight command's words are all in the bank
);

  localparam int CW = ROWS > 1 ? $clog2(ROWS) : 1;

  initial begin
    if (ROWS < 1 || WORD_BITS != ROWS * 8) begin
      $error("%m: WORD_BITS = %0d must be ROWS * 8 = %0d, ROWS = %0d >= 1",
             WORD_BITS, ROWS * 8, ROWS);
      $finish;
    end
    if (AW < 1) begin
      $error("%m: AW = %0d must be >= 1", AW);
      $finish;
    end
  end

  // m holds byte (a, b) at [(a * ROWS + b) * 8 +: 8]: row a, column b (one register each, g_cell)
  logic [ROWS*ROWS*8-1:0] m;
  logic [CW-1:0]          in_cnt_q;   // the next word's line in its block
  logic                   in_par_q;   // the block arriving: 0 written as rows, 1 as columns
  logic [AW-1:0]          in_base_q;  // its first word's bank address
  logic                   em_q;       // a block leaving
  logic [CW-1:0]          em_cnt_q;   // its next line
  logic                   em_par_q;   // its parity: 0 read as columns, 1 as rows
  logic [AW-1:0]          em_base_q;
  logic                   em_last_q;  // it ends a command
  logic                   in_full;    // this word fills its block
  logic                   in_we;      // a word to transpose
  logic [AW-1:0]          base;       // the arriving block's first address
  logic [WORD_BITS-1:0]   em_word;
  logic                   rd_rows;    // the leaving block is read as rows

  assign in_we = transpose_i && in_we_i;
  assign in_full = in_we && 32'(in_cnt_q) == ROWS - 1;
  assign base = in_cnt_q == '0 ? in_addr_i : in_base_q;

`ifdef MUT_SELECT  // mutation tests (tests/test_engine_tokens.py): faults chosen at run time
  logic mut_tr;
  initial begin
    mut_tr = $test$plusargs("MUT_TR_INDEX");  // row and column index swapped on the way out
  end
  assign rd_rows = em_par_q ^ mut_tr;
`else
  assign rd_rows = em_par_q;
`endif

  // each byte's register: written by the arriving word of its row (a rows block) or of its column
  for (genvar a = 0; a < ROWS; a++) begin : g_row
    for (genvar b = 0; b < ROWS; b++) begin : g_cell
      logic [7:0] c_q;
      always_ff @(posedge clk_i) begin
        if (in_we && 32'(in_cnt_q) == (in_par_q ? b : a)) begin
          c_q <= in_par_q ? in_data_i[a*8 +: 8] : in_data_i[b*8 +: 8];
        end
      end
      assign m[(a*ROWS+b)*8 +: 8] = c_q;
    end
  end

  // the leaving block's line em_cnt_q: read as a column (a block written as rows) lane j is byte
  // (j, line), read as a row byte (line, j)
  always_comb begin
    em_word = '0;
    for (int j = 0; j < ROWS; j++) begin
      for (int i = 0; i < ROWS; i++) begin
        if (32'(em_cnt_q) == i) begin
          em_word[j*8 +: 8] = rd_rows ? m[(i * ROWS + j) * 8 +: 8] : m[(j * ROWS + i) * 8 +: 8];
        end
      end
    end
  end

  always_comb begin
    if (transpose_i) begin
      out_we_o = em_q;
      out_addr_o = em_base_q + AW'(em_cnt_q);
      out_data_o = em_word;
      done_o = em_q && em_last_q && 32'(em_cnt_q) == ROWS - 1;
    end else begin
      out_we_o = in_we_i;
      out_addr_o = in_addr_i;
      out_data_o = in_data_i;
      done_o = in_last_i;
    end
  end

  always_ff @(posedge clk_i) begin
    if (rst_i || start_i) begin
      in_cnt_q <= '0;
      in_par_q <= 1'b0;
      in_base_q <= '0;
      em_q <= 1'b0;
      em_cnt_q <= '0;
      em_par_q <= 1'b0;
      em_base_q <= '0;
      em_last_q <= 1'b0;
    end else begin
      if (em_q) begin
        em_cnt_q <= em_cnt_q + 1'b1;
        if (32'(em_cnt_q) == ROWS - 1) begin
          em_q <= 1'b0;
          em_cnt_q <= '0;
        end
      end
      if (in_we) begin
        in_base_q <= base;
        in_cnt_q <= in_full ? '0 : in_cnt_q + 1'b1;
      end
      if (in_full) begin  // the block leaves from the next cycle (the previous one has just left)
        in_par_q <= !in_par_q;
        em_q <= 1'b1;
        em_cnt_q <= '0;
        em_par_q <= in_par_q;
        em_base_q <= base;
        em_last_q <= in_last_i;
      end
    end
  end

`ifndef SYNTHESIS
  // the one-array scheme's condition: a word overwrites only lines its predecessor block has left,
  // and a weight command is whole blocks
  logic armed_q;  // a reset was seen (before it, Verilator's random initial values break the rule)

`include "sim_error.svh"

  initial armed_q = 1'b0;

  always @(posedge clk_i) begin
    if (rst_i) begin
      armed_q <= 1'b1;
    end else if (armed_q && !start_i && transpose_i && in_we_i) begin
      if (em_q && in_cnt_q > em_cnt_q) begin
        broken("a block's word arrived before its line of the previous block left");
      end
      if (in_last_i && !in_full) broken("a weight command ended inside a block of ROWS words");
    end
  end
`endif

endmodule

`resetall
