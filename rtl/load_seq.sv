`resetall
`timescale 1ns / 1ps
`default_nettype none

// Load sequencer (a unit of the layer engine, docs/engine.md): the read commands of one pass (a
// whole layer, or the band of rows and group of output-channel tiles rtl/band_seq.sv gives) and
// the scoreboards that say what has arrived.
//
// It issues 2D read commands to the burst reader, in the order hexgen.rules.input_loads gives
// for the input: k_tile 0's bias records, scale records and weights (bank 0); the input image
// one row y at a time (row y of every channel tile in one command, so the gather starts on the
// first rows while the rest arrive; an image of one row in one command); then for each next
// k_tile t its bias, scale and weights into bank t % 2, the weights once the compute unit has
// finished k_tile t - 2 (cfin_i: k_tiles finished). Depthwise (is_dw_i), k_tile t reads only
// channel tile t, so each k_tile's bias, scale and weights are followed by that channel tile's
// rows, one command per row: k_tile 0 computes while the next tiles arrive.
// Buffers mirror their segments: the activation buffer holds the pass's input rows word for
// word as hexgen laid them out (channel tiles in_h_i rows apart in the buffer, in_plane_i words
// apart in the segment), the record buffers the record words k_tile after k_tile; k_tile t's
// weights fill bank t % 2 from its start.
// With w_tr_i (register W_TRANSPOSE: Q K^T's K read where its producer wrote it, a token tensor)
// k_tile t's weights are one 2D command: ct_in_i rows of ROWS words (the k_tile's ROWS tokens of each
// channel tile) from w_base + t * ROWS, the rows wgt_step_i (W_KT_STRIDE) apart, ROWS apart in the
// bank; rtl/wgt_transpose.sv transposes each row of ROWS words on its way into the bank.
// Scoreboards count, as each command's last word arrives (done_i, done_tag_i): k_tiles whose
// records are in (recs_kt_o: the scale command comes second), input-row commands in (act_rows_o,
// in the order above); k_tiles whose weights are in their bank (wloaded_o) as the weight path
// says so (wgt_done_i: rtl/wgt_transpose.sv, after the transposed words). tb/engine/test_load_seq.py checks
// the command stream against hexgen's memory map.
module load_seq #(
    parameter int ROWS = 8,
    parameter int WGT_WORDS = 2048,
    parameter int REC_WPK = 8,      // record words per k_tile (ROWS 64-bit records)
    parameter int BUF_AW = 16
) (
    input  logic              clk_i,
    input  logic              rst_i,
    input  logic              start_i,    // a pass starts: sequence and scoreboards from zero
    input  logic              run_i,      // the engine runs a layer: commands may be issued
    input  logic              is_dw_i,    // depthwise: the input channel tile by channel tile

    // the pass: its input rows and k_tiles (band_seq), derived sizes (desc_check), segment word bases
    input  logic [15:0]       in_h_i,      // input rows the pass loads
    input  logic [15:0]       row_step_i,  // their spacing in the segment, in rows (a pass of tap rows: DIL_Y)
    input  logic [15:0]       in_w_i,
    input  logic [31:0]       in_plane_i,  // words between channel tiles in the input segment
    input  logic [15:0]       ct_in_i,
    input  logic [15:0]       kt_out_i,
    /* verilator lint_off UNUSEDSIGNAL */  // a burst's length: the low 16 bits (a k_tile's weights fit a bank)
    input  logic [31:0]       wgt_need_i,  // words of one k_tile of weights
    /* verilator lint_on UNUSEDSIGNAL */
    input  logic [31:0]       wgt_step_i,  // words from one k_tile's weights to the next's (W_KT_STRIDE, or wgt_need_i)
    input  logic              w_tr_i,      // W_TRANSPOSE: ROWS words a channel tile, the tiles wgt_step_i apart
    input  logic [31:0]       w_base_i,
    input  logic [31:0]       b_base_i,
    input  logic [31:0]       s_base_i,
    input  logic [31:0]       in_base_i,
    input  logic [15:0]       cfin_i,      // k_tiles the compute unit has finished

    // commands to the burst reader
    output logic              cmd_valid_o,
    input  logic              cmd_ready_i,
    output logic [1:0]        cmd_tag_o,
    output logic [31:0]       cmd_ext_o,
    output logic [31:0]       cmd_ext_stride_o,
    output logic [BUF_AW-1:0] cmd_buf_o,
    output logic [BUF_AW-1:0] cmd_buf_stride_o,
    output logic [15:0]       cmd_len_o,
    output logic [15:0]       cmd_rows_o,
    input  logic              done_i,      // a command's last word is in its buffer
    input  logic [1:0]        done_tag_i,
    input  logic              wgt_done_i,  // a weight command's words are in their bank

    output logic [2:0]        seg_o,       // what is issued next (seq_e, the UNITS READER field)
    output logic              bank_wait_o, // the next weights wait for their bank
    output logic [15:0]       wloaded_o,
    output logic [15:0]       recs_kt_o,
    output logic [31:0]       act_rows_o   // input-row commands whose words are all in
);

  /* verilator lint_off UNUSEDPARAM */  // the CSR map: this unit uses the two enums only
`include "accel_csr.svh"
  /* verilator lint_on UNUSEDPARAM */

  initial begin
    if (ROWS < 1 || REC_WPK < 1 || WGT_WORDS < 1 || BUF_AW < 16) begin
      $error("%m: ROWS = %0d, REC_WPK = %0d and WGT_WORDS = %0d must be >= 1, BUF_AW = %0d >= 16", ROWS, REC_WPK,
             WGT_WORDS, BUF_AW);
      $finish;
    end
  end

  seq_e        seg_q;
  logic [15:0] kt_q, y_q;
  logic [BUF_AW-1:0] plane; // words of one channel tile of the pass's input rows in the buffer
  logic        bank_hi;    // the next weights go to bank 1
  logic [15:0] wloaded_q, recs_kt_q;
  logic [31:0] act_rows_q;
  logic [15:0] wgt_need16;  // (a part-select outside always_comb: Icarus 11 cannot take one inside)

  assign wgt_need16 = wgt_need_i[15:0];

  assign plane = BUF_AW'(32'(in_h_i) * 32'(in_w_i));
  assign bank_hi = kt_q[0];
  // weights of k_tile t wait until the compute unit is done with k_tile t - 2 (same bank)
