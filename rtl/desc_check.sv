`resetall
`timescale 1ns / 1ps
`default_nettype none

// Layer descriptor decode and check (a unit of the layer engine, docs/engine.md).
//
// From the descriptor registers as written: the layer's derived sizes (channel and output-channel
// tiles, output pixels, steps per pixel tile, the words it needs in each buffer) and the first
// field the engine cannot run (its CSR address; 0 if it can run them all). The rule is hexgen's
// (hexgen/rules.py: engine_refusal, the one definition), mirrored here field by field and in the
// same order; tb/engine/test_desc_check.py checks the two agree on random and edge descriptors.
// Combinational.
module desc_check #(
    parameter int ROWS = 8,
    parameter int WORD_BITS = 64,
    parameter int ACT_WORDS = 4096,
    parameter int WGT_WORDS = 2048,
    parameter int REC_WORDS = 256,
    parameter int MAX_K = 16,
    parameter int POOL_MAX_K = 255,
    parameter int MAX_UPSAMPLE = 255,  // an upsample's largest factor (hexgen.rules.MAX_UPSAMPLE)
    parameter int WGT_WIDTHS = 'h114,  // bit b set: the build unpacks b-bit weights
    parameter int PIX_W = 24,          // the pixel counters' width (the description's pixel_bits)
    parameter int ROW_WORDS = 256,     // the row unit's staging buffer words (row_buf_words)
    parameter int LN_TILES = 64,       // its LayerNorm record buffer's channel tiles (ln_tiles)
    parameter int MAX_BURST = 16,      // a block of tokens is one read burst per channel tile
    // the longest softmax row and the widest LayerNorm (hexgen.rules.SM_MAX_ROW, LN_MAX_C: golden's)
    parameter int SM_MAX_ROW = 4095,
    parameter int LN_MAX_C = 2580
) (
    input  logic [15:0] kind_i,
    input  logic [15:0] in_c_i,
    input  logic [15:0] in_h_i,
    input  logic [15:0] in_w_i,
    input  logic [15:0] out_c_i,
    input  logic [15:0] out_h_i,
    input  logic [15:0] out_w_i,
    input  logic [15:0] kh_i,
    input  logic [15:0] kw_i,
    input  logic [15:0] sy_i,
    input  logic [15:0] sx_i,
    input  logic [15:0] pad_top_i,
    input  logic [15:0] pad_bottom_i,
    input  logic [15:0] pad_left_i,
    input  logic [15:0] pad_right_i,
    input  logic [15:0] groups_i,
    input  logic [15:0] band_rows_i,
    input  logic [15:0] group_kt_i,
    input  logic [5:0]  add_shift_i,
    input  logic [3:0]  w_bits_i,
    input  logic [7:0]  dil_y_i,      // the kernel's tap spacing (dilation)
    input  logic [7:0]  dil_x_i,
    input  logic [5:0]  row_shift_i,  // a softmax's shift P, a LayerNorm's sqrt_shift
    input  logic        w_tr_i,       // W_TRANSPOSE: the weights read transposed (rtl/wgt_transpose.sv)
    input  logic [7:0]  lo_i,
    input  logic [7:0]  hi_i,

    output logic        is_dw_o,      // depthwise: one output channel per input channel
    output logic        is_vec_o,     // add, pooling, upsample, concat, GELU: the vector unit's layer
    output logic        is_row_o,     // softmax, LayerNorm: the row unit's layer
    output logic [15:0] ct_in_o,      // input channel tiles (ROWS channels each)
    output logic [15:0] kt_out_o,     // output channel tiles
    output logic [PIX_W-1:0] npix_o,  // output pixels
    output logic [15:0] steps_o,      // steps per pixel tile: conv (c_tile, ky, kx); depthwise (ky, kx)
    output logic [15:0] kh_span_o,    // input rows one window covers: DIL_Y x (KH - 1) + 1
    output logic [31:0] act_need_o,   // activation buffer words: one pass's input rows, halo included
    output logic [31:0] wgt_need_o,   // weight bank words: one k_tile of weights
    output logic [31:0] out_need_o,   // output words
    output logic [7:0]  bad_field_o
);

  /* verilator lint_off UNUSEDPARAM */  // the CSR map: this unit uses the addresses and kinds only
`include "accel_csr.svh"
  /* verilator lint_on UNUSEDPARAM */

  initial begin
    if (ROWS < 1 || MAX_K < 1 || (ROWS * 64) % WORD_BITS != 0) begin
      $error("%m: ROWS = %0d and MAX_K = %0d must be >= 1 and ROWS * 64 a multiple of WORD_BITS = %0d", ROWS, MAX_K, WORD_BITS);
      $finish;
    end
    if (PIX_W < 16 || PIX_W > 32) begin
      $error("%m: PIX_W = %0d must be 16..32", PIX_W);
      $finish;
    end
  end

  logic        is_fc, is_add, is_avg, is_up, is_cat, is_gelu, is_one, is_ln;
  logic [31:0] k_max;
  logic [31:0] npix32, steps32, oh_expect, ow_expect;
  assign is_dw_o = kind_i == KIND_DEPTHWISE;
  assign is_fc = kind_i == KIND_FC;
  assign is_add = kind_i == KIND_ADD;
  assign is_avg = kind_i == KIND_AVGPOOL;
  assign is_up = kind_i == KIND_UPSAMPLE;
  assign is_cat = kind_i == KIND_CONCAT;
  assign is_gelu = kind_i == KIND_GELU;
  assign is_ln = kind_i == KIND_LAYERNORM;
  assign is_row_o = is_ln || kind_i == KIND_SOFTMAX;
  // an add's shape rules (GELU: an add of one input; softmax, LayerNorm: a token's channels in and out)
  assign is_one = is_add || is_gelu || is_row_o;
  assign is_vec_o = is_add || kind_i == KIND_MAXPOOL || is_avg || is_up || is_cat || is_gelu;
  // an upsample's STRIDE registers hold its factors, up to MAX_UPSAMPLE; every other kind's stride is 1..16 (hexgen.rules.MAX_STRIDE)
  logic [15:0] s_max;
  assign s_max = is_up ? 16'(MAX_UPSAMPLE) : 16'd16;
  assign k_max = is_vec_o ? 32'(POOL_MAX_K) : 32'(MAX_K);
  assign ct_in_o = 16'((32'(in_c_i) + ROWS - 1) / ROWS);
  assign kt_out_o = 16'((32'(out_c_i) + ROWS - 1) / ROWS);
  assign npix32 = 32'(out_h_i) * 32'(out_w_i);
  assign npix_o = npix32[PIX_W-1:0];
  // the largest output image the pixel counters count: 2^PIX_W - 1 (64-bit: PIX_W may be 32)
  localparam logic [63:0] PIX_MAX = (64'd1 << PIX_W) - 64'd1;
  assign steps32 = is_dw_o ? 32'(kh_i) * 32'(kw_i) : 32'(ct_in_o) * 32'(kh_i) * 32'(kw_i);
  assign steps_o = steps32[15:0];
  // a dilated window covers DIL x (K - 1) + 1 input rows / columns (golden.arith.dilated_span)
  logic [31:0] kh_span, kw_span;
  assign kh_span = kh_i == 0 ? 32'd0 : 32'(dil_y_i) * (32'(kh_i) - 32'd1) + 32'd1;
  assign kw_span = kw_i == 0 ? 32'd0 : 32'(dil_x_i) * (32'(kw_i) - 32'd1) + 32'd1;
  assign kh_span_o = 16'(kh_span);
  // a band of BAND_ROWS output rows reads at most (BAND_ROWS - 1) * STRIDE_Y + the window's span of
  // input rows (hexgen.rules.band_in_rows), never more than the image
  logic [31:0] band_span, band_in_rows;
  assign band_span = (band_rows_i == 0 ? 32'd0 : 32'(band_rows_i) - 32'd1) * 32'(sy_i) + kh_span;
  // ... or, one output row of a dilated conv, its KH tap rows only (hexgen.rules.pass_in_rows)
  logic        tap_rows;
  logic [31:0] rows_read;
  assign tap_rows = band_rows_i == 16'd1 && dil_y_i > 8'd1;
  assign rows_read = tap_rows ? 32'(kh_i) : band_span;
  assign band_in_rows = rows_read < 32'(in_h_i) ? rows_read : 32'(in_h_i);
  // (a depthwise pass loads only its group's GROUP_KT channel tiles)
  assign act_need_o = (is_dw_o ? 32'(group_kt_i) : 32'(ct_in_o)) * band_in_rows * 32'(in_w_i);
  // weight vectors of a k_tile: one word each at 8 bits; packed 4-bit two and 2-bit four to a word,
  // the k_tile's block padded to whole words (hexgen.rules.weight_words_per_k_tile)
  logic [31:0] wgt_vectors;
  localparam logic [15:0] WIDTHS = 16'(WGT_WIDTHS);
  assign wgt_vectors = is_dw_o ? steps32 : steps32 * ROWS;
  assign wgt_need_o = w_bits_i == 4'd4 ? (wgt_vectors + 32'd1) >> 1
                    : w_bits_i == 4'd2 ? (wgt_vectors + 32'd3) >> 2
                    : wgt_vectors;
  assign out_need_o = 32'(kt_out_o) * npix32;
  logic [31:0] h_padded, w_padded;  // the input with its padding
  assign h_padded = 32'(in_h_i) + 32'(pad_top_i) + 32'(pad_bottom_i);
  assign w_padded = 32'(in_w_i) + 32'(pad_left_i) + 32'(pad_right_i);
  // the row unit (hexgen.rules.row_refusal): a block of BAND_ROWS x IN_W tokens, each row ct_in words
  logic [31:0] row_block;
  assign row_block = 32'(band_rows_i) * 32'(in_w_i);
  assign oh_expect = (sy_i == 0) ? 32'd0 : (h_padded - kh_span) / 32'(sy_i) + 1;
  assign ow_expect = (sx_i == 0) ? 32'd0 : (w_padded - kw_span) / 32'(sx_i) + 1;

  always_comb begin
    bad_field_o = 8'd0;
    // the row unit's kinds need whole 32-bit exp table entries in a word (accel_top builds no row unit otherwise)
    if (kind_i != KIND_CONV && kind_i != KIND_DEPTHWISE && kind_i != KIND_FC && !is_vec_o && !(is_row_o && ROWS % 4 == 0))
      bad_field_o = CSR_KIND;
    else if (in_c_i == 0) bad_field_o = CSR_IN_C;
    else if (in_h_i == 0) bad_field_o = CSR_IN_H;
    else if (in_w_i == 0) bad_field_o = CSR_IN_W;
    else if (out_c_i == 0) bad_field_o = CSR_OUT_C;
    else if (kh_i == 0 || 32'(kh_i) > k_max || ((is_fc || is_one || is_up || is_cat) && kh_i != 1)) bad_field_o = CSR_KH;
    else if (kw_i == 0 || 32'(kw_i) > k_max || ((is_fc || is_one || is_up || is_cat) && kw_i != 1)) bad_field_o = CSR_KW;
    // the transposed weight read: 8-bit weights, a 1 x 1 conv or an fc on the array
    else if (w_tr_i && (is_vec_o || is_row_o || is_dw_o || kh_i != 1 || kw_i != 1 || w_bits_i != 4'd8)) bad_field_o = CSR_W_TRANSPOSE;
    else if (sy_i == 0 || sy_i > s_max || ((is_one || is_cat) && sy_i != 1)) bad_field_o = CSR_STRIDE_Y;
    else if (sx_i == 0 || sx_i > s_max || ((is_one || is_cat) && sx_i != 1)) bad_field_o = CSR_STRIDE_X;
    // dilation: 1..255 (the registers' 8 bits), 1 for fc, add, pooling, softmax and LayerNorm
    else if (dil_y_i == 0 || ((is_fc || is_vec_o || is_row_o) && dil_y_i != 1)) bad_field_o = CSR_DIL_Y;
    else if (dil_x_i == 0 || ((is_fc || is_vec_o || is_row_o) && dil_x_i != 1)) bad_field_o = CSR_DIL_X;
    // padding below the window's span
    else if (32'(pad_top_i) >= kh_span || ((is_avg || is_up) && pad_top_i != 0)) bad_field_o = CSR_PAD_TOP;
    else if (32'(pad_bottom_i) >= kh_span || ((is_avg || is_up) && pad_bottom_i != 0)) bad_field_o = CSR_PAD_BOTTOM;
    else if (32'(pad_left_i) >= kw_span || ((is_avg || is_up) && pad_left_i != 0)) bad_field_o = CSR_PAD_LEFT;
    else if (32'(pad_right_i) >= kw_span || ((is_avg || is_up) && pad_right_i != 0)) bad_field_o = CSR_PAD_RIGHT;
    else if ((is_vec_o || is_row_o) && groups_i != 1) bad_field_o = CSR_GROUPS;
    // a concat run's output starts OUT_C - IN_C lanes into its first channel tile (fewer than ROWS)
    else if (is_cat ? (out_c_i < in_c_i || 32'(out_c_i - in_c_i) >= 32'(ROWS)) : ((is_vec_o || is_row_o) && out_c_i != in_c_i))
      bad_field_o = CSR_OUT_C;
    else if (!is_vec_o && (is_dw_o ? (groups_i != in_c_i || out_c_i != in_c_i) : (groups_i != 1))) bad_field_o = CSR_GROUPS;
    // an upsample's output is its input times the factors; any other's follows the conv formula
    else if (is_up ? 32'(out_h_i) != 32'(in_h_i) * 32'(sy_i) : (h_padded < kh_span || 32'(out_h_i) != oh_expect))
      bad_field_o = CSR_OUT_H;
    else if (is_up ? 32'(out_w_i) != 32'(in_w_i) * 32'(sx_i) : (w_padded < kw_span || 32'(out_w_i) != ow_expect))
      bad_field_o = CSR_OUT_W;
    // the vector unit's layers run in one pass
    else if (band_rows_i == 0 || band_rows_i > out_h_i || (is_vec_o && band_rows_i != out_h_i)) bad_field_o = CSR_BAND_ROWS;
    else if (group_kt_i == 0 || group_kt_i > kt_out_o || ((is_vec_o || is_row_o) && group_kt_i != kt_out_o))
      bad_field_o = CSR_GROUP_KT;
    // the engine's pixel counters are PIX_W bits wide (the input image is addressed, not counted)
    else if (64'(npix32) > PIX_MAX) bad_field_o = CSR_OUT_H;
    // the vector unit reads memory directly: no buffer to fit
    else if ((is_add || is_cat) && add_shift_i == 0) bad_field_o = CSR_ADD_SHIFT;
    else if (is_vec_o) bad_field_o = lo_i > hi_i ? CSR_LO : 8'd0;
    // the row unit reads memory directly, a block of tokens at a time: the units' row lengths, its buffers
    else if (is_ln && (in_c_i < 2 || 32'(in_c_i) > 32'(LN_MAX_C))) bad_field_o = CSR_IN_C;
    else if (is_row_o && !is_ln && 32'(in_c_i) > 32'(SM_MAX_ROW)) bad_field_o = CSR_IN_C;
    else if (is_ln && 32'(ct_in_o) > 32'(LN_TILES)) bad_field_o = CSR_IN_C;
    else if (is_row_o && 32'(ct_in_o) > 32'(ROW_WORDS)) bad_field_o = CSR_IN_C;
    else if (is_row_o && (row_block > 32'(MAX_BURST) || row_block * 32'(ct_in_o) > 32'(ROW_WORDS))) bad_field_o = CSR_BAND_ROWS;
    // sqrt_shift 0..23 (golden.tf_arith.LN_SQRT_ITERS - 1), a softmax shift 1..63
    else if (is_row_o && (is_ln ? row_shift_i > 6'd23 : row_shift_i == 6'd0)) bad_field_o = CSR_ROW_SHIFT;
    else if (is_row_o) bad_field_o = lo_i > hi_i ? CSR_LO : 8'd0;
    // the step counter is 16 bits wide
    else if (steps32 > 32'd65535) bad_field_o = CSR_IN_C;
    else if (act_need_o > 32'(ACT_WORDS)) bad_field_o = CSR_BAND_ROWS;
    else if (!WIDTHS[w_bits_i]) bad_field_o = CSR_W_BITS;
    else if (wgt_need_o > 32'(WGT_WORDS)) bad_field_o = CSR_IN_C;
    // the records of one group of output-channel tiles: ROWS 64-bit records per k_tile, packed in words
    else if (32'(group_kt_i) * 32'(ROWS * 64 / WORD_BITS) > REC_WORDS) bad_field_o = CSR_GROUP_KT;
    else if (lo_i > hi_i) bad_field_o = CSR_LO;
  end

endmodule

`resetall
