`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "pwfc_regs.svh"

// pwfc's register block: an AXI4-Lite slave (32-bit data, 8-bit byte address), one transaction at
// a time on each side. The map (targets/pwfc/regs.py is its one source; pwfc_regs.svh is written
// from it):
//   0x00 ID        RO  32'h50574643 ("PWFC")
//   0x04 CTRL      [0] START (write 1: start, reads 0), [1] BUSY (RO), [2] DONE (W1C),
//                  [3] ERROR (W1C), [4] IRQ_EN (RW), [15:8] ERR_CODE (RO); a START clears DONE,
//                  ERROR and ERR_CODE; a START while BUSY is ignored
//   0x08 CYCLES    RO  cycles from the edge that takes START to the edge that sets DONE/ERROR
//   0x0C CAPS      RO  [7:0] LANES, [31:16] MAX_C
//   0x10 C [15:0], 0x14 K [15:0], 0x18 HW [23:0], 0x1C Z_IN, 0x20 Z_OUT, 0x24 LO, 0x28 HI [7:0]
//   0x2C ACT_BASE, 0x30 WGT_BASE, 0x34 BIAS_BASE, 0x38 RQ_BASE, 0x3C OUT_BASE (byte addresses)
// Any other address answers SLVERR (writes change nothing, reads return 0). WSTRB is honoured on
// the RW registers byte by byte.
module pwfc_regs #(
    parameter int LANES = 4,
    parameter int MAX_C = 256
) (
    input  logic        clk_i,
    input  logic        rst_i,

    input  logic [7:0]  s_axil_awaddr_i,
    input  logic [2:0]  s_axil_awprot_i,
    input  logic        s_axil_awvalid_i,
    output logic        s_axil_awready_o,
    input  logic [31:0] s_axil_wdata_i,
    input  logic [3:0]  s_axil_wstrb_i,
    input  logic        s_axil_wvalid_i,
    output logic        s_axil_wready_o,
    output logic [1:0]  s_axil_bresp_o,
    output logic        s_axil_bvalid_o,
    input  logic        s_axil_bready_i,
    input  logic [7:0]  s_axil_araddr_i,
    input  logic [2:0]  s_axil_arprot_i,
    input  logic        s_axil_arvalid_i,
    output logic        s_axil_arready_o,
    output logic [31:0] s_axil_rdata_o,
    output logic [1:0]  s_axil_rresp_o,
    output logic        s_axil_rvalid_o,
    input  logic        s_axil_rready_i,

    // to and from the core
    output logic        start_o,
    output logic [15:0] c_o,
    output logic [15:0] k_o,
    output logic [23:0] hw_o,
    output logic [7:0]  z_in_o,
    output logic [7:0]  z_out_o,
    output logic [7:0]  lo_o,
    output logic [7:0]  hi_o,
    output logic [31:0] act_base_o,
    output logic [31:0] wgt_base_o,
    output logic [31:0] bias_base_o,
    output logic [31:0] rq_base_o,
    output logic [31:0] out_base_o,
    input  logic        busy_i,
    input  logic        done_i,      // pulse: the layer ended without error
    input  logic        error_i,     // pulse: the layer ended with an error
    input  logic [7:0]  err_code_i,  // valid with error_i

    output logic        done_o,      // DONE
    output logic        irq_o        // IRQ_EN & (DONE | ERROR)
);

  initial begin
    if (LANES < 1 || LANES > 255 || MAX_C < 4 || MAX_C > 65535) begin
      $error("pwfc_regs: LANES=%0d must be 1..255 and MAX_C=%0d 4..65535 (instance %m)", LANES, MAX_C);
      $finish;
    end
  end

  localparam logic [31:0] CAPS = {16'(MAX_C), 8'd0, 8'(LANES)};

  logic [31:0] act_base_q, wgt_base_q, bias_base_q, rq_base_q, out_base_q;
  logic [15:0] c_q, k_q;
  logic [23:0] hw_q;
  logic [7:0]  z_in_q, z_out_q, lo_q, hi_q, err_code_q;
  // HW's reset value (a fault under PWFC_MUT: +PWFC_MUT_RESET resets it to 1, which no layer sees,
  // since the driver writes HW before every start; the reset-value check does)
  logic [23:0] hw_reset;
`ifdef PWFC_MUT
  initial hw_reset = $test$plusargs("PWFC_MUT_RESET") != 0 ? 24'd1 : 24'd0;