`ifdef MUT_SELECT  // mutation tests (tests/test_budget_sim.py): faults chosen at run time, +MUT_<name>
  logic mut_wgt_wait;
  initial begin
    mut_wgt_wait = $test$plusargs("MUT_WGT_WAIT");  // k_tile t's weights wait for k_tile t - 1 (slow, right)
  end
  assign bank_wait_o = seg_q == SqWgt && 32'(kt_q) >= 32'(cfin_i) + (mut_wgt_wait ? 32'd1 : 32'd2);
`else
  assign bank_wait_o = seg_q == SqWgt && 32'(kt_q) >= 32'(cfin_i) + 2;
`endif
  assign cmd_valid_o = run_i && seg_q != SqDone && !bank_wait_o;
  assign seg_o = seg_q;
  assign wloaded_o = wloaded_q;
  assign recs_kt_o = recs_kt_q;
  assign act_rows_o = act_rows_q;

  always_comb begin
    cmd_tag_o = TgAct;
    cmd_ext_o = '0;
    cmd_ext_stride_o = '0;
    cmd_buf_o = '0;
    cmd_buf_stride_o = '0;
    cmd_len_o = 16'd1;
    cmd_rows_o = 16'd1;
    case (seg_q)
      SqBias: begin
        cmd_tag_o = TgBias; cmd_ext_o = b_base_i + 32'(kt_q) * REC_WPK;
        cmd_buf_o = BUF_AW'(32'(kt_q) * REC_WPK); cmd_len_o = 16'(REC_WPK);
      end
      SqScale: begin
        cmd_tag_o = TgScale; cmd_ext_o = s_base_i + 32'(kt_q) * REC_WPK;
        cmd_buf_o = BUF_AW'(32'(kt_q) * REC_WPK); cmd_len_o = 16'(REC_WPK);
      end
      SqWgt: begin
        cmd_tag_o = TgWgt; cmd_ext_o = w_base_i + 32'(kt_q) * wgt_step_i;
        cmd_buf_o = bank_hi ? BUF_AW'(WGT_WORDS) : '0; cmd_len_o = wgt_need16;
        if (w_tr_i) begin
          // the k_tile's ROWS tokens of every channel tile, into the bank ROWS words a tile
          cmd_ext_o = w_base_i + 32'(kt_q) * ROWS; cmd_ext_stride_o = wgt_step_i;
          cmd_buf_stride_o = BUF_AW'(ROWS); cmd_len_o = 16'(ROWS); cmd_rows_o = ct_in_i;
        end
      end
      SqAct: begin
        // row y of every channel tile: in_base + c_tile * in_plane + y * row_step * in_w in the segment,
        // (c_tile * in_h + y) * in_w in the buffer
        cmd_tag_o = TgAct; cmd_ext_o = in_base_i + 32'(y_q) * 32'(row_step_i) * 32'(in_w_i); cmd_ext_stride_o = in_plane_i;
        cmd_buf_o = BUF_AW'(32'(y_q) * 32'(in_w_i)); cmd_buf_stride_o = plane;
        cmd_len_o = in_w_i; cmd_rows_o = ct_in_i;
        if (is_dw_i) begin
          // depthwise: row y of channel tile kt_q only
          cmd_ext_o = in_base_i + 32'(kt_q) * in_plane_i + 32'(y_q) * 32'(row_step_i) * 32'(in_w_i);
          cmd_buf_o = BUF_AW'((32'(kt_q) * 32'(in_h_i) + 32'(y_q)) * 32'(in_w_i)); cmd_rows_o = 16'd1;
        end else if (in_plane_i == 32'(in_w_i)) begin
          // an image of one row (fc: a 1x1 image): every channel tile's row is consecutive, one row
          cmd_len_o = 16'(32'(ct_in_i) * 32'(in_w_i)); cmd_rows_o = 16'd1;
        end
      end
      default: ;
    endcase
  end

  always_ff @(posedge clk_i) begin
    if (rst_i || start_i) begin
      seg_q <= SqBias;
      kt_q  <= '0;
      y_q   <= '0;
    end else if (cmd_valid_o && cmd_ready_i) begin
      case (seg_q)
        SqBias:  seg_q <= SqScale;
        SqScale: seg_q <= SqWgt;
        SqWgt: begin
          if (kt_q == 0 || is_dw_i) begin
            seg_q <= SqAct;  // the input (depthwise: k_tile kt_q's own channel tile)
          end else if (kt_q + 1 == kt_out_i) begin
            seg_q <= SqDone;
          end else begin
            kt_q  <= kt_q + 1;
            seg_q <= SqBias;
          end
        end
        SqAct: begin
          if (y_q + 1 != in_h_i) begin
            y_q <= y_q + 1;
          end else if (kt_q + 1 < kt_out_i) begin
            y_q   <= '0;
            kt_q  <= kt_q + 1;
            seg_q <= SqBias;
          end else begin
            seg_q <= SqDone;
          end
        end
        default: ;
      endcase
    end
  end

  always_ff @(posedge clk_i) begin
    if (rst_i || start_i) begin
      wloaded_q <= '0;
      recs_kt_q <= '0;
      act_rows_q <= '0;
    end else begin
      if (wgt_done_i) begin
        wloaded_q <= wloaded_q + 1;
      end
      if (done_i) begin
        case (done_tag_i)
          TgScale: recs_kt_q <= recs_kt_q + 1;
          TgAct:   act_rows_q <= act_rows_q + 1;
          default: ;
        endcase
      end
    end
  end

`ifndef SYNTHESIS
  // protocol checkers (rtl/vr_check.sv, rtl/outstanding_check.sv; docs/rtl.md, "Protocol checkers"): the
  // read commands to the burst reader
  vr_check #(.W(2 + 64 + 2 * BUF_AW + 32)) u_chk_cmd (.clk_i, .rst_i, .valid_i(cmd_valid_o), .ready_i(cmd_ready_i),
      .data_i({cmd_tag_o, cmd_ext_o, cmd_ext_stride_o, cmd_buf_o, cmd_buf_stride_o, cmd_len_o, cmd_rows_o}));
`endif

endmodule

`resetall
