`resetall
`timescale 1ns / 1ps
`default_nettype none

// Control registers and the engine's main FSM (a unit of the layer engine, docs/engine.md).
//
// The CSR file: the layer descriptor (held while busy: writes to it are ignored then), the
// status and performance counters, the build facts; the CSR map and every reset value come from
// tb/engine/csr.py (through accel_csr.svh), which tb/engine/test_ctrl_regs.py reads back after reset.
// The FSM (two processes, lowRISC style): a start from idle, done or error goes to StCheck; the
// descriptor check (rtl/desc_check.sv, bad_field_i) either refuses a field (StError, ERR_FIELD =
// its CSR address) or the layer's first pass runs (run_start_o for one cycle, StRun) until the
// writer has stored its last word; then the next pass (next_pass_o, rtl/band_seq.sv; back through
// StCheck, whose run_start_o starts it) or, after the last pass (last_pass_i), StDone. An
// accumulator + bias that left int32 ends the layer (StError, ERR_FIELD = CSR_BIAS_OVERFLOW).
// Every performance counter counts from start, over all passes.
module ctrl_regs #(
    parameter int ROWS = 8,
    parameter int COLS = 8,
    parameter int ACT_WORDS = 4096,
    parameter int WGT_WORDS = 1024,
    parameter int REC_WORDS = 256,
    parameter int WGT_WIDTHS = 'h114, // bit b set: b-bit weights are unpacked (a build fact)
    parameter int PIX_W = 24,         // the pixel counters' width (a build fact)
    parameter int ROW_WORDS = 256,    // the row unit's staging buffer depth (a build fact)
    parameter int LN_TILES = 64       // its LayerNorm record buffer's channel tiles (a build fact)
) (
    input  logic        clk_i,
    input  logic        rst_i,

    // CSR port: write on csr_we_i at the clock edge; read is combinational
    input  logic        csr_we_i,
    input  logic [7:0]  csr_addr_i,
    input  logic [31:0] csr_wdata_i,
    output logic [31:0] csr_rdata_o,

    // the layer descriptor
    output logic [15:0] kind_o,
    output logic [15:0] in_c_o,
    output logic [15:0] in_h_o,
    output logic [15:0] in_w_o,
    output logic [15:0] out_c_o,
    output logic [15:0] out_h_o,
    output logic [15:0] out_w_o,
    output logic [15:0] kh_o,
    output logic [15:0] kw_o,
    output logic [15:0] sy_o,
    output logic [15:0] sx_o,
    output logic [15:0] pad_top_o,
    output logic [15:0] pad_left_o,
    output logic [15:0] pad_bottom_o,
    output logic [15:0] pad_right_o,
    output logic [15:0] groups_o,
    output logic [15:0] band_rows_o,
    output logic [15:0] group_kt_o,
    output logic [31:0] w_base_o,
    output logic [31:0] b_base_o,
    output logic [31:0] s_base_o,
    output logic [31:0] in_base_o,
    output logic [31:0] out_base_o,
    output logic [31:0] in2_base_o,
    output logic [7:0]  z_in2_o,
    output logic [30:0] add_a0_o,
    output logic [30:0] add_b0_o,
    output logic [5:0]  add_shift_o,
    output logic [3:0]  w_bits_o,        // the width the weights are stored at
    output logic [7:0]  dil_y_o,         // the kernel's tap spacing (dilation) along rows and columns
    output logic [7:0]  dil_x_o,
    output logic        w_xor_o,         // 8-bit weights' bit 7 inverted (a matmul's b codes as int8)
    output logic [31:0] w_kt_stride_o,   // words between output-channel tiles' weights (0: back to back)
    output logic        w_transpose_o,   // weights read as blocks of ROWS words, transposed (rtl/wgt_transpose.sv)
    output logic [51:0] row_k_o,         // the row unit's constant {ROW_K_HI, ROW_K_LO}
    output logic [5:0]  row_shift_o,
    output logic [7:0]  z_in_o,
    output logic [7:0]  z_out_o,
    output logic [7:0]  lo_o,
    output logic [7:0]  hi_o,

    // the units' reports
    input  logic [7:0]  bad_field_i,     // desc_check: first field it cannot run, 0 if none
    input  logic        ovf_i,           // an accumulator + bias left int32
    input  logic        written_i,       // the pass's last output word is written
    input  logic        last_pass_i,     // the pass running is the layer's last
    input  logic [31:0] pass_i,          // {group, band} of the pass running (PASS register)
    input  logic [31:0] beats_i,         // MAC beats since start (BUSY_CYCLES)
    input  logic [31:0] macs_i,          // MACs since start
    input  logic [31:0] words_read_i,    // the reader's count since reset
    input  logic [31:0] words_written_i, // the writer's count since reset
    input  logic [31:0] units_i,         // the UNITS status word

    // control
    output logic        start_o,         // a start accepted (this cycle)
    output logic        run_start_o,     // a pass starts running (StCheck -> StRun)
    output logic        next_pass_o,     // a pass that is not the last is done
    output logic        run_o,           // StRun
    output logic        busy_o,
    output logic        done_o,
    output logic        error_o,
    output logic [3:0]  state_o
);

  /* verilator lint_off UNUSEDPARAM */  // the CSR map: the kinds and record fields are other units'
`include "accel_csr.svh"
  /* verilator lint_on UNUSEDPARAM */

  state_e state_q, state_d;
  logic       done_q, done_d, error_q, error_d;
  logic [7:0] err_field_q, err_field_d;
  logic [31:0] cyc_q, cyc_d;
  logic [31:0] words_rd_at_start_q, words_wr_at_start_q;

  assign start_o = csr_we_i && csr_addr_i == CSR_CTRL && csr_wdata_i[0]
                   && (state_q == StIdle || state_q == StDone || state_q == StError);
  assign run_start_o = state_q == StCheck && bad_field_i == 0;
  assign run_o = state_q == StRun;
  assign next_pass_o = state_q == StRun && !ovf_i && written_i && !last_pass_i;
  assign busy_o = state_q == StCheck || state_q == StRun;
  assign done_o = done_q;
  assign error_o = error_q;
  assign state_o = state_q;

