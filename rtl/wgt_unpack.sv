`resetall
`timescale 1ns / 1ps
`default_nettype none

// Weight unpacker (a unit of the layer engine, docs/engine.md): one weight-bank word to the ROWS
// int8 weights of one beat.
//
// hexgen stores a layer's weights at W_BITS bits (hexgen.plan; register W_BITS): at 8 bits a word
// is one weight vector (lane r, output channel r of the tile, in bits [8r +: 8]); at 4 and 2 bits
// it holds 2 and 4 vectors back to back, vector s in bits [s * ROWS * W_BITS +: ROWS * W_BITS] and
// its lane r in the W_BITS bits from r * W_BITS up (hexgen.layout's little-endian bit stream). The
// unit takes vector sel_i of the word and sign-extends each lane to 8 bits, so the MAC array sees
// the same int8 weights whatever the storage width. Only the widths the build unpacks (WGT_WIDTHS,
// bit b for b-bit weights: the hardware description's weight_bits) have a path; desc_check refuses
// the others before a layer runs, and this unit gives zeros for them. With xor_i (register W_XOR)
// an 8-bit weight's bit 7 is inverted: a matmul's b operand, uint8 codes of zero point 128 as its
// producer wrote them, read as the int8 code - 128 (hexgen.matmul). Combinational.
// tb/engine/test_wgt_unpack.py checks every lane of every vector at every width against
// hexgen.layout's packing.
module wgt_unpack #(
    parameter int ROWS = 8,
    parameter int WORD_BITS = 64,
    parameter int WGT_WIDTHS = 'h114
) (
    input  logic [WORD_BITS-1:0] word_i,
    input  logic [3:0]           w_bits_i,
    input  logic                 xor_i,     // 8-bit weights: bit 7 of each inverted (code ^ 0x80: a code of zero point 128 as int8)
    input  logic [1:0]           sel_i,     // the vector within the word: 0..8 / W_BITS - 1
    output logic [ROWS*8-1:0]    vec_o
);

  initial begin
    if (WORD_BITS != ROWS * 8) begin
      $error("%m: WORD_BITS = %0d must be ROWS * 8 = %0d (one 8-bit weight vector per word)", WORD_BITS, ROWS * 8);
      $finish;
    end
    if ((WGT_WIDTHS & ~'h114) != 0 || WGT_WIDTHS == 0) begin
      $error("%m: WGT_WIDTHS = 'h%0h: bits 8, 4 and 2 only (8-, 4- and 2-bit weights), at least one", WGT_WIDTHS);
      $finish;
    end
  end

  localparam bit HAS8 = WGT_WIDTHS[8];
  localparam bit HAS4 = WGT_WIDTHS[4];
  localparam bit HAS2 = WGT_WIDTHS[2];

  logic [ROWS*8-1:0] v8, v4, v2;
  logic [ROWS*4-1:0] sub4;
  logic [ROWS*2-1:0] sub2;
  assign v8 = HAS8 ? word_i ^ (xor_i ? {ROWS{8'h80}} : '0) : '0;
  assign sub4 = word_i[sel_i[0]*ROWS*4 +: ROWS*4];
  assign sub2 = word_i[sel_i*ROWS*2 +: ROWS*2];
  for (genvar r = 0; r < ROWS; r++) begin : g_lane
    assign v4[r*8 +: 8] = HAS4 ? {{4{sub4[r*4+3]}}, sub4[r*4 +: 4]} : 8'd0;
    assign v2[r*8 +: 8] = HAS2 ? {{6{sub2[r*2+1]}}, sub2[r*2 +: 2]} : 8'd0;
  end

  always_comb begin
    case (w_bits_i)
      4'd8: vec_o = v8;
      4'd4: vec_o = v4;
      4'd2: vec_o = v2;
      default: vec_o = '0;
    endcase
  end

endmodule

`resetall
