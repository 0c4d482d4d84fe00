`resetall
`timescale 1ns / 1ps
`default_nettype none

// pwfc: a small output-stationary accelerator for pointwise (1x1, stride 1, no padding, groups 1)
// and fc layers of int8sim's contract (docs/arithmetic.md), the second shipped target of issue 24.
// This file only wires its parts:
//   pwfc_regs        AXI4-Lite register block (map in pwfc_regs.sv and targets/pwfc/regs.py)
//   pwfc_core        the layer sequencer, weight buffer, LANES MAC lanes and requantizers
//                    (dataflow in its header)
//   pwfc_axi_master  AXI4 master: INCR read bursts into the core, INCR write bursts of its outputs
// done_o is CTRL.DONE; irq_o is CTRL.IRQ_EN & (CTRL.DONE | CTRL.ERROR). Memory layout (32-bit
// little-endian words, every row word-aligned): activations channel-last [pixel][C] uint8, 4 a
// word; weights row-major [K][C] int8, 4 a word; bias int32, one a word; requant {n in [7:0] of
// word 0, M0 in word 1} per channel; output channel-last [pixel][K] uint8, 4 a word, pad lanes 0.
module pwfc_top #(
    parameter int LANES = 4,       // output channels computed at once (a multiple of 4)
    parameter int MAX_C = 256,     // input channels the weight buffer holds (a power of 2)
    parameter int MAX_BURST = 16   // beats of one AXI burst
) (
    input  logic         clk_i,
    input  logic         rst_i,
    // AXI4-Lite register port (slave)
    input  logic [7:0]   s_axil_awaddr_i,
    input  logic [2:0]   s_axil_awprot_i,
    input  logic         s_axil_awvalid_i,
    output logic         s_axil_awready_o,
    input  logic [31:0]  s_axil_wdata_i,
    input  logic [3:0]   s_axil_wstrb_i,
    input  logic         s_axil_wvalid_i,
    output logic         s_axil_wready_o,
    output logic [1:0]   s_axil_bresp_o,
    output logic         s_axil_bvalid_o,
    input  logic         s_axil_bready_i,
    input  logic [7:0]   s_axil_araddr_i,
    input  logic [2:0]   s_axil_arprot_i,
    input  logic         s_axil_arvalid_i,
    output logic         s_axil_arready_o,
    output logic [31:0]  s_axil_rdata_o,
    output logic [1:0]   s_axil_rresp_o,
    output logic         s_axil_rvalid_o,
    input  logic         s_axil_rready_i,
    // AXI4 memory port (master)
    output logic [0:0]   m_axi_awid_o,
    output logic [31:0]  m_axi_awaddr_o,
    output logic [7:0]   m_axi_awlen_o,
    output logic [2:0]   m_axi_awsize_o,
    output logic [1:0]   m_axi_awburst_o,
    output logic         m_axi_awlock_o,
    output logic [3:0]   m_axi_awcache_o,
    output logic [2:0]   m_axi_awprot_o,
    output logic         m_axi_awvalid_o,
    input  logic         m_axi_awready_i,
    output logic [31:0]  m_axi_wdata_o,
    output logic [3:0]   m_axi_wstrb_o,
    output logic         m_axi_wlast_o,
    output logic         m_axi_wvalid_o,
    input  logic         m_axi_wready_i,
    input  logic [0:0]   m_axi_bid_i,
    input  logic [1:0]   m_axi_bresp_i,
    input  logic         m_axi_bvalid_i,
    output logic         m_axi_bready_o,
    output logic [0:0]   m_axi_arid_o,
    output logic [31:0]  m_axi_araddr_o,
    output logic [7:0]   m_axi_arlen_o,
    output logic [2:0]   m_axi_arsize_o,
    output logic [1:0]   m_axi_arburst_o,
    output logic         m_axi_arlock_o,
    output logic [3:0]   m_axi_arcache_o,
    output logic [2:0]   m_axi_arprot_o,
    output logic         m_axi_arvalid_o,
    input  logic         m_axi_arready_i,
    input  logic [0:0]   m_axi_rid_i,
    input  logic [31:0]  m_axi_rdata_i,
    input  logic [1:0]   m_axi_rresp_i,
    input  logic         m_axi_rlast_i,
    input  logic         m_axi_rvalid_i,
    output logic         m_axi_rready_o,
    output logic         done_o,
    output logic         irq_o
);

  logic        start, busy, core_done, core_error;
  logic [7:0]  err_code, z_in, z_out, lo, hi;
  logic [15:0] c, k;
  logic [23:0] hw;
  logic [31:0] act_base, wgt_base, bias_base, rq_base, out_base;
  logic        rd_req, rd_ready, rd_valid, rd_err, wr_req, wr_ready, wr_idle, wr_err;
  logic [31:0] rd_addr, rd_data, wr_addr;
  logic [15:0] rd_words;
  logic [7:0]  wr_words;
  logic [LANES*8-1:0] wr_data;

  pwfc_regs #(
    .LANES(LANES),
    .MAX_C(MAX_C)
  ) u_regs (
      .clk_i,
      .rst_i,
      .s_axil_awaddr_i,
      .s_axil_awprot_i,
      .s_axil_awvalid_i,
      .s_axil_awready_o,
      .s_axil_wdata_i,
      .s_axil_wstrb_i,
      .s_axil_wvalid_i,
      .s_axil_wready_o,
      .s_axil_bresp_o,
      .s_axil_bvalid_o,
      .s_axil_bready_i,
      .s_axil_araddr_i,
      .s_axil_arprot_i,
      .s_axil_arvalid_i,
      .s_axil_arready_o,
      .s_axil_rdata_o,
      .s_axil_rresp_o,
      .s_axil_rvalid_o,
      .s_axil_rready_i,
      .start_o    (start),
      .c_o        (c),
      .k_o        (k),
      .hw_o       (hw),
      .z_in_o     (z_in),
      .z_out_o    (z_out),
      .lo_o       (lo),
      .hi_o       (hi),
      .act_base_o (act_base),
      .wgt_base_o (wgt_base),
      .bias_base_o(bias_base),
      .rq_base_o  (rq_base),
      .out_base_o (out_base),
      .busy_i     (busy),
      .done_i     (core_done),
      .error_i    (core_error),
      .err_code_i (err_code),
      .done_o,
      .irq_o
  );

  pwfc_core #(
    .LANES(LANES),
    .MAX_C(MAX_C)
  ) u_core (
      .clk_i,
      .rst_i,
      .start_i    (start),
      .c_i        (c),
      .k_i        (k),
      .hw_i       (hw),
      .z_in_i     (z_in),
      .z_out_i    (z_out),
      .lo_i       (lo),
      .hi_i       (hi),
      .act_base_i (act_base),
      .wgt_base_i (wgt_base),
      .bias_base_i(bias_base),
      .rq_base_i  (rq_base),
      .out_base_i (out_base),
      .busy_o     (busy),
      .done_o     (core_done),
      .error_o    (core_error),
      .err_code_o (err_code),
      .rd_req_o   (rd_req),
      .rd_ready_i (rd_ready),
      .rd_addr_o  (rd_addr),
      .rd_words_o (rd_words),
      .rd_valid_i (rd_valid),
      .rd_data_i  (rd_data),
      .rd_err_i   (rd_err),
      .wr_req_o   (wr_req),
      .wr_ready_i (wr_ready),
      .wr_addr_o  (wr_addr),
      .wr_words_o (wr_words),
      .wr_data_o  (wr_data),
      .wr_idle_i  (wr_idle),
      .wr_err_i   (wr_err)
  );

  pwfc_axi_master #(
    .MAX_BURST(MAX_BURST),
    .WR_WORDS (LANES / 4)
  ) u_axi (
      .clk_i,
      .rst_i,
      .rd_req_i   (rd_req),
      .rd_ready_o (rd_ready),
      .rd_addr_i  (rd_addr),
      .rd_words_i (rd_words),
      .rd_valid_o (rd_valid),
      .rd_data_o  (rd_data),
      .rd_err_o   (rd_err),
      .wr_req_i   (wr_req),
      .wr_ready_o (wr_ready),
      .wr_addr_i  (wr_addr),
      .wr_words_i (wr_words),
      .wr_data_i  (wr_data),
      .wr_idle_o  (wr_idle),
      .wr_err_o   (wr_err),
      .m_axi_awid_o,
      .m_axi_awaddr_o,
      .m_axi_awlen_o,
      .m_axi_awsize_o,
      .m_axi_awburst_o,
      .m_axi_awlock_o,
      .m_axi_awcache_o,
      .m_axi_awprot_o,
      .m_axi_awvalid_o,
      .m_axi_awready_i,
      .m_axi_wdata_o,
      .m_axi_wstrb_o,
      .m_axi_wlast_o,
      .m_axi_wvalid_o,
      .m_axi_wready_i,
      .m_axi_bid_i,
      .m_axi_bresp_i,
      .m_axi_bvalid_i,
      .m_axi_bready_o,
      .m_axi_arid_o,
      .m_axi_araddr_o,
      .m_axi_arlen_o,
      .m_axi_arsize_o,
      .m_axi_arburst_o,
      .m_axi_arlock_o,
      .m_axi_arcache_o,
      .m_axi_arprot_o,
      .m_axi_arvalid_o,
      .m_axi_arready_i,
      .m_axi_rid_i,
      .m_axi_rdata_i,
      .m_axi_rresp_i,
      .m_axi_rlast_i,
      .m_axi_rvalid_i,
      .m_axi_rready_o
  );

endmodule

`resetall
