`resetall
`timescale 1ns / 1ps
`default_nettype none

// Band sequencer (a unit of the layer engine, docs/engine.md): the passes of one layer.
//
// A layer whose input does not fit the activation buffer runs in bands of BAND_ROWS output rows,
// one whose records do not fit the record buffers in groups of GROUP_KT output-channel tiles
// (hexgen.rules.plan_tiling chooses them). The engine walks the passes itself, band outer, group
// inner; each pass is the layer cut to its output rows and channel tiles and runs exactly as a
// whole layer runs: its input rows (halo included, clipped to the image) are loaded into the
// activation buffer from row 0, the padding rows it sees are its own (pad_top_o, pad_bottom_o),
// and its outputs are written in place in the layer's output region. The arithmetic is hexgen's
// (hexgen.rules.passes, the one definition), mirrored term by term; tb/engine/test_band_seq.py checks
// every pass of random layers against it. The pass counters step on next_i (the main FSM, after
// a pass's last output word is written); every output is combinational from them.
module band_seq #(
    parameter int REC_WPK = 8,  // record words per k_tile
    parameter int PIX_W = 24    // the pixel counters' width (the description's pixel_bits)
) (
    input  logic        clk_i,
    input  logic        rst_i,
    input  logic        start_i,     // a layer starts: first pass
    input  logic        next_i,      // the current pass is done: go to the next

    // the layer: descriptor registers and sizes derived from them (desc_check)
    input  logic [15:0] in_h_i,
    input  logic [15:0] in_w_i,
    input  logic [15:0] out_h_i,
    input  logic [15:0] out_w_i,
    input  logic [15:0] kh_i,        // input rows one window covers (a dilated window: its span)
    input  logic [15:0] taps_i,      // the window's rows of taps (KH)
    input  logic [7:0]  dil_y_i,     // their spacing (DIL_Y)
    input  logic [15:0] sy_i,
    input  logic [15:0] pad_top_i,
    input  logic [15:0] band_rows_i,
    input  logic [15:0] group_kt_i,
    input  logic        is_dw_i,     // depthwise: a pass loads only its own channel tiles
    input  logic [15:0] ct_in_i,
    input  logic [15:0] kt_out_i,
    input  logic [PIX_W-1:0] npix_i, // output pixels of the layer (one k_tile's output plane)
    input  logic [31:0] wgt_need_i,  // weight words per k_tile
    input  logic [31:0] w_base_i,
    input  logic [31:0] b_base_i,
    input  logic [31:0] s_base_i,
    input  logic [31:0] in_base_i,
    input  logic [31:0] out_base_i,

    // the current pass
    output logic        last_o,      // it is the layer's last pass
    output logic [15:0] band_o,      // band and group index (status)
    output logic [15:0] group_o,
    output logic [15:0] in_rows_o,   // input rows it loads (its IN_H)
    output logic [15:0] row_step_o,  // their spacing in memory: DIL_Y for a pass of tap rows, else 1
    output logic [7:0]  dil_y_o,     // the tap spacing the gather walks in them: 1 for tap rows, else DIL_Y
    output logic [15:0] pad_top_o,   // zero rows above / below them
    output logic [15:0] pad_bottom_o,
    output logic [15:0] out_rows_o,
    output logic [PIX_W-1:0] npix_o, // its output pixels (out_rows x OUT_W)
    output logic [15:0] k_tiles_o,   // its output-channel tiles (its kt_out)
    output logic [15:0] c_tiles_o,   // input channel tiles it loads (depthwise: k_tiles_o; else all)
    output logic [31:0] w_base_o,    // segment bases moved to its rows and channel tiles
    output logic [31:0] b_base_o,
    output logic [31:0] s_base_o,
    output logic [31:0] in_base_o,
    output logic [31:0] out_base_o,
    output logic [31:0] in_plane_o,  // words between channel tiles of the input segment (IN_H x IN_W)
    // its output region as a write command: out_cmd_rows_o runs of out_cmd_len_o words,
    // out_cmd_stride_o apart (one run when the pass covers every output row)
    output logic [31:0] out_cmd_len_o,
    output logic [15:0] out_cmd_rows_o,
    output logic [31:0] out_cmd_stride_o
);

  initial begin
    if (REC_WPK < 1 || PIX_W < 16 || PIX_W > 32) begin
      $error("%m: REC_WPK = %0d must be >= 1, PIX_W = %0d 16..32", REC_WPK, PIX_W);
      $finish;
    end
  end

  logic [15:0] band_q, group_q, oy0_q, kt0_q;

  // output rows [oy0, oy1) and the input rows their windows read, [first, last] (may leave the image)
  logic [31:0] oy1, out_rows, kts, oy_last_top;
  logic signed [33:0] first, last, iy0, iy1;
  logic        band_last, group_last;

  assign oy1 = (32'(oy0_q) + 32'(band_rows_i) < 32'(out_h_i)) ? 32'(oy0_q) + 32'(band_rows_i) : 32'(out_h_i);
  assign out_rows = oy1 - 32'(oy0_q);
  assign kts = (32'(kt0_q) + 32'(group_kt_i) < 32'(kt_out_i)) ? 32'(group_kt_i) : 32'(kt_out_i) - 32'(kt0_q);
  assign first = 34'(32'(oy0_q) * 32'(sy_i)) - 34'(pad_top_i);
  assign oy_last_top = (oy1 - 32'd1) * 32'(sy_i);
  assign last = 34'(oy_last_top) - 34'(pad_top_i) + 34'(kh_i) - 34'sd1;
  assign iy0 = first > 0 ? first : 34'sd0;
  assign iy1 = last < 34'(in_h_i) - 34'sd1 ? last : 34'(in_h_i) - 34'sd1;

  assign band_last = 32'(oy0_q) + 32'(band_rows_i) >= 32'(out_h_i);
  assign group_last = 32'(kt0_q) + 32'(group_kt_i) >= 32'(kt_out_i);
  assign last_o = band_last && group_last;
  assign band_o = band_q;
  assign group_o = group_q;

  // a pass of one output row of a dilated conv loads its taps' rows only, DIL_Y apart
  // (hexgen.rules.tap_rows / passes): taps ky0..ky1 lie in the image, the others are padding
  logic        taps, no_tap;
  logic [33:0] ky0, ky1, dil;
  assign taps = band_rows_i == 16'd1 && dil_y_i > 8'd1;
  assign dil = 34'(dil_y_i);
  assign ky0 = first < 0 ? (34'(-first) + dil - 34'd1) / dil : 34'd0;
  assign ky1 = 34'(34'(in_h_i) - 34'sd1 - first) / dil < 34'(taps_i) - 34'd1
               ? 34'(34'(in_h_i) - 34'sd1 - first) / dil : 34'(taps_i) - 34'd1;
  assign no_tap = ky1 < ky0;  // every tap in the padding: one row loaded, the taps above it
  logic signed [33:0] iy0_taps;
  assign iy0_taps = no_tap ? iy0 : first + $signed(ky0 * dil);
  assign in_rows_o = !taps ? 16'(iy1 - iy0 + 34'sd1) : no_tap ? 16'd1 : 16'(ky1 - ky0 + 34'd1);
  assign pad_top_o = !taps ? 16'(iy0 - first) : no_tap ? taps_i : 16'(ky0);
  assign pad_bottom_o = !taps ? 16'(last - iy1) : no_tap ? 16'd0 : 16'(34'(taps_i) - 34'd1 - ky1);
  assign row_step_o = taps ? 16'(dil_y_i) : 16'd1;
  assign dil_y_o = taps ? 8'd1 : dil_y_i;
  assign out_rows_o = 16'(out_rows);
  assign npix_o = PIX_W'(out_rows * 32'(out_w_i));
  assign k_tiles_o = 16'(kts);

  assign in_plane_o = 32'(in_h_i) * 32'(in_w_i);
  assign w_base_o = w_base_i + 32'(kt0_q) * wgt_need_i;
  assign b_base_o = b_base_i + 32'(kt0_q) * REC_WPK;
  assign s_base_o = s_base_i + 32'(kt0_q) * REC_WPK;
  assign c_tiles_o = is_dw_i ? 16'(kts) : ct_in_i;
  // depthwise: from the group's first channel tile (= its first k_tile)
  assign in_base_o = in_base_i + (is_dw_i ? 32'(kt0_q) * in_plane_o : 32'd0) + 32'(taps ? iy0_taps : iy0) * 32'(in_w_i);
  assign out_base_o = out_base_i + 32'(kt0_q) * 32'(npix_i) + 32'(oy0_q) * 32'(out_w_i);
  // every output row: the group's k_tiles are one run of consecutive words
  assign out_cmd_rows_o = out_rows == 32'(out_h_i) ? 16'd1 : 16'(kts);
  assign out_cmd_len_o = out_rows == 32'(out_h_i) ? kts * 32'(npix_i) : out_rows * 32'(out_w_i);
  assign out_cmd_stride_o = 32'(npix_i);

  always_ff @(posedge clk_i) begin
    if (rst_i || start_i) begin
      band_q  <= '0;
      group_q <= '0;
      oy0_q   <= '0;
      kt0_q   <= '0;
    end else if (next_i && !last_o) begin
      if (group_last) begin
        band_q  <= band_q + 1;
        group_q <= '0;
        oy0_q   <= oy0_q + band_rows_i;
        kt0_q   <= '0;
      end else begin
        group_q <= group_q + 1;
        kt0_q   <= kt0_q + group_kt_i;
      end
    end
  end

endmodule

`resetall