`ifdef MUT_SELECT  // fault tests (tests/test_faults_verdicts.py): faults chosen at run time, +MUT_<name>
  logic mut_cycles_stuck, mut_add_csr_busy;
  initial begin
    mut_cycles_stuck = $test$plusargs("MUT_CYCLES_STUCK");  // CYCLES counts in no state (|| made &&)
    mut_add_csr_busy = $test$plusargs("MUT_ADD_CSR_BUSY");  // the residual add's CSRs written while busy
  end
`endif

  // ROW_K in two registers (Icarus takes no part-selects of one in always_* processes)
  logic [31:0] row_k_lo_q;
  logic [19:0] row_k_hi_q;
  assign row_k_o = {row_k_hi_q, row_k_lo_q};

  // a descriptor write is taken while idle only (a layer runs on the descriptor it started with)
  logic desc_we;
`ifdef MUT_SELECT
  assign desc_we = csr_we_i && (!busy_o || (mut_add_csr_busy && (csr_addr_i == CSR_IN2_BASE || csr_addr_i == CSR_Z_IN2
                   || csr_addr_i == CSR_ADD_A0 || csr_addr_i == CSR_ADD_B0 || csr_addr_i == CSR_ADD_SHIFT)));
`else
  assign desc_we = csr_we_i && !busy_o;
