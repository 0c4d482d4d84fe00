`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "accel_hw.svh"

// Runtime-programmed int8 layer accelerator (docs/engine.md).
//
// One build runs every conv / depthwise / pointwise / fully connected layer that fits its
// buffers: the layer is described in control/status registers (CSR map: rtl/accel_csr.svh,
// generated from tb/csr.py), `start` runs it on its own, `done` (or `error`) ends it.
//
// Data (memory layout: hexgen, docs/memory-map.md; one word = one ROWS-channel vector):
//   input  [c_tile][y][x][c_lane]                  into the activation buffer, row by row
//   weights[k_tile][c_tile][ky][kx][c_lane][k_lane] one k_tile per weight bank (two banks)
//           depthwise: [k_tile][ky][kx][k_lane]
//   bias / scale: one 64-bit record per channel, [k_tile][k_lane], ROWS records per k_tile packed
//           into REC_WPK = ROWS * 64 / WORD_BITS words (8 for any ROWS, as WORD_BITS = ROWS * 8)
//   output [k_tile][y][x][k_lane]                  one stream over the whole region
// Dataflow (output-stationary, rows = output channels, columns = output pixels; docs/engine.md):
// four units run at once, linked by scoreboards. The reader loads records, weights (the next
// k_tile's while the current one computes) and input rows; the gather unit copies the input
// vectors of each step (c_tile, ky, kx) of each pixel tile into one of two register sets; the
// compute unit issues the other set's beats to the MAC array, one beat per input channel c of
// the tile (the weight vector down the rows, lane c of every column's vector across them), or,
// depthwise, one beat per step with per-cell activations (row r takes lane r of its column's
// vector); the array drains one pixel (ROWS sums) per cycle into the requantizer, whose output
// vectors stream to external memory through a FIFO and the writer.
module accel_top #(
    parameter int ROWS = `HW_ROWS,
    parameter int COLS = `HW_COLS,
    parameter int WORD_BITS = `HW_WORD_BITS,
    parameter int ADDR_W = 24,
    parameter int ACT_WORDS = `HW_ACT_WORDS,
    parameter int WGT_WORDS = `HW_WGT_WORDS,
    parameter int REC_WORDS = `HW_REC_WORDS,
    parameter int MAX_K = 7,
    parameter int MAX_BURST = 16,
    localparam int ACT_AW = $clog2(ACT_WORDS),
    localparam int WGT_AW = $clog2(WGT_WORDS),
    localparam int REC_AW = $clog2(REC_WORDS),
    // buffer addresses on the reader's path: wide enough for any buffer (two weight banks), at
    // least the 16 bits of the descriptor's sizes
    localparam int BUF_SPAN = $clog2(ACT_WORDS + 2 * WGT_WORDS + REC_WORDS),
    localparam int BUF_AW = BUF_SPAN > 16 ? BUF_SPAN : 16,
    localparam int REC_WPK = ROWS * 64 / WORD_BITS,  // record words per k_tile (ROWS 64-bit records)
    localparam int CW = $clog2(COLS + 1),
    localparam int RW = (ROWS > 1) ? $clog2(ROWS) : 1,
    localparam int JW = (COLS > 1) ? $clog2(COLS) : 1,
    localparam int CB = $clog2(COLS)   // COLS = 2^CB: the activation buffer's banks
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

    // external memory port (word addresses)
    output logic                 req_valid_o,
    input  logic                 req_ready_i,
    output logic [ADDR_W-1:0]    req_addr_o,
    output logic [7:0]           req_len_o,
    output logic                 req_we_o,
    input  logic                 rd_valid_i,
    output logic                 rd_ready_o,
    input  logic [WORD_BITS-1:0] rd_data_i,
    output logic                 wr_valid_o,
    input  logic                 wr_ready_i,
    output logic [WORD_BITS-1:0] wr_data_o
);

  /* verilator lint_off UNUSEDPARAM */  // the CSR map: the kinds are desc_check's
`include "accel_csr.svh"
  /* verilator lint_on UNUSEDPARAM */

  initial begin
    if (WORD_BITS != ROWS * 8) begin
      $error("%m: WORD_BITS = %0d must be ROWS * 8 = %0d (one memory word is one channel vector)", WORD_BITS, ROWS * 8);
      $finish;
    end
    if (COLS < 1 || ROWS < 1 || MAX_K < 1 || (COLS & (COLS - 1)) != 0) begin
      $error("%m: ROWS and MAX_K must be >= 1 and COLS a power of two");
      $finish;
    end
    // A k_tile's ROWS 64-bit records fill whole words (hexgen packs them lane 0 first).
    if ((ROWS * 64) % WORD_BITS != 0 || REC_WORDS < REC_WPK) begin
      $error("%m: ROWS * 64 = %0d must be a multiple of WORD_BITS = %0d and REC_WORDS = %0d hold one k_tile's records (%0d words)",
             ROWS * 64, WORD_BITS, REC_WORDS, REC_WPK);
      $finish;
    end
    // Buffer depths: powers of two (their addresses are bit fields), at most 2^24 words.
    if (ACT_WORDS < COLS || ACT_WORDS > (1 << 24) || (ACT_WORDS & (ACT_WORDS - 1)) != 0) begin
      $error("%m: ACT_WORDS = %0d must be a power of two from COLS = %0d to 2^24", ACT_WORDS, COLS);
      $finish;
    end
    if (WGT_WORDS < 1 || WGT_WORDS > (1 << 24) || (WGT_WORDS & (WGT_WORDS - 1)) != 0) begin
      $error("%m: WGT_WORDS = %0d must be a power of two up to 2^24 (one of two weight banks)", WGT_WORDS);
      $finish;
    end
    if (REC_WORDS > (1 << 24) || (REC_WORDS & (REC_WORDS - 1)) != 0) begin
      $error("%m: REC_WORDS = %0d must be a power of two up to 2^24", REC_WORDS);
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

  // ------------------------------------------------------------------ states
  // state_e (StIdle, StCheck, StRun, StDone, StError) is generated into accel_csr.svh from tb/csr.py
  state_e state_q;
  assign state_o = state_q;

  // signals used before the block that drives them
  logic rq_ovf_any;           // requantizer: an accumulator + bias left int32
  logic [31:0] units;         // UNITS status word (where each unit is; the watchdog reports it)
  logic [7:0]  bad_field;     // descriptor check: first field the engine cannot run (DESC_CHECK)

  // ------------------------------------------------------------------ CSRs
  logic [15:0] kind_q, in_c_q, in_h_q, in_w_q, out_c_q, out_h_q, out_w_q, kh_q, kw_q;
  logic [15:0] sy_q, sx_q, py_q, px_q, groups_q;
  logic [31:0] w_base_q, b_base_q, s_base_q, in_base_q, out_base_q;
  logic [7:0]  z_in_q, z_out_q, lo_q, hi_q;
  logic [7:0]  err_field_q;
  logic        done_q, error_q;
  logic [31:0] cyc_q, beats_q, macs_q;
  logic [31:0] words_rd, words_wr;          // the reader's and writer's counts since reset
  logic [31:0] words_rd_at_start_q, words_wr_at_start_q;
  logic        start;

  assign start = csr_we_i && csr_addr_i == CSR_CTRL && csr_wdata_i[0] && (state_q == StIdle || state_q == StDone || state_q == StError);

  // WORDS_READ / WORDS_WRITTEN count from start, like every other performance counter: the units'
  // own counters run from reset, so their values at start are kept and subtracted.
  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      words_rd_at_start_q <= '0;
      words_wr_at_start_q <= '0;
    end else if (start) begin
      words_rd_at_start_q <= words_rd;
      words_wr_at_start_q <= words_wr;
    end
  end

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      kind_q <= '0; in_c_q <= '0; in_h_q <= '0; in_w_q <= '0; out_c_q <= '0; out_h_q <= '0; out_w_q <= '0;
      kh_q <= '0; kw_q <= '0; sy_q <= '0; sx_q <= '0; py_q <= '0; px_q <= '0; groups_q <= '0;
      w_base_q <= '0; b_base_q <= '0; s_base_q <= '0; in_base_q <= '0; out_base_q <= '0;
      z_in_q <= '0; z_out_q <= '0; lo_q <= '0; hi_q <= 8'hff;
    end else if (csr_we_i && !busy_o) begin
      case (csr_addr_i)
        CSR_KIND:     kind_q     <= csr_wdata_i[15:0];
        CSR_IN_C:     in_c_q     <= csr_wdata_i[15:0];
        CSR_IN_H:     in_h_q     <= csr_wdata_i[15:0];
        CSR_IN_W:     in_w_q     <= csr_wdata_i[15:0];
        CSR_OUT_C:    out_c_q    <= csr_wdata_i[15:0];
        CSR_OUT_H:    out_h_q    <= csr_wdata_i[15:0];
        CSR_OUT_W:    out_w_q    <= csr_wdata_i[15:0];
        CSR_KH:       kh_q       <= csr_wdata_i[15:0];
        CSR_KW:       kw_q       <= csr_wdata_i[15:0];
        CSR_STRIDE_Y: sy_q       <= csr_wdata_i[15:0];
        CSR_STRIDE_X: sx_q       <= csr_wdata_i[15:0];
        CSR_PAD_Y:    py_q       <= csr_wdata_i[15:0];
        CSR_PAD_X:    px_q       <= csr_wdata_i[15:0];
        CSR_GROUPS:   groups_q   <= csr_wdata_i[15:0];
        CSR_W_BASE:   w_base_q   <= csr_wdata_i;
        CSR_B_BASE:   b_base_q   <= csr_wdata_i;
        CSR_S_BASE:   s_base_q   <= csr_wdata_i;
        CSR_IN_BASE:  in_base_q  <= csr_wdata_i;
        CSR_OUT_BASE: out_base_q <= csr_wdata_i;
        CSR_Z_IN:     z_in_q     <= csr_wdata_i[7:0];
        CSR_Z_OUT:    z_out_q    <= csr_wdata_i[7:0];
        CSR_LO:       lo_q       <= csr_wdata_i[7:0];
        CSR_HI:       hi_q       <= csr_wdata_i[7:0];
        default: ;
      endcase
    end
  end

  always_comb begin
    csr_rdata_o = '0;
    case (csr_addr_i)
      CSR_CTRL:          csr_rdata_o = {29'd0, error_q, done_q, busy_o};
      CSR_KIND:          csr_rdata_o = {16'd0, kind_q};
      CSR_IN_C:          csr_rdata_o = {16'd0, in_c_q};
      CSR_IN_H:          csr_rdata_o = {16'd0, in_h_q};
      CSR_IN_W:          csr_rdata_o = {16'd0, in_w_q};
      CSR_OUT_C:         csr_rdata_o = {16'd0, out_c_q};
      CSR_OUT_H:         csr_rdata_o = {16'd0, out_h_q};
      CSR_OUT_W:         csr_rdata_o = {16'd0, out_w_q};
      CSR_KH:            csr_rdata_o = {16'd0, kh_q};
      CSR_KW:            csr_rdata_o = {16'd0, kw_q};
      CSR_STRIDE_Y:      csr_rdata_o = {16'd0, sy_q};
      CSR_STRIDE_X:      csr_rdata_o = {16'd0, sx_q};
      CSR_PAD_Y:         csr_rdata_o = {16'd0, py_q};
      CSR_PAD_X:         csr_rdata_o = {16'd0, px_q};
      CSR_GROUPS:        csr_rdata_o = {16'd0, groups_q};
      CSR_W_BASE:        csr_rdata_o = w_base_q;
      CSR_B_BASE:        csr_rdata_o = b_base_q;
      CSR_S_BASE:        csr_rdata_o = s_base_q;
      CSR_IN_BASE:       csr_rdata_o = in_base_q;
      CSR_OUT_BASE:      csr_rdata_o = out_base_q;
      CSR_Z_IN:          csr_rdata_o = {24'd0, z_in_q};
      CSR_Z_OUT:         csr_rdata_o = {24'd0, z_out_q};
      CSR_LO:            csr_rdata_o = {24'd0, lo_q};
      CSR_HI:            csr_rdata_o = {24'd0, hi_q};
      CSR_ERR_FIELD:     csr_rdata_o = {24'd0, err_field_q};
      CSR_CYCLES:        csr_rdata_o = cyc_q;
      CSR_BUSY_CYCLES:   csr_rdata_o = beats_q;
      CSR_MACS:          csr_rdata_o = macs_q;
      CSR_WORDS_READ:    csr_rdata_o = words_rd - words_rd_at_start_q;
      CSR_WORDS_WRITTEN: csr_rdata_o = words_wr - words_wr_at_start_q;
      CSR_STATE:         csr_rdata_o = {28'd0, state_q};
      CSR_UNITS:         csr_rdata_o = units;
      CSR_DESC_CHECK:    csr_rdata_o = {24'd0, bad_field};
      CSR_ID:            csr_rdata_o = CSR_ID_VALUE;
      CSR_ROWS:          csr_rdata_o = 32'(ROWS);
      CSR_COLS:          csr_rdata_o = 32'(COLS);
      CSR_ACT_WORDS:     csr_rdata_o = 32'(ACT_WORDS);
      CSR_WGT_WORDS:     csr_rdata_o = 32'(WGT_WORDS);
      CSR_REC_WORDS:     csr_rdata_o = 32'(REC_WORDS);
      default:           csr_rdata_o = '0;
    endcase
  end

  // ------------------------------------------------------------------ descriptor decode and check
  logic        is_dw;
  logic [15:0] ct_in, kt_out, npix, steps;
  logic [31:0] act_need, wgt_need, out_need;

  desc_check #(
      .ROWS(ROWS), .WORD_BITS(WORD_BITS), .ACT_WORDS(ACT_WORDS), .WGT_WORDS(WGT_WORDS), .REC_WORDS(REC_WORDS),
      .MAX_K(MAX_K)
  ) u_desc (
      .kind_i(kind_q), .in_c_i(in_c_q), .in_h_i(in_h_q), .in_w_i(in_w_q), .out_c_i(out_c_q), .out_h_i(out_h_q),
      .out_w_i(out_w_q), .kh_i(kh_q), .kw_i(kw_q), .sy_i(sy_q), .sx_i(sx_q), .py_i(py_q), .px_i(px_q),
      .groups_i(groups_q), .lo_i(lo_q), .hi_i(hi_q),
      .is_dw_o(is_dw), .ct_in_o(ct_in), .kt_out_o(kt_out), .npix_o(npix), .steps_o(steps),
      .act_need_o(act_need), .wgt_need_o(wgt_need), .out_need_o(out_need), .bad_field_o(bad_field)
  );

  // ------------------------------------------------------------------ buffers
  logic [WORD_BITS-1:0] act_buf [ACT_WORDS];
  // two weight banks of WGT_WORDS: k_tile t computes from bank t % 2 while the next one loads
  logic [WORD_BITS-1:0] wgt_buf [2 * WGT_WORDS];
  // every output channel's bias and scale record, loaded once per layer (hexgen's bias/scale buffers)
  logic [WORD_BITS-1:0] bias_buf [REC_WORDS];
  logic [WORD_BITS-1:0] scale_buf [REC_WORDS];

  // ------------------------------------------------------------------ reader
  // The load sequencer (rtl/load_seq.sv) issues the layer's read commands and keeps the
  // scoreboards (k_tiles whose weights / records are in, input rows in); the burst reader takes
  // one command after another without waiting for their data. Nothing else waits for a load.
  logic [2:0]        s_seg;         // what the sequencer issues next (seq_e)
  logic [15:0]       wloaded_q;     // k_tiles whose weights are in their bank
  logic [15:0]       recs_kt_q;     // k_tiles whose bias and scale records are in
  logic [15:0]       act_y_q;       // input rows (every channel tile) in the activation buffer
  logic [15:0]       cfin_q;        // k_tiles the compute unit has finished issuing
  logic              run_start;     // StCheck -> StRun

  logic              r_cmd_valid, r_cmd_ready, r_bank_wait, r_done;
  logic [1:0]        r_cmd_tag, r_buf_tag, r_done_tag;
  logic [31:0]       r_cmd_ext, r_cmd_ext_stride;
  logic [BUF_AW-1:0] r_cmd_buf, r_cmd_buf_stride;
  logic [15:0]       r_cmd_len, r_cmd_rows;
  logic              bw_valid;
  logic [BUF_AW-1:0] bw_addr;
  logic [WORD_BITS-1:0] bw_data;
  logic              r_req_valid, r_req_ready;
  logic [ADDR_W-1:0] r_req_addr;
  logic [7:0]        r_req_len;

  load_seq #(.WGT_WORDS(WGT_WORDS), .REC_WPK(REC_WPK), .BUF_AW(BUF_AW)) u_load (
      .clk_i, .rst_i, .start_i(run_start), .run_i(state_q == StRun),
      .in_h_i(in_h_q), .in_w_i(in_w_q), .ct_in_i(ct_in), .kt_out_i(kt_out), .wgt_need_i(wgt_need),
      .w_base_i(w_base_q), .b_base_i(b_base_q), .s_base_i(s_base_q), .in_base_i(in_base_q), .cfin_i(cfin_q),
      .cmd_valid_o(r_cmd_valid), .cmd_ready_i(r_cmd_ready), .cmd_tag_o(r_cmd_tag), .cmd_ext_o(r_cmd_ext),
      .cmd_ext_stride_o(r_cmd_ext_stride), .cmd_buf_o(r_cmd_buf), .cmd_buf_stride_o(r_cmd_buf_stride),
      .cmd_len_o(r_cmd_len), .cmd_rows_o(r_cmd_rows), .done_i(r_done), .done_tag_i(r_done_tag),
      .seg_o(s_seg), .bank_wait_o(r_bank_wait), .wloaded_o(wloaded_q), .recs_kt_o(recs_kt_q), .act_y_o(act_y_q)
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
      .rd_valid_i, .rd_ready_o, .rd_data_i,
      .buf_valid_o(bw_valid), .buf_tag_o(r_buf_tag), .buf_addr_o(bw_addr), .buf_data_o(bw_data),
      .done_o(r_done), .done_tag_o(r_done_tag), .words_read_o(words_rd)
  );

  always_ff @(posedge clk_i) begin
    if (bw_valid) begin
      case (r_buf_tag)
        TgAct:   act_buf[bw_addr[ACT_AW-1:0]] <= bw_data;
        TgWgt:   wgt_buf[bw_addr[WGT_AW:0]] <= bw_data;
        TgBias:  bias_buf[bw_addr[REC_AW-1:0]] <= bw_data;
        TgScale: scale_buf[bw_addr[REC_AW-1:0]] <= bw_data;
        default: ;
      endcase
    end
  end

  // ------------------------------------------------------------------ main FSM
  logic layer_written;  // the writer has stored the layer's last output word

  // Two processes (lowRISC style): the next state and its outputs are computed here, the
  // register block below only stores them.
  state_e      state_d;
  logic        done_d, error_d;
  logic [7:0]  err_field_d;
  logic [31:0] cyc_d;

  always_comb begin
    state_d = state_q;
    done_d = done_q;
    error_d = error_q;
    err_field_d = err_field_q;
    cyc_d = (state_q == StCheck || state_q == StRun) ? cyc_q + 1 : cyc_q;
    case (state_q)
      StIdle, StDone, StError: if (start) begin
        state_d = StCheck;
        done_d = 1'b0;
        error_d = 1'b0;
        err_field_d = '0;
        cyc_d = '0;
      end
      StCheck: begin
        if (bad_field != 0) begin  // started although DESC_CHECK refuses a field
          err_field_d = bad_field;
          error_d = 1'b1;
          state_d = StError;
        end else begin
          state_d = StRun;
        end
      end
      StRun: begin
        if (rq_ovf_any) begin  // an accumulator + bias left int32: the layer stops with an error
          error_d = 1'b1;
          err_field_d = CSR_BIAS_OVERFLOW;
          state_d = StError;
        end else if (layer_written) begin
          state_d = StDone;
          done_d = 1'b1;
        end
      end
      default: state_d = StIdle;
    endcase
  end

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      state_q     <= StIdle;
      done_q      <= 1'b0;
      error_q     <= 1'b0;
      err_field_q <= '0;
      cyc_q       <= '0;
    end else begin
      state_q     <= state_d;
      done_q      <= done_d;
      error_q     <= error_d;
      err_field_q <= err_field_d;
      cyc_q       <= cyc_d;
    end
  end

  assign run_start = state_q == StCheck && bad_field == 0;
  assign busy_o = state_q == StCheck || state_q == StRun;
  assign done_o = done_q;
  assign error_o = error_q;

  // ------------------------------------------------------------------ gather unit
  // Walks k_tile, pixel tile (COLS output pixels in raster order; column j of a set = pixel j of
  // the tile), step (c_tile, ky, kx; depthwise: ky, kx). Two register sets of COLS vectors; a set
  // is full when fill_q[s] != drain_q[s]. The activation buffer is COLS banks interleaved by word
  // address (bank = address mod COLS): each cycle the gather takes the longest run of the set's
  // next columns whose words lie in different banks and whose input rows are in. So a step with
  // few beats (depthwise: one; a 3-channel stem: three) is not held up by the gather.
  logic [WORD_BITS-1:0] regs_q [2][COLS];
  logic [1:0]           fill_q, drain_q;
  logic                 meta_first_q [2];
  logic                 meta_last_q [2];
  logic                 meta_ktlast_q [2];   // the k_tile's last set
  logic [CW-1:0]        meta_cols_q [2];
  logic [15:0]          meta_step_q [2];
  logic [15:0]          meta_ct_q [2];
  logic [15:0]          meta_kt_q [2];

  logic        g_active_q, g_set_q;
  logic [15:0] g_kt_q, g_p0_q, g_oy0_q, g_ox0_q, g_oy_q, g_ox_q, g_ct_q, g_ky_q, g_kx_q, g_step_q;
  logic [CW-1:0] g_j_q;
  logic [CW-1:0] g_cols;
  logic        g_free, g_go, g_act_wait, g_set_done, g_last_step, g_last_tile;
  logic [15:0] g_ct_eff;

  assign g_cols = (32'(npix) - 32'(g_p0_q) >= COLS) ? CW'(COLS) : CW'(32'(npix) - 32'(g_p0_q));
  assign g_free = fill_q[g_set_q] == drain_q[g_set_q];
  assign g_set_done = 32'(g_j_q) + 32'(cq_n) == 32'(g_cols);
  assign g_last_step = (g_step_q + 1 == steps);
  assign g_last_tile = 32'(g_p0_q) + COLS >= 32'(npix);
  assign g_ct_eff = is_dw ? g_kt_q : g_ct_q;

  // The columns g_j_q + q of the set, q = 0 .. COLS-1, walk on in raster order from
  // (g_oy_q, g_ox_q); cq_n of them are taken this cycle.
  logic [15:0]     cq_oy [COLS+1];
  logic [15:0]     cq_ox [COLS+1];
  logic [COLS-1:0] cq_valid, cq_inb, cq_wait, cq_ok;
  logic [31:0]     cq_addr [COLS];
  logic [CW-1:0]   cq_n;       // columns taken this cycle
  assign cq_oy[0] = g_oy_q;
  assign cq_ox[0] = g_ox_q;
  for (genvar q = 0; q < COLS; q++) begin : g_cq
    logic signed [17:0] iy, ix;
    assign cq_ox[q+1] = (32'(cq_ox[q]) + 1 == 32'(out_w_q)) ? 16'd0 : cq_ox[q] + 16'd1;
    assign cq_oy[q+1] = (32'(cq_ox[q]) + 1 == 32'(out_w_q)) ? cq_oy[q] + 16'd1 : cq_oy[q];
    assign iy = 18'($signed({2'b0, cq_oy[q]}) * $signed({2'b0, sy_q})) + $signed({2'b0, g_ky_q}) - $signed({2'b0, py_q});
    assign ix = 18'($signed({2'b0, cq_ox[q]}) * $signed({2'b0, sx_q})) + $signed({2'b0, g_kx_q}) - $signed({2'b0, px_q});
    assign cq_valid[q] = 32'(g_j_q) + q < 32'(g_cols);
    assign cq_inb[q] = (iy >= 0) && (iy < $signed({2'b0, in_h_q})) && (ix >= 0) && (ix < $signed({2'b0, in_w_q}));
    assign cq_wait[q] = cq_inb[q] && 32'(iy[15:0]) >= 32'(act_y_q) && act_y_q != in_h_q;
`ifdef MUT_ADDR  // mutation test: an off-by-one in the activation address
    assign cq_addr[q] = (32'(g_ct_eff) * 32'(in_h_q) + 32'(iy[15:0])) * 32'(in_w_q) + 32'(ix[15:0]) + 32'd1;
`else
    assign cq_addr[q] = (32'(g_ct_eff) * 32'(in_h_q) + 32'(iy[15:0])) * 32'(in_w_q) + 32'(ix[15:0]);
`endif
  end
  logic [CB-1:0] cq_bank [COLS];
  logic          cq_run [COLS+1];  // columns 0 .. q-1 are all taken
  assign cq_run[0] = 1'b1;
  for (genvar q = 0; q < COLS; q++) begin : g_cq_take
    logic clash;  // an earlier column of the run reads the same bank
    logic [COLS-1:0] same;
    assign cq_bank[q] = cq_addr[q][CB-1:0];
    for (genvar q2 = 0; q2 < COLS; q2++) begin : g_same
      assign same[q2] = (q2 < q) && cq_inb[q2] && cq_bank[q2] == cq_bank[q];
    end
    assign clash = cq_inb[q] && (|same);
    assign cq_ok[q] = cq_run[q] && cq_valid[q] && !cq_wait[q] && !clash;
    assign cq_run[q+1] = cq_ok[q];
  end
  always_comb begin : run_length
    cq_n = '0;
    for (int q = 0; q < COLS; q++) begin
      if (cq_ok[q]) cq_n = CW'(q + 1);
    end
  end

  // an input row not yet arrived stops the run (padding positions never wait; once the whole
  // image is in, nothing waits, so a wrong address reads a wrong word instead of hanging)
  assign g_act_wait = cq_n == '0;
  assign g_go = g_active_q && g_free && !g_act_wait;

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      g_active_q <= 1'b0;
      g_set_q    <= 1'b0;
      fill_q     <= '0;
      for (int s = 0; s < 2; s++) begin
        meta_first_q[s] <= 1'b0; meta_last_q[s] <= 1'b0; meta_ktlast_q[s] <= 1'b0; meta_cols_q[s] <= '0;
        meta_step_q[s] <= '0; meta_ct_q[s] <= '0; meta_kt_q[s] <= '0;
      end
    end else if (run_start) begin
      g_active_q <= 1'b1;
      g_set_q <= 1'b0;
      fill_q  <= drain_q;
      g_kt_q  <= '0;
      g_p0_q  <= '0; g_oy0_q <= '0; g_ox0_q <= '0; g_oy_q <= '0; g_ox_q <= '0;
      g_ct_q  <= '0; g_ky_q <= '0; g_kx_q <= '0; g_step_q <= '0; g_j_q <= '0;
    end else if (g_go) begin
      for (int q = 0; q < COLS; q++) begin
        if (cq_ok[q]) regs_q[g_set_q][JW'(g_j_q + CW'(q))] <= cq_inb[q] ? act_buf[cq_addr[q][ACT_AW-1:0]] : {ROWS{z_in_q}};
      end
      if (!g_set_done) begin
        g_j_q  <= g_j_q + cq_n;
        g_ox_q <= cq_ox[cq_n];
        g_oy_q <= cq_oy[cq_n];
      end else begin
        // the step's set is complete
        fill_q[g_set_q]        <= ~fill_q[g_set_q];
        meta_first_q[g_set_q]  <= (g_step_q == 0);
        meta_last_q[g_set_q]   <= g_last_step;
        meta_ktlast_q[g_set_q] <= g_last_step && g_last_tile;
        meta_cols_q[g_set_q]   <= g_cols;
        meta_step_q[g_set_q]   <= g_step_q;
        meta_ct_q[g_set_q]     <= g_ct_eff;
        meta_kt_q[g_set_q]     <= g_kt_q;
        g_set_q <= ~g_set_q;
        g_j_q   <= '0;
        if (!g_last_step) begin
          g_step_q <= g_step_q + 1;
          g_oy_q <= g_oy0_q;
          g_ox_q <= g_ox0_q;
          if (32'(g_kx_q) + 1 < 32'(kw_q)) begin
            g_kx_q <= g_kx_q + 1;
          end else begin
            g_kx_q <= '0;
            if (32'(g_ky_q) + 1 < 32'(kh_q)) begin
              g_ky_q <= g_ky_q + 1;
            end else begin
              g_ky_q <= '0;
              g_ct_q <= g_ct_q + 1;
            end
          end
        end else begin
          g_step_q <= '0;
          g_ct_q <= '0; g_ky_q <= '0; g_kx_q <= '0;
          if (!g_last_tile) begin
            // next pixel tile: starts at the pixel after this tile's last one
            g_p0_q <= g_p0_q + 16'(COLS);
            g_ox0_q <= cq_ox[cq_n]; g_oy0_q <= cq_oy[cq_n];
            g_ox_q  <= cq_ox[cq_n]; g_oy_q  <= cq_oy[cq_n];
          end else begin
            // next k_tile: the image again from its first pixel
            g_p0_q <= '0; g_oy0_q <= '0; g_ox0_q <= '0; g_oy_q <= '0; g_ox_q <= '0;
            g_kt_q <= g_kt_q + 1;
            if (g_kt_q + 1 == kt_out) g_active_q <= 1'b0;
          end
        end
      end
    end
  end


  // ------------------------------------------------------------------ compute unit
  logic        c_set_q;
  logic [15:0] c_lane_q;
  logic        c_full, c_wgt_ok;
  logic [15:0] c_lanes;      // beats of the current set
  logic        c_last_beat;
  logic [31:0] c_waddr;
  logic        mac_in_valid, mac_in_ready, mac_first, mac_last;
  logic [ROWS*8-1:0] mac_w;
  logic [COLS*8-1:0] mac_a;

  assign c_full = fill_q[c_set_q] != drain_q[c_set_q];
  assign c_wgt_ok = wloaded_q > meta_kt_q[c_set_q];
  // one beat per real input channel of the step's channel tile
  // (depthwise: one beat per set, every cell taking its own channel's activation)
  assign c_lanes = is_dw ? 16'd1
                 : (32'(in_c_q) - 32'(meta_ct_q[c_set_q]) * ROWS >= ROWS) ? 16'(ROWS)
                 : 16'(32'(in_c_q) - 32'(meta_ct_q[c_set_q]) * ROWS);
  assign c_last_beat = (c_lane_q + 1 == c_lanes);
  assign c_waddr = (meta_kt_q[c_set_q][0] ? 32'(WGT_WORDS) : 32'd0)
                 + (is_dw ? 32'(meta_step_q[c_set_q]) : 32'(meta_step_q[c_set_q]) * ROWS + 32'(c_lane_q));
`ifdef MUT_HANG  // mutation test: the compute unit never issues a beat (the watchdog must fire)
  assign mac_in_valid = 1'b0 && c_full;
`else
  assign mac_in_valid = c_full && c_wgt_ok && state_q == StRun;
`endif
  assign mac_first = meta_first_q[c_set_q] && c_lane_q == 0;
  assign mac_last = meta_last_q[c_set_q] && c_last_beat;
  logic [WORD_BITS-1:0] c_wword;
  assign c_wword = wgt_buf[c_waddr[WGT_AW:0]];
  assign mac_w = c_wword;
  logic [COLS*ROWS*8-1:0] mac_a_cells;   // depthwise: cell (r, c) = lane r of column c's vector
  for (genvar c = 0; c < COLS; c++) begin : g_acol
    assign mac_a[c*8 +: 8] = is_dw ? 8'd0 : regs_q[c_set_q][c][c_lane_q[RW-1:0]*8 +: 8];
    assign mac_a_cells[c*ROWS*8 +: ROWS*8] = is_dw ? regs_q[c_set_q][c] : '0;  // quiet unless depthwise
  end

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      c_set_q  <= 1'b0;
      c_lane_q <= '0;
      drain_q  <= '0;
      beats_q  <= '0;
      macs_q   <= '0;
      cfin_q   <= '0;
    end else begin
      if (start) begin
        beats_q <= '0;
        macs_q  <= '0;
      end
      if (run_start) begin
        c_set_q  <= 1'b0;
        c_lane_q <= '0;
        cfin_q   <= '0;
      end else if (mac_in_valid && mac_in_ready) begin
        beats_q <= beats_q + 1;
        macs_q  <= macs_q + 32'(meta_cols_q[c_set_q]) * 32'(ROWS);
        if (c_last_beat) begin
          c_lane_q <= '0;
          drain_q[c_set_q] <= ~drain_q[c_set_q];
          c_set_q <= ~c_set_q;
          if (meta_ktlast_q[c_set_q]) cfin_q <= cfin_q + 1;
        end else begin
          c_lane_q <= c_lane_q + 1;
        end
      end
    end
  end

  // ------------------------------------------------------------------ MAC array, requantizer
  logic                 mac_out_valid, mac_out_ready, mac_out_last;
  logic [ROWS*32-1:0]   mac_out_acc;
  logic [CW-1:0]        mac_out_col;

  logic [7:0] mac_z;
`ifdef MUT_ZP  // mutation test: the wrong zero point reaches the array
  assign mac_z = z_in_q + 8'd1;
`else
  assign mac_z = z_in_q;
`endif

  mac_array #(.ROWS(ROWS), .COLS(COLS)) u_mac (
      .clk_i, .rst_i,
      .in_valid_i(mac_in_valid), .in_ready_o(mac_in_ready),
      .in_w_i(mac_w), .in_a_i(mac_a), .in_cells_i(is_dw), .in_a_cells_i(mac_a_cells), .in_z_i(mac_z),
      .in_first_i(mac_first), .in_last_i(mac_last), .in_cols_i(meta_cols_q[c_set_q]),
      .out_valid_o(mac_out_valid), .out_ready_i(mac_out_ready), .out_acc_o(mac_out_acc),
      .out_col_o(mac_out_col), .out_last_o(mac_out_last)
  );

  // Drained pixels come out in the output's order, [k_tile][y][x]: count them to know which
  // k_tile's records the requantizer needs.
  logic [15:0] d_pix_q, d_kt_q;
  logic        rq_in_valid, rq_in_ready, d_fire;
  logic recs_ok;  // the records of the k_tile being drained are in
  assign recs_ok = recs_kt_q > d_kt_q;
  assign rq_in_valid = mac_out_valid && recs_ok;
  assign mac_out_ready = rq_in_ready && recs_ok;
  assign d_fire = rq_in_valid && rq_in_ready;

  always_ff @(posedge clk_i) begin
    if (rst_i || run_start) begin
      d_pix_q <= '0;
      d_kt_q  <= '0;
    end else if (d_fire) begin
      if (d_pix_q + 1 == npix) begin
        d_pix_q <= '0;
        d_kt_q  <= d_kt_q + 1;
      end else begin
        d_pix_q <= d_pix_q + 1;
      end
    end
  end

  logic [ROWS*32-1:0] rq_bias;
  logic [ROWS*4-1:0]  rq_shift;
  logic [ROWS*31-1:0] rq_m0;
  logic [ROWS*6-1:0]  rq_n;
  logic [ROWS-1:0]    rq_ovf;
  logic               rq_out_valid, rq_out_ready;
  logic [WORD_BITS-1:0] rq_out_data;

  logic [REC_AW-1:0] rec_base;  // first record word of the k_tile being drained
  assign rec_base = REC_AW'(32'(d_kt_q) * REC_WPK);
  // the k_tile's records as one vector, record r at [r*64 +: 64] (its words, least significant first)
  logic [ROWS*64-1:0] kt_bias, kt_scale;
  for (genvar w = 0; w < REC_WPK; w++) begin : g_rec_word
    assign kt_bias[w*WORD_BITS +: WORD_BITS] = bias_buf[rec_base + REC_AW'(w)];
    assign kt_scale[w*WORD_BITS +: WORD_BITS] = scale_buf[rec_base + REC_AW'(w)];
  end

  for (genvar r = 0; r < ROWS; r++) begin : g_rec
    logic [63:0] brec, srec;
    assign brec = kt_bias[r*64 +: 64];
    assign srec = kt_scale[r*64 +: 64];
    // field positions and widths: hexgen.layout, through accel_csr.svh
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
      .in_acc_i(mac_out_acc), .in_bias_mant_i(rq_bias), .in_bias_shift_i(rq_shift),
      .in_m0_i(rq_m0), .in_n_i(rq_n), .in_z_out_i(z_out_q), .in_lo_i(lo_q), .in_hi_i(hi_q),
      .out_valid_o(rq_out_valid), .out_ready_i(rq_out_ready), .out_data_o(rq_out_data), .out_ovf_o(rq_ovf)
  );
  assign rq_ovf_any = rq_out_valid && rq_out_ready && (rq_ovf != '0);

  // ------------------------------------------------------------------ output writer
  // rtl/out_writer.sv: the output FIFO and one write command over the whole output region; a
  // write burst is requested only when all its words wait in the FIFO.
  logic              w_req_valid, w_req_ready, w_busy;
  logic [ADDR_W-1:0] w_req_addr;
  logic [7:0]        w_req_len;

  out_writer #(.ADDR_W(ADDR_W), .WORD_BITS(WORD_BITS), .MAX_BURST(MAX_BURST)) u_writer (
      .clk_i, .rst_i, .start_i(run_start), .run_i(state_q == StRun),
      .out_base_i(ADDR_W'(out_base_q)), .out_need_i(out_need),
      .in_valid_i(rq_out_valid), .in_ready_o(rq_out_ready), .in_data_i(rq_out_data),
      .req_valid_o(w_req_valid), .req_ready_i(w_req_ready), .req_addr_o(w_req_addr), .req_len_o(w_req_len),
      .wr_valid_o, .wr_ready_i, .wr_data_o,
      .written_o(layer_written), .busy_o(w_busy), .words_written_o(words_wr)
  );

  // ------------------------------------------------------------------ memory request arbiter
  // The writer first (it frees FIFO space and so the array), else the reader.
  assign req_valid_o = w_req_valid || r_req_valid;
  assign req_addr_o  = w_req_valid ? w_req_addr : r_req_addr;
  assign req_len_o   = w_req_valid ? w_req_len : r_req_len;
  assign req_we_o    = w_req_valid;
  assign w_req_ready = req_ready_i;
  assign r_req_ready = req_ready_i && !w_req_valid;

  // ------------------------------------------------------------------ UNITS status word
  // Field positions from tb/csr.py (UNITS_FIELDS, through accel_csr.svh), which also decodes them.
  always_comb begin
    units = '0;
    units[UNITS_READER_LSB +: UNITS_READER_W] = s_seg;
    units[UNITS_BANK_WAIT_LSB +: UNITS_BANK_WAIT_W] = r_bank_wait;
    units[UNITS_GATHER_ACTIVE_LSB +: UNITS_GATHER_ACTIVE_W] = g_active_q;
    units[UNITS_GATHER_ROW_WAIT_LSB +: UNITS_GATHER_ROW_WAIT_W] = g_active_q && g_act_wait;
    units[UNITS_COMPUTE_WGT_WAIT_LSB +: UNITS_COMPUTE_WGT_WAIT_W] = c_full && !c_wgt_ok;
    units[UNITS_REQUANT_REC_WAIT_LSB +: UNITS_REQUANT_REC_WAIT_W] = mac_out_valid && !recs_ok;
    units[UNITS_WRITER_BUSY_LSB +: UNITS_WRITER_BUSY_W] = w_busy;
    units[UNITS_GATHER_SET_WAIT_LSB +: UNITS_GATHER_SET_WAIT_W] = g_active_q && !g_free;
    units[UNITS_COMPUTE_KT_LSB +: UNITS_COMPUTE_KT_W] = meta_kt_q[c_set_q];
  end

  // unused: the drained column index and tile flag are implied by the pixel count
  logic unused;
  assign unused = ^{mac_out_col, mac_out_last, bw_addr, c_waddr, r_cmd_ext, r_cmd_ext_stride, act_need};

endmodule

`resetall
