`resetall
`timescale 1ns / 1ps
`default_nettype none

// Drain + requantizer unit (a unit of the layer engine, docs/engine.md): the bias and scale
// record buffers and the requantizer the MAC array drains into.
//
// The reader writes every output channel's bias and scale records into their buffers word for
// word as hexgen lays them out (ROWS 64-bit records per k_tile, lane 0 first, packed into
// REC_WPK = ROWS * 64 / WORD_BITS words) and counts the k_tiles whose records are in
// (recs_kt_i). The array drains one pixel (ROWS sums) per beat in the output's order,
// [k_tile][y][x]; the unit counts them to know the k_tile, and passes a pixel on only once that
// k_tile's records are in, with each row's record fields (positions and widths from
// hexgen.layout, through accel_csr.svh) beside it. tb/engine/test_drain_requant.py checks the output
// vectors against golden's requantizer on hexgen's records.
module drain_requant #(
    parameter int ROWS = 8,
    parameter int WORD_BITS = 64,
    parameter int REC_WORDS = 256,
    parameter int PIX_W = 24,       // the pixel counters' width (the description's pixel_bits)
    localparam int REC_AW = $clog2(REC_WORDS),
    localparam int REC_WPK = ROWS * 64 / WORD_BITS  // record words per k_tile
) (
    input  logic                   clk_i,
    input  logic                   rst_i,
    input  logic                   start_i,      // a layer starts running: from its first pixel
    input  logic [PIX_W-1:0]       npix_i,       // output pixels per k_tile
    input  logic [7:0]             z_out_i,
    input  logic [7:0]             lo_i,
    input  logic [7:0]             hi_i,

    // the record buffers' write port (the reader; rec_bias_i: bias, else scale) and the k_tiles
    // whose records are in
    input  logic                   rec_we_i,
    input  logic                   rec_bias_i,
    input  logic [REC_AW-1:0]      rec_waddr_i,
    input  logic [WORD_BITS-1:0]   rec_wdata_i,
    input  logic [15:0]            recs_kt_i,

    // sums drained from the MAC array, one pixel (ROWS int32 sums) at a time
    input  logic                   in_valid_i,
    output logic                   in_ready_o,
    input  logic [ROWS*32-1:0]     in_acc_i,

    // output vectors (one word: the pixel's ROWS uint8 outputs)
    output logic                   out_valid_o,
    input  logic                   out_ready_i,
    output logic [WORD_BITS-1:0]   out_data_o,
    output logic                   ovf_o,        // an output word taken whose accumulator + bias left int32
    output logic                   rec_wait_o    // a pixel waits for its k_tile's records
);

  /* verilator lint_off UNUSEDPARAM */  // the CSR map: this unit uses the record fields
`include "accel_csr.svh"
  /* verilator lint_on UNUSEDPARAM */

  initial begin
    if (WORD_BITS != ROWS * 8) begin
      $error("%m: WORD_BITS = %0d must be ROWS * 8 = %0d (one memory word is one channel vector)", WORD_BITS, ROWS * 8);
      $finish;
    end
    // A k_tile's ROWS 64-bit records fill whole words (hexgen packs them lane 0 first).
    if ((ROWS * 64) % WORD_BITS != 0 || REC_WORDS < REC_WPK || (REC_WORDS & (REC_WORDS - 1)) != 0) begin
      $error("%m: ROWS * 64 = %0d must be a multiple of WORD_BITS = %0d and REC_WORDS = %0d hold one k_tile's records (%0d words) and be a power of two",
             ROWS * 64, WORD_BITS, REC_WORDS, REC_WPK);
      $finish;
    end
  end

  logic [WORD_BITS-1:0] bias_buf [REC_WORDS];
  logic [WORD_BITS-1:0] scale_buf [REC_WORDS];
  always_ff @(posedge clk_i) begin
    if (rec_we_i && rec_bias_i) bias_buf[rec_waddr_i] <= rec_wdata_i;
    if (rec_we_i && !rec_bias_i) scale_buf[rec_waddr_i] <= rec_wdata_i;
  end

  // Drained pixels come out in the output's order, [k_tile][y][x]: count them to know which
  // k_tile's records the requantizer needs.
  logic [PIX_W-1:0] pix_q;
  logic [15:0] kt_q;
  logic        recs_ok, rq_in_valid, rq_in_ready, fire;
  assign recs_ok = recs_kt_i > kt_q;
  assign rq_in_valid = in_valid_i && recs_ok;
  assign in_ready_o = rq_in_ready && recs_ok;
  assign fire = rq_in_valid && rq_in_ready;
  assign rec_wait_o = in_valid_i && !recs_ok;

  always_ff @(posedge clk_i) begin
    if (rst_i || start_i) begin
      pix_q <= '0;
      kt_q  <= '0;
    end else if (fire) begin
      if (pix_q + 1 == npix_i) begin
        pix_q <= '0;
        kt_q  <= kt_q + 1;
      end else begin
        pix_q <= pix_q + 1;
      end
    end
  end

  logic [REC_AW-1:0] rec_base;  // first record word of the k_tile being drained
  assign rec_base = REC_AW'(32'(kt_q) * REC_WPK);
  // the k_tile's records as one vector, record r at [r*64 +: 64] (its words, least significant first)
  logic [ROWS*64-1:0] kt_bias, kt_scale;
  for (genvar w = 0; w < REC_WPK; w++) begin : g_rec_word
    assign kt_bias[w*WORD_BITS +: WORD_BITS] = bias_buf[rec_base + REC_AW'(w)];
    assign kt_scale[w*WORD_BITS +: WORD_BITS] = scale_buf[rec_base + REC_AW'(w)];
  end

  logic [ROWS*32-1:0] rq_bias;
  logic [ROWS*4-1:0]  rq_shift;
  logic [ROWS*31-1:0] rq_m0;
  logic [ROWS*6-1:0]  rq_n;
  logic [ROWS-1:0]    rq_ovf;
  for (genvar r = 0; r < ROWS; r++) begin : g_rec
    logic [63:0] brec, srec;
    assign brec = kt_bias[r*64 +: 64];
    assign srec = kt_scale[r*64 +: 64];
    assign rq_bias[r*32 +: 32] = brec[REC_BIAS_MANTISSA_LSB +: REC_BIAS_MANTISSA_W];
    assign rq_shift[r*4 +: 4]  = brec[REC_BIAS_SHIFT_LSB +: REC_BIAS_SHIFT_W];
    assign rq_m0[r*31 +: 31]   = srec[REC_SCALE_M0_LSB +: REC_SCALE_M0_W];
    assign rq_n[r*6 +: 6]      = srec[REC_SCALE_N_LSB +: REC_SCALE_N_W];
    logic unused_rec;  // reserved record bits (hexgen writes them 0; its checker verifies that)
    assign unused_rec = ^{brec, srec};
  end

  requant #(.LANES(ROWS)) u_requant (
      .clk_i, .rst_i,
      .in_valid_i(rq_in_valid), .in_ready_o(rq_in_ready),
      .in_acc_i, .in_bias_mant_i(rq_bias), .in_bias_shift_i(rq_shift),
      .in_m0_i(rq_m0), .in_n_i(rq_n), .in_z_out_i(z_out_i), .in_lo_i(lo_i), .in_hi_i(hi_i),
      .out_valid_o, .out_ready_i, .out_data_o, .out_ovf_o(rq_ovf)
  );
  assign ovf_o = out_valid_o && out_ready_i && (rq_ovf != '0);

endmodule

`resetall
