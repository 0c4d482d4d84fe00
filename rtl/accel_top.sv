`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "accel_hw.svh"

// Runtime-programmed int8 layer accelerator (docs/engine.md).
//
// One build runs every conv / depthwise / pointwise / fully connected layer, residual add, pooling,
// upsample, concat runs and GELU on its vector unit, and softmax and LayerNorm on its row unit
// (ROWS a multiple of 4): the layer is described in control/status
// registers (CSR map: rtl/accel_csr.svh, generated from tb/engine/csr.py), `start` runs it on its own,
// `done` (or `error`) ends it. A layer larger than the buffers runs in passes (bands of output
// rows, groups of output-channel tiles; rtl/band_seq.sv) that the engine walks by itself.
//
// Data (memory layout: hexgen, docs/memory-map.md; one word = one ROWS-channel vector):
//   input  [c_tile][y][x][c_lane]                  into the activation buffer, row by row (a pass's rows;
//                                                  depthwise channel tile by channel tile)
//   weights[k_tile][c_tile][ky][kx][c_lane][k_lane] one k_tile per weight bank (two banks)
//           depthwise: [k_tile][ky][kx][k_lane]
//   bias / scale: one 64-bit record per channel, [k_tile][k_lane], ROWS records per k_tile packed
//           into REC_WPK = ROWS * 64 / WORD_BITS words (8 for any ROWS, as WORD_BITS = ROWS * 8)
//   output [k_tile][y][x][k_lane]                  one stream over the pass's region (runs a stride apart)
// Dataflow (output-stationary, rows = output channels, columns = output pixels; docs/engine.md):
// four units run at once, linked by scoreboards. The reader loads records, weights (the next
// k_tile's while the current one computes; with W_TRANSPOSE, a token tensor's blocks of ROWS
// words transposed on their way into the bank by rtl/wgt_transpose.sv) and input rows; the gather unit copies the input
// vectors of each step (c_tile, ky, kx) of each pixel tile into one of two register sets; the
// compute unit issues the other set's beats to the MAC array, one beat per input channel c of
// the tile (the weight vector down the rows, lane c of every column's vector across them), or,
// depthwise, one beat per step with per-cell activations (row r takes lane r of its column's
// vector); the array drains one pixel (ROWS sums) per cycle into the requantizer, whose output
// vectors stream to external memory through a FIFO and the writer. The memory port's read side
// (reader, vector unit, row unit) and write side (writer) work at the same time.
module accel_top #(
    parameter int ROWS = `HW_ROWS,
    parameter int COLS = `HW_COLS,
    parameter int WORD_BITS = `HW_WORD_BITS,
    parameter int ADDR_W = 24,
    parameter int ACT_WORDS = `HW_ACT_WORDS,
    parameter int WGT_WORDS = `HW_WGT_WORDS,
    parameter int REC_WORDS = `HW_REC_WORDS,
    parameter int WGT_WIDTHS = `HW_WGT_WIDTHS,  // bit b set: b-bit weights are unpacked (weight_bits)
    parameter int PIX_W = `HW_PIX_W,            // the pixel counters' width (pixel_bits)
    parameter int ROW_WORDS = `HW_ROW_WORDS,    // the row unit's staging buffers (row_buf_words)
    parameter int LN_TILES = `HW_LN_TILES,      // its LayerNorm record buffer's channel tiles (ln_tiles)
    parameter int MAX_K = 16,
    parameter int MAX_BURST = 16,
    localparam int ACT_AW = $clog2(ACT_WORDS),
    localparam int WGT_AW = $clog2(WGT_WORDS),
    localparam int REC_AW = $clog2(REC_WORDS),
    // buffer addresses on the reader's path: wide enough for any buffer (two weight banks), at
    // least the 16 bits of the descriptor's sizes
    localparam int BUF_SPAN = $clog2(ACT_WORDS + 2 * WGT_WORDS + REC_WORDS),
    localparam int BUF_AW = BUF_SPAN > 16 ? BUF_SPAN : 16,
    localparam int REC_WPK = ROWS * 64 / WORD_BITS,  // record words per k_tile (ROWS 64-bit records)
    localparam int CW = $clog2(COLS + 1)
) (
    input  logic                 clk_i,
    input  logic                 rst_i,

    // CSR port: write on csr_we_i at the clock edge; read is combinational
    input  logic                 csr_we_i,
    input  logic [7:0]           csr_addr_i,
    input  logic [31:0]          csr_wdata_i,
    output logic [31:0]          csr_rdata_o,

    output logic                 busy_o,
    output logic                 done_o,
    output logic                 error_o,
    output logic [3:0]           state_o,

    // external memory port (word addresses): read and write channels independent, as on AXI
    output logic                 rreq_valid_o,
    input  logic                 rreq_ready_i,
    output logic [ADDR_W-1:0]    rreq_addr_o,
    output logic [7:0]           rreq_len_o,
    input  logic                 rd_valid_i,
    output logic                 rd_ready_o,
    input  logic [WORD_BITS-1:0] rd_data_i,
    output logic                 wreq_valid_o,
    input  logic                 wreq_ready_i,
    output logic [ADDR_W-1:0]    wreq_addr_o,
    output logic [7:0]           wreq_len_o,
    output logic                 wr_valid_o,
    input  logic                 wr_ready_i,
    output logic [WORD_BITS-1:0] wr_data_o
);

  /* verilator lint_off UNUSEDPARAM */  // the CSR map: the kinds are desc_check's
`include "accel_csr.svh"
  /* verilator lint_on UNUSEDPARAM */

  // Each unit checks the sizes it depends on (word width, banks, buffer depths); here what
  // only the top knows: the ranges of the descriptor's and the memory port's fields.
  initial begin
    if (ROWS < 1 || MAX_K < 1) begin
      $error("%m: ROWS = %0d and MAX_K = %0d must be >= 1", ROWS, MAX_K);
      $finish;
    end
    // buffer depths: a limit of this engine (the reader's buffer addresses, BUF_AW, stay within 26 bits)
    if (ACT_WORDS > (1 << 24) || WGT_WORDS > (1 << 24) || REC_WORDS > (1 << 24)) begin
      $error("%m: ACT_WORDS = %0d, WGT_WORDS = %0d and REC_WORDS = %0d must be at most 2^24", ACT_WORDS, WGT_WORDS, REC_WORDS);
      $finish;
    end
    if (ADDR_W < 1 || ADDR_W > 32) begin
      $error("%m: ADDR_W = %0d must be 1..32 (the base-address registers are 32 bits)", ADDR_W);
      $finish;
    end
    if (MAX_BURST < 1 || MAX_BURST > 255) begin
      $error("%m: MAX_BURST = %0d must be 1..255 (8-bit burst lengths on the memory port)", MAX_BURST);
      $finish;
    end
  end

  // ------------------------------------------------------------------ registers and main FSM
  logic [15:0] kind, in_c, in_h, in_w, out_c, out_h, out_w, kh, kw, sy, sx, groups;
  logic [15:0] pad_top, pad_left, pad_bottom, pad_right, band_rows, group_kt;
  logic [31:0] w_base, b_base, s_base, in_base, out_base, in2_base;
  logic [7:0]  z_in, z_out, lo, hi, z_in2;
  logic [30:0] add_a0, add_b0;
  logic [5:0]  add_shift;
  logic [3:0]  w_bits;                       // the width the weights are stored at (W_BITS)
  logic [7:0]  dil_y, dil_x;                 // the kernel's tap spacing (DIL_Y, DIL_X)
  logic        w_xor;                        // 8-bit weights' bit 7 inverted (W_XOR)
  logic [31:0] w_kt_stride;                  // words between output-channel tiles' weights (W_KT_STRIDE; 0: back to back)
  logic        w_tr;                         // weights read as ROWS-word blocks and transposed (W_TRANSPOSE)
  logic [51:0] row_k;                        // the row unit's constant (ROW_K_HI, ROW_K_LO) and shift
  logic [5:0]  row_shift;
  logic [15:0] kh_span;                      // input rows one window covers (desc_check)
  logic        start, run_start, run, next_pass, last_pass;
  logic [31:0] pass_id;
  logic [7:0]  bad_field;                    // desc_check: first field the engine cannot run
  logic        rq_ovf, pass_written;
  logic [31:0] beats, macs, words_rd, words_wr, units;

  ctrl_regs #(.ROWS(ROWS), .COLS(COLS), .ACT_WORDS(ACT_WORDS), .WGT_WORDS(WGT_WORDS), .REC_WORDS(REC_WORDS),
              .WGT_WIDTHS(WGT_WIDTHS), .PIX_W(PIX_W), .ROW_WORDS(ROW_WORDS), .LN_TILES(LN_TILES)) u_regs (
      .clk_i, .rst_i, .csr_we_i, .csr_addr_i, .csr_wdata_i, .csr_rdata_o,
      .kind_o(kind), .in_c_o(in_c), .in_h_o(in_h), .in_w_o(in_w), .out_c_o(out_c), .out_h_o(out_h), .out_w_o(out_w),
      .kh_o(kh), .kw_o(kw), .sy_o(sy), .sx_o(sx), .groups_o(groups), .band_rows_o(band_rows), .group_kt_o(group_kt),
      .pad_top_o(pad_top), .pad_left_o(pad_left), .pad_bottom_o(pad_bottom), .pad_right_o(pad_right),
      .w_base_o(w_base), .b_base_o(b_base), .s_base_o(s_base), .in_base_o(in_base), .out_base_o(out_base),
      .in2_base_o(in2_base), .z_in2_o(z_in2), .add_a0_o(add_a0), .add_b0_o(add_b0), .add_shift_o(add_shift),
      .z_in_o(z_in), .z_out_o(z_out), .lo_o(lo), .hi_o(hi), .w_bits_o(w_bits),
      .dil_y_o(dil_y), .dil_x_o(dil_x), .w_xor_o(w_xor), .w_kt_stride_o(w_kt_stride), .w_transpose_o(w_tr), .row_k_o(row_k),
      .row_shift_o(row_shift),
      .bad_field_i(bad_field), .ovf_i(rq_ovf), .written_i(pass_written), .last_pass_i(last_pass), .pass_i(pass_id),
      .beats_i(beats), .macs_i(macs), .words_read_i(words_rd), .words_written_i(words_wr), .units_i(units),
      .start_o(start), .run_start_o(run_start), .next_pass_o(next_pass), .run_o(run), .busy_o, .done_o, .error_o,
      .state_o
  );

  // ------------------------------------------------------------------ descriptor decode and check
  logic        is_dw, is_vec, is_row;
  logic [15:0] ct_in, kt_out, steps;
  logic [PIX_W-1:0] npix, p_npix;             // output pixels of the layer and of the pass
  logic [31:0] act_need, wgt_need, out_need;
  // words from one output-channel tile's weights to the next's: W_KT_STRIDE, or (0) the tile's own words
  // (transposed, W_TRANSPOSE: W_KT_STRIDE is the words between channel tiles, k_tiles are ROWS words
  // apart: kt_step, a group's first k_tile's offset)
  logic [31:0] wgt_step, kt_step;
  assign wgt_step = w_kt_stride != '0 ? w_kt_stride : wgt_need;
  assign kt_step = w_tr ? 32'(ROWS) : wgt_step;

  desc_check #(
      .ROWS(ROWS), .WORD_BITS(WORD_BITS), .ACT_WORDS(ACT_WORDS), .WGT_WORDS(WGT_WORDS), .REC_WORDS(REC_WORDS),
      .MAX_K(MAX_K), .WGT_WIDTHS(WGT_WIDTHS), .PIX_W(PIX_W), .ROW_WORDS(ROW_WORDS), .LN_TILES(LN_TILES),
      .MAX_BURST(MAX_BURST)
  ) u_desc (
      .kind_i(kind), .in_c_i(in_c), .in_h_i(in_h), .in_w_i(in_w), .out_c_i(out_c), .out_h_i(out_h),
      .out_w_i(out_w), .kh_i(kh), .kw_i(kw), .sy_i(sy), .sx_i(sx), .pad_top_i(pad_top),
      .pad_bottom_i(pad_bottom), .pad_left_i(pad_left), .pad_right_i(pad_right),
      .groups_i(groups), .band_rows_i(band_rows), .group_kt_i(group_kt), .add_shift_i(add_shift), .w_bits_i(w_bits),
      .dil_y_i(dil_y), .dil_x_i(dil_x), .kh_span_o(kh_span), .row_shift_i(row_shift), .w_tr_i(w_tr),
      .lo_i(lo), .hi_i(hi),
      .is_dw_o(is_dw), .is_vec_o(is_vec), .is_row_o(is_row), .ct_in_o(ct_in), .kt_out_o(kt_out), .npix_o(npix), .steps_o(steps),
      .act_need_o(act_need), .wgt_need_o(wgt_need), .out_need_o(out_need), .bad_field_o(bad_field)
  );

  // The convolution units run conv / depthwise / fc layers; add and pooling run on the vector unit
  // (rtl/vec_unit.sv), softmax and LayerNorm on the row unit (rtl/row_unit.sv): both share the memory
  // port's read side and the writer with them.
  logic c_start, c_run_start, c_run, is_conv;
  assign is_conv = !is_vec && !is_row;
  assign c_start = start && is_conv;
  assign c_run_start = run_start && is_conv;
  assign c_run = run && is_conv;

  // ------------------------------------------------------------------ passes
  // rtl/band_seq.sv: the band of output rows and group of output-channel tiles running; every
  // unit below sees the pass as its layer (its input rows, padding, pixels, k_tiles and bases).
  logic [15:0] p_row_step;                   // the pass's input rows' spacing in memory (tap rows: DIL_Y)
  logic [7:0]  p_dil_y;                      // the tap spacing the gather walks in them
  logic [15:0] p_in_rows, p_pad_top, p_pad_bottom, p_out_rows, p_k_tiles, p_c_tiles, p_band, p_group, p_out_cmd_rows;
  logic [31:0] p_w_base, p_b_base, p_s_base, p_in_base, p_out_base, p_in_plane, p_out_cmd_len, p_out_cmd_stride;

  band_seq #(.REC_WPK(REC_WPK), .PIX_W(PIX_W)) u_band (
      .clk_i, .rst_i, .start_i(start), .next_i(next_pass),
      .in_h_i(in_h), .in_w_i(in_w), .out_h_i(out_h), .out_w_i(out_w), .kh_i(kh_span), .taps_i(kh), .dil_y_i(dil_y),
      .sy_i(sy), .pad_top_i(pad_top),
      .band_rows_i(band_rows), .group_kt_i(group_kt), .is_dw_i(is_dw), .ct_in_i(ct_in), .kt_out_i(kt_out), .npix_i(npix),
      .wgt_need_i(kt_step),  // a group's first k_tile's weights: the tiles before it, kt_step apart
      .w_base_i(w_base), .b_base_i(b_base), .s_base_i(s_base), .in_base_i(in_base), .out_base_i(out_base),
      .last_o(last_pass), .band_o(p_band), .group_o(p_group), .in_rows_o(p_in_rows), .pad_top_o(p_pad_top),
      .row_step_o(p_row_step), .dil_y_o(p_dil_y),
      .pad_bottom_o(p_pad_bottom), .out_rows_o(p_out_rows), .npix_o(p_npix), .k_tiles_o(p_k_tiles), .c_tiles_o(p_c_tiles),
      .w_base_o(p_w_base), .b_base_o(p_b_base), .s_base_o(p_s_base), .in_base_o(p_in_base), .out_base_o(p_out_base),
      .in_plane_o(p_in_plane), .out_cmd_len_o(p_out_cmd_len), .out_cmd_rows_o(p_out_cmd_rows),
      .out_cmd_stride_o(p_out_cmd_stride)
  );
  assign pass_id = {p_group, p_band};

  // ------------------------------------------------------------------ reader
  // The load sequencer (rtl/load_seq.sv) issues the layer's read commands and keeps the
  // scoreboards (k_tiles whose weights / records are in, input rows in); the burst reader takes
  // one command after another without waiting for their data and writes each word into the
  // buffer its command's tag names. Nothing else waits for a load.
  logic [2:0]        s_seg;         // what the sequencer issues next (seq_e)
  logic [15:0]       wloaded;       // k_tiles whose weights are in their bank
  logic [15:0]       recs_kt;       // k_tiles whose bias and scale records are in
  logic [31:0]       act_rows;      // input-row loads in the activation buffer (hexgen.rules.input_loads)
  logic [15:0]       cfin;          // k_tiles the compute unit has finished issuing

  logic              r_cmd_valid, r_cmd_ready, r_bank_wait, r_done;
  logic [1:0]        r_cmd_tag, r_buf_tag, r_done_tag;
  logic [31:0]       r_cmd_ext, r_cmd_ext_stride;
  logic [BUF_AW-1:0] r_cmd_buf, r_cmd_buf_stride;
  logic [15:0]       r_cmd_len, r_cmd_rows;
  logic              bw_valid;
  logic [BUF_AW-1:0] bw_addr;
  logic [WORD_BITS-1:0] bw_data;
  logic              r_req_valid, r_req_ready, r_rd_ready;
  logic [31:0]       r_words_rd;
  logic [ADDR_W-1:0] r_req_addr;
  logic [7:0]        r_req_len;

  logic              tw_we, w_done;    // the weight path after the transposer
  logic [BUF_AW-1:0] tw_addr;
  logic [WORD_BITS-1:0] tw_data;

  load_seq #(.ROWS(ROWS), .WGT_WORDS(WGT_WORDS), .REC_WPK(REC_WPK), .BUF_AW(BUF_AW)) u_load (
      .clk_i, .rst_i, .start_i(c_run_start), .run_i(c_run), .is_dw_i(is_dw),
      .in_h_i(p_in_rows), .row_step_i(p_row_step), .in_w_i(in_w), .in_plane_i(p_in_plane), .ct_in_i(p_c_tiles),
      .kt_out_i(p_k_tiles),
      .wgt_need_i(wgt_need), .wgt_step_i(wgt_step), .w_tr_i(w_tr), .w_base_i(p_w_base), .b_base_i(p_b_base), .s_base_i(p_s_base),
      .in_base_i(p_in_base), .cfin_i(cfin),
      .cmd_valid_o(r_cmd_valid), .cmd_ready_i(r_cmd_ready), .cmd_tag_o(r_cmd_tag), .cmd_ext_o(r_cmd_ext),
      .cmd_ext_stride_o(r_cmd_ext_stride), .cmd_buf_o(r_cmd_buf), .cmd_buf_stride_o(r_cmd_buf_stride),
      .cmd_len_o(r_cmd_len), .cmd_rows_o(r_cmd_rows), .done_i(r_done), .done_tag_i(r_done_tag), .wgt_done_i(w_done),
      .seg_o(s_seg), .bank_wait_o(r_bank_wait), .wloaded_o(wloaded), .recs_kt_o(recs_kt), .act_rows_o(act_rows)
  );

  burst_reader #(
      .ADDR_W(ADDR_W),
      .DATA_W(WORD_BITS),
      .MAX_BURST(MAX_BURST),
      .DEPTH(8),
      .TAG_W(2),
      .BUF_AW(BUF_AW)
  ) u_reader (
      .clk_i, .rst_i,
      .cmd_valid_i(r_cmd_valid), .cmd_ready_o(r_cmd_ready), .cmd_tag_i(r_cmd_tag),
      .cmd_ext_addr_i(ADDR_W'(r_cmd_ext)), .cmd_ext_stride_i(ADDR_W'(r_cmd_ext_stride)),
      .cmd_buf_addr_i(r_cmd_buf), .cmd_buf_stride_i(r_cmd_buf_stride),
      .cmd_row_len_i(r_cmd_len), .cmd_rows_i(r_cmd_rows),
      .req_valid_o(r_req_valid), .req_ready_i(r_req_ready), .req_addr_o(r_req_addr), .req_len_o(r_req_len),
      .rd_valid_i(rd_valid_i && is_conv), .rd_ready_o(r_rd_ready), .rd_data_i,
      .buf_valid_o(bw_valid), .buf_tag_o(r_buf_tag), .buf_addr_o(bw_addr), .buf_data_o(bw_data),
      .done_o(r_done), .done_tag_o(r_done_tag), .words_read_o(r_words_rd)
  );

  // The weight words on their way into the bank: transposed in blocks of ROWS with W_TRANSPOSE
  // (rtl/wgt_transpose.sv: Q K^T's K read as its producer wrote it), else as they come; w_done
  // counts a k_tile's weights once they are all in the bank.
  wgt_transpose #(.ROWS(ROWS), .WORD_BITS(WORD_BITS), .AW(BUF_AW)) u_wtr (
      .clk_i, .rst_i, .start_i(c_run_start), .transpose_i(w_tr),
      .in_we_i(bw_valid && r_buf_tag == TgWgt), .in_addr_i(bw_addr), .in_data_i(bw_data),
      .in_last_i(r_done && r_done_tag == TgWgt),
      .out_we_o(tw_we), .out_addr_o(tw_addr), .out_data_o(tw_data), .done_o(w_done)
  );

  // ------------------------------------------------------------------ gather
  logic                      set_valid, set_pop, set_first, set_last, set_ktlast;
  logic [COLS*WORD_BITS-1:0] set_data;
  logic [CW-1:0]             set_cols;
  logic [15:0]               set_step, set_ct, set_kt;
  logic                      g_active, g_row_wait, g_set_wait;

  gather #(.ROWS(ROWS), .COLS(COLS), .WORD_BITS(WORD_BITS), .ACT_WORDS(ACT_WORDS), .PIX_W(PIX_W)) u_gather (
      .clk_i, .rst_i, .start_i(c_run_start),
      .is_dw_i(is_dw), .in_h_i(p_in_rows), .in_w_i(in_w), .out_w_i(out_w), .kh_i(kh), .kw_i(kw), .sy_i(sy), .sx_i(sx),
      .pad_top_i(p_pad_top), .pad_left_i(pad_left), .dil_y_i(p_dil_y), .dil_x_i(dil_x), .z_in_i(z_in), .npix_i(p_npix),
      .steps_i(steps),
      .kt_out_i(p_k_tiles),
      .act_we_i(bw_valid && r_buf_tag == TgAct), .act_waddr_i(bw_addr[ACT_AW-1:0]), .act_wdata_i(bw_data),
      .act_rows_i(act_rows),
      .set_valid_o(set_valid), .set_pop_i(set_pop), .set_data_o(set_data), .set_first_o(set_first),
      .set_last_o(set_last), .set_ktlast_o(set_ktlast), .set_cols_o(set_cols), .set_step_o(set_step),
      .set_ct_o(set_ct), .set_kt_o(set_kt),
      .active_o(g_active), .row_wait_o(g_row_wait), .set_wait_o(g_set_wait)
  );

  // ------------------------------------------------------------------ compute issue, MAC array
  logic                   mac_in_valid, mac_in_ready, mac_first, mac_last;
  logic [ROWS*8-1:0]      mac_w;
  logic [COLS*8-1:0]      mac_a;
  logic [COLS*ROWS*8-1:0] mac_a_cells;
  logic [CW-1:0]          mac_cols;
  logic                   c_wgt_wait;

  compute_issue #(.ROWS(ROWS), .COLS(COLS), .WORD_BITS(WORD_BITS), .WGT_WORDS(WGT_WORDS), .WGT_WIDTHS(WGT_WIDTHS)) u_compute (
      .clk_i, .rst_i, .start_i(c_start), .run_start_i(c_run_start), .run_i(c_run), .is_dw_i(is_dw), .in_c_i(in_c),
      .w_bits_i(w_bits), .w_xor_i(w_xor),
      .wgt_we_i(tw_we), .wgt_waddr_i(tw_addr[WGT_AW:0]), .wgt_wdata_i(tw_data),
      .wloaded_i(wloaded),
      .set_valid_i(set_valid), .set_pop_o(set_pop), .set_data_i(set_data), .set_first_i(set_first),
      .set_last_i(set_last), .set_ktlast_i(set_ktlast), .set_cols_i(set_cols), .set_step_i(set_step),
      .set_ct_i(set_ct), .set_kt_i(set_kt),
      .mac_valid_o(mac_in_valid), .mac_ready_i(mac_in_ready), .mac_w_o(mac_w), .mac_a_o(mac_a),
      .mac_a_cells_o(mac_a_cells), .mac_first_o(mac_first), .mac_last_o(mac_last), .mac_cols_o(mac_cols),
      .cfin_o(cfin), .beats_o(beats), .macs_o(macs), .wgt_wait_o(c_wgt_wait)
  );

  logic                 mac_out_valid, mac_out_ready, mac_out_last;
  logic [ROWS*32-1:0]   mac_out_acc;
  logic [CW-1:0]        mac_out_col;

  logic [7:0] mac_z;