`else
  assign hw_reset = '0;
`endif
  logic        done_q, error_q, irq_en_q, running_q;
  logic [31:0] cycles_q;
  logic        bvalid_q, rvalid_q;
  logic [1:0]  bresp_q, rresp_q;
  logic [31:0] rdata_q;

  // ---- write side: address and data taken together, one response outstanding ----
  logic wr_en;
  assign wr_en = s_axil_awvalid_i && s_axil_wvalid_i && !bvalid_q;
  assign s_axil_awready_o = wr_en;
  assign s_axil_wready_o = wr_en;

  function automatic logic [31:0] merge(input logic [31:0] old, input logic [31:0] data,
                                        input logic [3:0] strb);
    logic [31:0] r;
    for (int b = 0; b < 4; b++) begin
      r[b*8 +: 8] = strb[b] ? data[b*8 +: 8] : old[b*8 +: 8];
    end
    return r;
  endfunction

  logic        wr_known, wr_ctrl;
  logic [31:0] wr_word;
  always_comb begin
    wr_known = 1'b1;
    case (s_axil_awaddr_i)
      `PWFC_REG_ID, `PWFC_REG_CTRL, `PWFC_REG_CYCLES, `PWFC_REG_CAPS, `PWFC_REG_C, `PWFC_REG_K,
      `PWFC_REG_HW, `PWFC_REG_Z_IN, `PWFC_REG_Z_OUT, `PWFC_REG_LO, `PWFC_REG_HI,
      `PWFC_REG_ACT_BASE, `PWFC_REG_WGT_BASE, `PWFC_REG_BIAS_BASE, `PWFC_REG_RQ_BASE,
      `PWFC_REG_OUT_BASE: wr_known = 1'b1;
      default: wr_known = 1'b0;
    endcase
  end
  assign wr_ctrl = wr_en && s_axil_awaddr_i == `PWFC_REG_CTRL;
  assign start_o = wr_ctrl && s_axil_wstrb_i[0] && s_axil_wdata_i[`PWFC_CTRL_START] && !busy_i;

  always_comb begin
    wr_word = '0;
    case (s_axil_awaddr_i)
      `PWFC_REG_C: wr_word = merge({16'd0, c_q}, s_axil_wdata_i, s_axil_wstrb_i);
      `PWFC_REG_K: wr_word = merge({16'd0, k_q}, s_axil_wdata_i, s_axil_wstrb_i);
      `PWFC_REG_HW: wr_word = merge({8'd0, hw_q}, s_axil_wdata_i, s_axil_wstrb_i);
      `PWFC_REG_Z_IN: wr_word = merge({24'd0, z_in_q}, s_axil_wdata_i, s_axil_wstrb_i);
      `PWFC_REG_Z_OUT: wr_word = merge({24'd0, z_out_q}, s_axil_wdata_i, s_axil_wstrb_i);
      `PWFC_REG_LO: wr_word = merge({24'd0, lo_q}, s_axil_wdata_i, s_axil_wstrb_i);
      `PWFC_REG_HI: wr_word = merge({24'd0, hi_q}, s_axil_wdata_i, s_axil_wstrb_i);
      `PWFC_REG_ACT_BASE: wr_word = merge(act_base_q, s_axil_wdata_i, s_axil_wstrb_i);
      `PWFC_REG_WGT_BASE: wr_word = merge(wgt_base_q, s_axil_wdata_i, s_axil_wstrb_i);
      `PWFC_REG_BIAS_BASE: wr_word = merge(bias_base_q, s_axil_wdata_i, s_axil_wstrb_i);
      `PWFC_REG_RQ_BASE: wr_word = merge(rq_base_q, s_axil_wdata_i, s_axil_wstrb_i);
      `PWFC_REG_OUT_BASE: wr_word = merge(out_base_q, s_axil_wdata_i, s_axil_wstrb_i);
      default: wr_word = '0;
    endcase
  end

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      c_q <= '0;
      k_q <= '0;
      hw_q <= hw_reset;
      z_in_q <= '0;
      z_out_q <= '0;
      lo_q <= '0;
      hi_q <= '0;
      act_base_q <= '0;
      wgt_base_q <= '0;
      bias_base_q <= '0;
      rq_base_q <= '0;
      out_base_q <= '0;
    end else if (wr_en) begin
      case (s_axil_awaddr_i)
        `PWFC_REG_C: c_q <= wr_word[15:0];
        `PWFC_REG_K: k_q <= wr_word[15:0];
        `PWFC_REG_HW: hw_q <= wr_word[23:0];
        `PWFC_REG_Z_IN: z_in_q <= wr_word[7:0];
        `PWFC_REG_Z_OUT: z_out_q <= wr_word[7:0];
        `PWFC_REG_LO: lo_q <= wr_word[7:0];
        `PWFC_REG_HI: hi_q <= wr_word[7:0];
        `PWFC_REG_ACT_BASE: act_base_q <= wr_word;
        `PWFC_REG_WGT_BASE: wgt_base_q <= wr_word;
        `PWFC_REG_BIAS_BASE: bias_base_q <= wr_word;
        `PWFC_REG_RQ_BASE: rq_base_q <= wr_word;
        `PWFC_REG_OUT_BASE: out_base_q <= wr_word;
        default: ;
      endcase
    end
  end

  // ---- status: DONE / ERROR sticky, cleared by START or by writing 1; CYCLES while busy ----
  logic w1c_done, w1c_error;
  assign w1c_done = wr_ctrl && s_axil_wstrb_i[0] && s_axil_wdata_i[`PWFC_CTRL_DONE];
  assign w1c_error = wr_ctrl && s_axil_wstrb_i[0] && s_axil_wdata_i[`PWFC_CTRL_ERROR];

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      done_q <= 1'b0;
      error_q <= 1'b0;
      err_code_q <= '0;
      irq_en_q <= 1'b0;
      running_q <= 1'b0;
      cycles_q <= '0;
    end else begin
      if (wr_ctrl && s_axil_wstrb_i[0]) irq_en_q <= s_axil_wdata_i[`PWFC_CTRL_IRQ_EN];
      if (start_o) begin
        done_q <= 1'b0;
        error_q <= 1'b0;
        err_code_q <= '0;
        cycles_q <= '0;
        running_q <= 1'b1;
      end else begin
        if (running_q) cycles_q <= cycles_q + 32'd1;
        if (done_i || error_i) running_q <= 1'b0;
        if (done_i) done_q <= 1'b1;
        else if (w1c_done) done_q <= 1'b0;
        if (error_i) begin
          error_q <= 1'b1;
          err_code_q <= err_code_i;
        end else if (w1c_error) begin
          error_q <= 1'b0;
        end
      end
    end
  end

  // ---- write response ----
  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      bvalid_q <= 1'b0;
      bresp_q <= 2'b00;
    end else if (wr_en) begin
      bvalid_q <= 1'b1;
      bresp_q <= wr_known ? 2'b00 : 2'b10;
    end else if (s_axil_bready_i) begin
      bvalid_q <= 1'b0;
    end
  end
  assign s_axil_bvalid_o = bvalid_q;
  assign s_axil_bresp_o = bresp_q;

  // ---- read side ----
  logic        rd_en, rd_known;
  logic [31:0] rd_word, ctrl_word;
  assign rd_en = s_axil_arvalid_i && !rvalid_q;
  assign s_axil_arready_o = rd_en;

  always_comb begin
    ctrl_word = '0;
    ctrl_word[`PWFC_CTRL_BUSY] = busy_i;
    ctrl_word[`PWFC_CTRL_DONE] = done_q;
    ctrl_word[`PWFC_CTRL_ERROR] = error_q;
    ctrl_word[`PWFC_CTRL_IRQ_EN] = irq_en_q;
    ctrl_word[`PWFC_CTRL_ERR_CODE +: 8] = err_code_q;
  end

  always_comb begin
    rd_known = 1'b1;
    rd_word = '0;
    case (s_axil_araddr_i)
      `PWFC_REG_ID: rd_word = `PWFC_ID;
      `PWFC_REG_CTRL: rd_word = ctrl_word;
      `PWFC_REG_CYCLES: rd_word = cycles_q;
      `PWFC_REG_CAPS: rd_word = CAPS;
      `PWFC_REG_C: rd_word = {16'd0, c_q};
      `PWFC_REG_K: rd_word = {16'd0, k_q};
      `PWFC_REG_HW: rd_word = {8'd0, hw_q};
      `PWFC_REG_Z_IN: rd_word = {24'd0, z_in_q};
      `PWFC_REG_Z_OUT: rd_word = {24'd0, z_out_q};
      `PWFC_REG_LO: rd_word = {24'd0, lo_q};
      `PWFC_REG_HI: rd_word = {24'd0, hi_q};
      `PWFC_REG_ACT_BASE: rd_word = act_base_q;
      `PWFC_REG_WGT_BASE: rd_word = wgt_base_q;
      `PWFC_REG_BIAS_BASE: rd_word = bias_base_q;
      `PWFC_REG_RQ_BASE: rd_word = rq_base_q;
      `PWFC_REG_OUT_BASE: rd_word = out_base_q;
      default: rd_known = 1'b0;
    endcase
  end

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      rvalid_q <= 1'b0;
      rresp_q <= 2'b00;
      rdata_q <= '0;
    end else if (rd_en) begin
      rvalid_q <= 1'b1;
      rresp_q <= rd_known ? 2'b00 : 2'b10;
      rdata_q <= rd_word;
    end else if (s_axil_rready_i) begin
      rvalid_q <= 1'b0;
    end
  end
  assign s_axil_rvalid_o = rvalid_q;
  assign s_axil_rresp_o = rresp_q;
  assign s_axil_rdata_o = rdata_q;

  assign c_o = c_q;
  assign k_o = k_q;
  assign hw_o = hw_q;
  assign z_in_o = z_in_q;
  assign z_out_o = z_out_q;
  assign lo_o = lo_q;
  assign hi_o = hi_q;
  assign act_base_o = act_base_q;
  assign wgt_base_o = wgt_base_q;
  assign bias_base_o = bias_base_q;
  assign rq_base_o = rq_base_q;
  assign out_base_o = out_base_q;
  assign done_o = done_q;
  assign irq_o = irq_en_q && (done_q || error_q);

  logic unused_prot;
  assign unused_prot = ^{s_axil_awprot_i, s_axil_arprot_i};

endmodule

`resetall