`endif

  // ------------------------------------------------------------------ descriptor registers
  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      kind_o <= '0; in_c_o <= '0; in_h_o <= '0; in_w_o <= '0; out_c_o <= '0; out_h_o <= '0; out_w_o <= '0;
      kh_o <= '0; kw_o <= '0; sy_o <= '0; sx_o <= '0; pad_top_o <= '0; pad_left_o <= '0;
      pad_bottom_o <= '0; pad_right_o <= '0; groups_o <= '0; band_rows_o <= '0; group_kt_o <= '0;
      w_base_o <= '0; b_base_o <= '0; s_base_o <= '0; in_base_o <= '0; out_base_o <= '0;
      in2_base_o <= '0; z_in2_o <= '0; add_a0_o <= '0; add_b0_o <= '0; add_shift_o <= '0;
      z_in_o <= '0; z_out_o <= '0; lo_o <= '0; hi_o <= 8'(CSR_HI_RESET); w_bits_o <= 4'(CSR_W_BITS_RESET);
      dil_y_o <= 8'(CSR_DIL_Y_RESET); dil_x_o <= 8'(CSR_DIL_X_RESET); w_xor_o <= 1'b0; w_kt_stride_o <= '0;
      w_transpose_o <= 1'b0;
      row_k_lo_q <= '0; row_k_hi_q <= '0; row_shift_o <= '0;
    end else if (desc_we) begin
      case (csr_addr_i)
        CSR_KIND:     kind_o     <= csr_wdata_i[15:0];
        CSR_IN_C:     in_c_o     <= csr_wdata_i[15:0];
        CSR_IN_H:     in_h_o     <= csr_wdata_i[15:0];
        CSR_IN_W:     in_w_o     <= csr_wdata_i[15:0];
        CSR_OUT_C:    out_c_o    <= csr_wdata_i[15:0];
        CSR_OUT_H:    out_h_o    <= csr_wdata_i[15:0];
        CSR_OUT_W:    out_w_o    <= csr_wdata_i[15:0];
        CSR_KH:       kh_o       <= csr_wdata_i[15:0];
        CSR_KW:       kw_o       <= csr_wdata_i[15:0];
        CSR_STRIDE_Y: sy_o       <= csr_wdata_i[15:0];
        CSR_STRIDE_X: sx_o       <= csr_wdata_i[15:0];
        CSR_PAD_TOP:    pad_top_o    <= csr_wdata_i[15:0];
        CSR_PAD_LEFT:   pad_left_o   <= csr_wdata_i[15:0];
        CSR_PAD_BOTTOM: pad_bottom_o <= csr_wdata_i[15:0];
        CSR_PAD_RIGHT:  pad_right_o  <= csr_wdata_i[15:0];
        CSR_GROUPS:   groups_o   <= csr_wdata_i[15:0];
        CSR_BAND_ROWS: band_rows_o <= csr_wdata_i[15:0];
        CSR_GROUP_KT:  group_kt_o  <= csr_wdata_i[15:0];
        CSR_W_BASE:   w_base_o   <= csr_wdata_i;
        CSR_B_BASE:   b_base_o   <= csr_wdata_i;
        CSR_S_BASE:   s_base_o   <= csr_wdata_i;
        CSR_IN_BASE:  in_base_o  <= csr_wdata_i;
        CSR_OUT_BASE: out_base_o <= csr_wdata_i;
        CSR_IN2_BASE: in2_base_o <= csr_wdata_i;
        CSR_Z_IN2:    z_in2_o    <= csr_wdata_i[7:0];
        CSR_ADD_A0:   add_a0_o   <= csr_wdata_i[30:0];
        CSR_ADD_B0:   add_b0_o   <= csr_wdata_i[30:0];
        CSR_ADD_SHIFT: add_shift_o <= csr_wdata_i[5:0];
        CSR_W_BITS:   w_bits_o   <= csr_wdata_i[3:0];
        CSR_DIL_Y:    dil_y_o    <= csr_wdata_i[7:0];
        CSR_DIL_X:    dil_x_o    <= csr_wdata_i[7:0];
        CSR_W_XOR:    w_xor_o    <= csr_wdata_i[0];
        CSR_W_KT_STRIDE: w_kt_stride_o <= csr_wdata_i;
        CSR_W_TRANSPOSE: w_transpose_o <= csr_wdata_i[0];
        CSR_ROW_K_LO: row_k_lo_q <= csr_wdata_i;
        CSR_ROW_K_HI: row_k_hi_q <= csr_wdata_i[19:0];
        CSR_ROW_SHIFT: row_shift_o <= csr_wdata_i[5:0];
        CSR_Z_IN:     z_in_o     <= csr_wdata_i[7:0];
        CSR_Z_OUT:    z_out_o    <= csr_wdata_i[7:0];
        CSR_LO:       lo_o       <= csr_wdata_i[7:0];
        CSR_HI:       hi_o       <= csr_wdata_i[7:0];
        default: ;
      endcase
    end
  end

  always_comb begin
    csr_rdata_o = '0;
    case (csr_addr_i)
      CSR_CTRL:          csr_rdata_o = {29'd0, error_q, done_q, busy_o};
      CSR_KIND:          csr_rdata_o = {16'd0, kind_o};
      CSR_IN_C:          csr_rdata_o = {16'd0, in_c_o};
      CSR_IN_H:          csr_rdata_o = {16'd0, in_h_o};
      CSR_IN_W:          csr_rdata_o = {16'd0, in_w_o};
      CSR_OUT_C:         csr_rdata_o = {16'd0, out_c_o};
      CSR_OUT_H:         csr_rdata_o = {16'd0, out_h_o};
      CSR_OUT_W:         csr_rdata_o = {16'd0, out_w_o};
      CSR_KH:            csr_rdata_o = {16'd0, kh_o};
      CSR_KW:            csr_rdata_o = {16'd0, kw_o};
      CSR_STRIDE_Y:      csr_rdata_o = {16'd0, sy_o};
      CSR_STRIDE_X:      csr_rdata_o = {16'd0, sx_o};
      CSR_PAD_TOP:       csr_rdata_o = {16'd0, pad_top_o};
      CSR_PAD_LEFT:      csr_rdata_o = {16'd0, pad_left_o};
      CSR_PAD_BOTTOM:    csr_rdata_o = {16'd0, pad_bottom_o};
      CSR_PAD_RIGHT:     csr_rdata_o = {16'd0, pad_right_o};
      CSR_GROUPS:        csr_rdata_o = {16'd0, groups_o};
      CSR_BAND_ROWS:     csr_rdata_o = {16'd0, band_rows_o};
      CSR_GROUP_KT:      csr_rdata_o = {16'd0, group_kt_o};
      CSR_PASS:          csr_rdata_o = pass_i;
      CSR_W_BASE:        csr_rdata_o = w_base_o;
      CSR_B_BASE:        csr_rdata_o = b_base_o;
      CSR_S_BASE:        csr_rdata_o = s_base_o;
      CSR_IN_BASE:       csr_rdata_o = in_base_o;
      CSR_OUT_BASE:      csr_rdata_o = out_base_o;
      CSR_IN2_BASE:      csr_rdata_o = in2_base_o;
      CSR_Z_IN2:         csr_rdata_o = {24'd0, z_in2_o};
      CSR_ADD_A0:        csr_rdata_o = {1'b0, add_a0_o};
      CSR_ADD_B0:        csr_rdata_o = {1'b0, add_b0_o};
      CSR_ADD_SHIFT:     csr_rdata_o = {26'd0, add_shift_o};
      CSR_W_BITS:        csr_rdata_o = {28'd0, w_bits_o};
      CSR_DIL_Y:         csr_rdata_o = {24'd0, dil_y_o};
      CSR_DIL_X:         csr_rdata_o = {24'd0, dil_x_o};
      CSR_W_XOR:         csr_rdata_o = {31'd0, w_xor_o};
      CSR_W_KT_STRIDE:   csr_rdata_o = w_kt_stride_o;
      CSR_W_TRANSPOSE:   csr_rdata_o = {31'd0, w_transpose_o};
      CSR_ROW_K_LO:      csr_rdata_o = row_k_lo_q;
      CSR_ROW_K_HI:      csr_rdata_o = {12'd0, row_k_hi_q};
      CSR_ROW_SHIFT:     csr_rdata_o = {26'd0, row_shift_o};
      CSR_Z_IN:          csr_rdata_o = {24'd0, z_in_o};
      CSR_Z_OUT:         csr_rdata_o = {24'd0, z_out_o};
      CSR_LO:            csr_rdata_o = {24'd0, lo_o};
      CSR_HI:            csr_rdata_o = {24'd0, hi_o};
      CSR_ERR_FIELD:     csr_rdata_o = {24'd0, err_field_q};
      CSR_CYCLES:        csr_rdata_o = cyc_q;
      CSR_BUSY_CYCLES:   csr_rdata_o = beats_i;
      CSR_MACS:          csr_rdata_o = macs_i;
      CSR_WORDS_READ:    csr_rdata_o = words_read_i - words_rd_at_start_q;
      CSR_WORDS_WRITTEN: csr_rdata_o = words_written_i - words_wr_at_start_q;
      CSR_STATE:         csr_rdata_o = {28'd0, state_q};
      CSR_UNITS:         csr_rdata_o = units_i;
      CSR_DESC_CHECK:    csr_rdata_o = {24'd0, bad_field_i};
      CSR_ID:            csr_rdata_o = CSR_ID_VALUE;
      CSR_ROWS:          csr_rdata_o = 32'(ROWS);
      CSR_COLS:          csr_rdata_o = 32'(COLS);
      CSR_ACT_WORDS:     csr_rdata_o = 32'(ACT_WORDS);
      CSR_WGT_WORDS:     csr_rdata_o = 32'(WGT_WORDS);
      CSR_REC_WORDS:     csr_rdata_o = 32'(REC_WORDS);
      CSR_WGT_WIDTHS:    csr_rdata_o = 32'(WGT_WIDTHS);
      CSR_PIX_W:         csr_rdata_o = 32'(PIX_W);
      CSR_ROW_WORDS:     csr_rdata_o = 32'(ROW_WORDS);
      CSR_LN_TILES:      csr_rdata_o = 32'(LN_TILES);
      default:           csr_rdata_o = '0;
    endcase
  end

  // ------------------------------------------------------------------ main FSM
  always_comb begin
    state_d = state_q;
    done_d = done_q;
    error_d = error_q;
    err_field_d = err_field_q;
`ifdef MUT_SELECT
    if (mut_cycles_stuck) cyc_d = (state_q == StCheck && state_q == StRun) ? cyc_q + 1 : cyc_q;
    else cyc_d = (state_q == StCheck || state_q == StRun) ? cyc_q + 1 : cyc_q;