`ifdef MUT_SELECT  // mutation tests (tests/test_diagnose_sim.py): faults chosen at run time, +MUT_<name>
  logic mut_zp;
  initial begin
    mut_zp = $test$plusargs("MUT_ZP");  // the zero point plus one reaches the array
  end
  assign mac_z = z_in + {7'd0, mut_zp};
`else
  assign mac_z = z_in;
`endif

  mac_array #(.ROWS(ROWS), .COLS(COLS)) u_mac (
      .clk_i, .rst_i,
      .in_valid_i(mac_in_valid), .in_ready_o(mac_in_ready),
      .in_w_i(mac_w), .in_a_i(mac_a), .in_cells_i(is_dw), .in_a_cells_i(mac_a_cells), .in_z_i(mac_z),
      .in_first_i(mac_first), .in_last_i(mac_last), .in_cols_i(mac_cols),
      .out_valid_o(mac_out_valid), .out_ready_i(mac_out_ready), .out_acc_o(mac_out_acc),
      .out_col_o(mac_out_col), .out_last_o(mac_out_last)
  );

  // ------------------------------------------------------------------ drain + requantizer
  logic                 rq_out_valid, w_in_ready, rq_rec_wait;  // w_in_ready: the writer takes a word
  logic [WORD_BITS-1:0] rq_out_data;

  drain_requant #(.ROWS(ROWS), .WORD_BITS(WORD_BITS), .REC_WORDS(REC_WORDS), .PIX_W(PIX_W)) u_drain (
      .clk_i, .rst_i, .start_i(c_run_start), .npix_i(p_npix), .z_out_i(z_out), .lo_i(lo), .hi_i(hi),
      .rec_we_i(bw_valid && (r_buf_tag == TgBias || r_buf_tag == TgScale)), .rec_bias_i(r_buf_tag == TgBias),
      .rec_waddr_i(bw_addr[REC_AW-1:0]), .rec_wdata_i(bw_data), .recs_kt_i(recs_kt),
      .in_valid_i(mac_out_valid), .in_ready_o(mac_out_ready), .in_acc_i(mac_out_acc),
      .out_valid_o(rq_out_valid), .out_ready_i(w_in_ready && is_conv), .out_data_o(rq_out_data), .ovf_o(rq_ovf),
      .rec_wait_o(rq_rec_wait)
  );

  // ------------------------------------------------------------------ vector unit
  logic                 v_req_valid, v_req_ready, v_rd_ready, v_out_valid, v_busy, v_done;
  logic [ADDR_W-1:0]    v_req_addr;
  logic [7:0]           v_req_len;
  logic [WORD_BITS-1:0] v_out_data;
  logic [31:0]          v_words_rd;
  vec_unit #(.ROWS(ROWS), .ADDR_W(ADDR_W), .MAX_BURST(MAX_BURST)) u_vec (
      .clk_i, .rst_i, .start_i(run_start && is_vec),
      .kind_i(kind), .ct_i(ct_in), .kt_i(kt_out), .in_c_i(in_c), .out_c_i(out_c), .in_h_i(in_h), .in_w_i(in_w), .out_h_i(out_h), .out_w_i(out_w), .kh_i(kh), .kw_i(kw),
      .sy_i(sy), .sx_i(sx), .pad_top_i(pad_top), .pad_left_i(pad_left), .in_base_i(ADDR_W'(in_base)),
      .in2_base_i(ADDR_W'(in2_base)), .z_a_i(z_in), .z_b_i(z_in2), .a0_i(add_a0), .b0_i(add_b0), .n_i(add_shift),
      .z_out_i(z_out), .lo_i(lo), .hi_i(hi),
      .req_valid_o(v_req_valid), .req_ready_i(v_req_ready), .req_addr_o(v_req_addr), .req_len_o(v_req_len),
      .rd_valid_i(rd_valid_i && is_vec), .rd_ready_o(v_rd_ready), .rd_data_i,
      .out_valid_o(v_out_valid), .out_ready_i(w_in_ready && is_vec), .out_data_o(v_out_data),
      .busy_o(v_busy), .done_o(v_done), .words_read_o(v_words_rd)
  );

  // ------------------------------------------------------------------ row unit
  // rtl/row_unit.sv: a pass is a block of the pass's tokens (band_seq: BAND_ROWS rows of IN_W), their
  // rows of IN_C channels IN_H x IN_W words apart; the table or records at IN2_BASE, loaded on the
  // run's first pass; its outputs in the layout's order, which the writer's commands for the pass
  // (one run of the block's words per channel tile) put in place.
  logic                 x_req_valid, x_req_ready, x_rd_ready, x_out_valid, x_busy, x_done;
  logic [ADDR_W-1:0]    x_req_addr;
  logic [7:0]           x_req_len;
  logic [WORD_BITS-1:0] x_out_data;
  logic [31:0]          x_words_rd;
  if (ROWS % 4 == 0) begin : g_row
    row_unit #(.ROWS(ROWS), .ADDR_W(ADDR_W), .MAX_BURST(MAX_BURST), .ROW_WORDS(ROW_WORDS), .LN_TILES(LN_TILES)) u_row (
        .clk_i, .rst_i, .start_i(run_start && is_row), .is_ln_i(kind == KIND_LAYERNORM), .first_i(p_band == '0),
        .len_i(in_c), .ct_i(ct_in), .rows_i(16'(p_npix)), .plane_i(p_in_plane), .in_base_i(ADDR_W'(p_in_base)),
        .tab_base_i(ADDR_W'(in2_base)), .dividend_i(row_k), .shift_i(row_shift), .sqrt_shift_i(row_shift[4:0]),
        .eps_term_i(row_k[47:0]), .z_out_i(z_out), .lo_i(lo), .hi_i(hi),
        .req_valid_o(x_req_valid), .req_ready_i(x_req_ready), .req_addr_o(x_req_addr), .req_len_o(x_req_len),
        .rd_valid_i(rd_valid_i && is_row), .rd_ready_o(x_rd_ready), .rd_data_i,
        .out_valid_o(x_out_valid), .out_ready_i(w_in_ready && is_row), .out_data_o(x_out_data),
        .busy_o(x_busy), .done_o(x_done), .words_read_o(x_words_rd)
    );
  end else begin : g_no_row
    // a word that holds no whole 32-bit exp table entries (ROWS not a multiple of 4): no row unit,
    // and desc_check refuses its kinds (hexgen.rules.engine_refusal, field KIND)
    assign {x_req_valid, x_rd_ready, x_out_valid, x_busy, x_done} = '0;
    assign {x_req_addr, x_req_len, x_out_data, x_words_rd} = '0;
    logic unused_row;
    assign unused_row = ^{row_k, row_shift, p_in_plane};
  end
  assign rd_ready_o = is_vec ? v_rd_ready : is_row ? x_rd_ready : r_rd_ready;
  // WORDS_READ: every word taken from the read channel
  assign words_rd = r_words_rd + v_words_rd + x_words_rd;

  // ------------------------------------------------------------------ output writer
  // rtl/out_writer.sv: the output FIFO and one write command over the whole output region; a
  // write burst is requested only when all its words wait in the FIFO.
  logic              w_req_valid, w_req_ready, w_busy;
  logic [ADDR_W-1:0] w_req_addr;
  logic [7:0]        w_req_len;

  out_writer #(.ADDR_W(ADDR_W), .WORD_BITS(WORD_BITS), .MAX_BURST(MAX_BURST)) u_writer (
      .clk_i, .rst_i, .start_i(run_start), .run_i(run),
      .out_base_i(ADDR_W'(p_out_base)), .out_len_i(p_out_cmd_len), .out_rows_i(p_out_cmd_rows),
      .out_stride_i(ADDR_W'(p_out_cmd_stride)),
      .in_valid_i(is_vec ? v_out_valid : is_row ? x_out_valid : rq_out_valid), .in_ready_o(w_in_ready),
      .in_data_i(is_vec ? v_out_data : is_row ? x_out_data : rq_out_data),
      .req_valid_o(w_req_valid), .req_ready_i(w_req_ready), .req_addr_o(w_req_addr), .req_len_o(w_req_len),
      .wr_valid_o, .wr_ready_i, .wr_data_o,
      .written_o(pass_written), .busy_o(w_busy), .words_written_o(words_wr)
  );

  // ------------------------------------------------------------------ memory request channels
  // The writer has the write channel to itself. On the read channel the reader goes first, else
  // the vector unit, else the row unit (each of the two runs only its own kinds, when the reader
  // has nothing to read).
  assign wreq_valid_o = w_req_valid;
  assign wreq_addr_o  = w_req_addr;
  assign wreq_len_o   = w_req_len;
  assign w_req_ready  = wreq_ready_i;
  assign rreq_valid_o = r_req_valid || v_req_valid || x_req_valid;
  assign rreq_addr_o  = r_req_valid ? r_req_addr : v_req_valid ? v_req_addr : x_req_addr;
  assign rreq_len_o   = r_req_valid ? r_req_len : v_req_valid ? v_req_len : x_req_len;
  assign r_req_ready  = rreq_ready_i;
  assign v_req_ready  = rreq_ready_i && !r_req_valid;
  assign x_req_ready  = rreq_ready_i && !r_req_valid && !v_req_valid;

  // ------------------------------------------------------------------ UNITS status word
  // Field positions from tb/engine/csr.py (UNITS_FIELDS, through accel_csr.svh), which also decodes them.
  always_comb begin
    units = '0;
    units[UNITS_READER_LSB +: UNITS_READER_W] = s_seg;
    units[UNITS_BANK_WAIT_LSB +: UNITS_BANK_WAIT_W] = r_bank_wait;
    units[UNITS_GATHER_ACTIVE_LSB +: UNITS_GATHER_ACTIVE_W] = g_active;
    units[UNITS_GATHER_ROW_WAIT_LSB +: UNITS_GATHER_ROW_WAIT_W] = g_row_wait;
    units[UNITS_COMPUTE_WGT_WAIT_LSB +: UNITS_COMPUTE_WGT_WAIT_W] = c_wgt_wait;
    units[UNITS_REQUANT_REC_WAIT_LSB +: UNITS_REQUANT_REC_WAIT_W] = rq_rec_wait;
    units[UNITS_WRITER_BUSY_LSB +: UNITS_WRITER_BUSY_W] = w_busy;
    units[UNITS_GATHER_SET_WAIT_LSB +: UNITS_GATHER_SET_WAIT_W] = g_set_wait;
    units[UNITS_COMPUTE_KT_LSB +: UNITS_COMPUTE_KT_W] = set_kt;
    units[UNITS_VECTOR_BUSY_LSB +: UNITS_VECTOR_BUSY_W] = v_busy;
    units[UNITS_ROW_BUSY_LSB +: UNITS_ROW_BUSY_W] = x_busy;
  end

  // unused: the drained column index and tile flag are implied by the pixel count; the sizes the
  // descriptor check derives for itself; the pass's bottom padding and rows (implied by its input
  // rows and pixels)
  logic unused;
  assign unused = ^{mac_out_col, mac_out_last, bw_addr, tw_addr, r_cmd_ext, r_cmd_ext_stride, act_need, out_need, out_c, out_base, pad_bottom,
                    pad_right, groups, p_pad_bottom, p_out_rows, p_out_base,
                    p_out_cmd_stride, v_done, x_done, in2_base};

`ifndef SYNTHESIS
  // ---------------------------------------------------------------- protocol checkers (rtl/vr_check.sv)
  // Each unit checks the channels whose valid it drives (and its outstanding words); what is left
  // here is the read-request port, where two units' requests are muxed.
  vr_check #(.W(ADDR_W + 8)) u_chk_rreq (.clk_i, .rst_i, .valid_i(rreq_valid_o), .ready_i(rreq_ready_i),
                                         .data_i({rreq_addr_o, rreq_len_o}));
`endif

endmodule

`resetall