`else
    cyc_d = (state_q == StCheck || state_q == StRun) ? cyc_q + 1 : cyc_q;
`endif
    case (state_q)
      StIdle, StDone, StError: if (start_o) begin
        state_d = StCheck;
        done_d = 1'b0;
        error_d = 1'b0;
        err_field_d = '0;
        cyc_d = '0;
      end
      StCheck: begin
        if (bad_field_i != 0) begin  // started although DESC_CHECK refuses a field
          err_field_d = bad_field_i;
          error_d = 1'b1;
          state_d = StError;
        end else begin
          state_d = StRun;
        end
      end
      StRun: begin
        if (ovf_i) begin  // an accumulator + bias left int32: the layer stops with an error
          error_d = 1'b1;
          err_field_d = CSR_BIAS_OVERFLOW;
          state_d = StError;
        end else if (written_i && !last_pass_i) begin
          state_d = StCheck;  // the next pass (next_pass_o)
        end else if (written_i) begin
          state_d = StDone;
          done_d = 1'b1;
        end
      end
      default: state_d = StIdle;
    endcase
  end

  // WORDS_READ / WORDS_WRITTEN count from start, like every other performance counter: the units'
  // own counters run from reset, so their values at start are kept and subtracted.
  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      state_q     <= StIdle;
      done_q      <= 1'b0;
      error_q     <= 1'b0;
      err_field_q <= '0;
      cyc_q       <= '0;
      words_rd_at_start_q <= '0;
      words_wr_at_start_q <= '0;
    end else begin
      state_q     <= state_d;
      done_q      <= done_d;
      error_q     <= error_d;
      err_field_q <= err_field_d;
      cyc_q       <= cyc_d;
      if (start_o) begin
        words_rd_at_start_q <= words_read_i;
        words_wr_at_start_q <= words_written_i;
      end
    end
  end

endmodule

`resetall
