`resetall
`timescale 1ns / 1ps
`default_nettype none

// cocotb harness of pwfc_top: the clock (10 ns, generated here: no Python clock), plain port names
// for cocotbext-axi (AxiLiteMaster on s_axil_*, AxiRam on m_axi_*), and optional waves
// (+PWFC_WAVES=<file>: a VCD of the whole design on Icarus; Verilator builds trace with --trace).
module pwfc_tb #(
    parameter int LANES = 4,
    parameter int MAX_C = 256,
    parameter int MAX_BURST = 16
) (
    input  logic         rst,
    input  logic [7:0]   s_axil_awaddr,
    input  logic [2:0]   s_axil_awprot,
    input  logic         s_axil_awvalid,
    output logic         s_axil_awready,
    input  logic [31:0]  s_axil_wdata,
    input  logic [3:0]   s_axil_wstrb,
    input  logic         s_axil_wvalid,
    output logic         s_axil_wready,
    output logic [1:0]   s_axil_bresp,
    output logic         s_axil_bvalid,
    input  logic         s_axil_bready,
    input  logic [7:0]   s_axil_araddr,
    input  logic [2:0]   s_axil_arprot,
    input  logic         s_axil_arvalid,
    output logic         s_axil_arready,
    output logic [31:0]  s_axil_rdata,
    output logic [1:0]   s_axil_rresp,
    output logic         s_axil_rvalid,
    input  logic         s_axil_rready,
    output logic [0:0]   m_axi_awid,
    output logic [31:0]  m_axi_awaddr,
    output logic [7:0]   m_axi_awlen,
    output logic [2:0]   m_axi_awsize,
    output logic [1:0]   m_axi_awburst,
    output logic         m_axi_awlock,
    output logic [3:0]   m_axi_awcache,
    output logic [2:0]   m_axi_awprot,
    output logic         m_axi_awvalid,
    input  logic         m_axi_awready,
    output logic [31:0]  m_axi_wdata,
    output logic [3:0]   m_axi_wstrb,
    output logic         m_axi_wlast,
    output logic         m_axi_wvalid,
    input  logic         m_axi_wready,
    input  logic [0:0]   m_axi_bid,
    input  logic [1:0]   m_axi_bresp,
    input  logic         m_axi_bvalid,
    output logic         m_axi_bready,
    output logic [0:0]   m_axi_arid,
    output logic [31:0]  m_axi_araddr,
    output logic [7:0]   m_axi_arlen,
    output logic [2:0]   m_axi_arsize,
    output logic [1:0]   m_axi_arburst,
    output logic         m_axi_arlock,
    output logic [3:0]   m_axi_arcache,
    output logic [2:0]   m_axi_arprot,
    output logic         m_axi_arvalid,
    input  logic         m_axi_arready,
    input  logic [0:0]   m_axi_rid,
    input  logic [31:0]  m_axi_rdata,
    input  logic [1:0]   m_axi_rresp,
    input  logic         m_axi_rlast,
    input  logic         m_axi_rvalid,
    output logic         m_axi_rready,
    output logic         done,
    output logic         irq
);

  logic clk;
  initial begin
    clk = 1'b0;
    forever #5 clk = ~clk;
  end

  pwfc_top #(
    .LANES    (LANES),
    .MAX_C    (MAX_C),
    .MAX_BURST(MAX_BURST)
  ) u_top (
    .clk_i   (clk),
    .rst_i   (rst),
    .s_axil_awaddr_i (s_axil_awaddr),
    .s_axil_awprot_i (s_axil_awprot),
    .s_axil_awvalid_i (s_axil_awvalid),
    .s_axil_awready_o (s_axil_awready),
    .s_axil_wdata_i (s_axil_wdata),
    .s_axil_wstrb_i (s_axil_wstrb),
    .s_axil_wvalid_i (s_axil_wvalid),
    .s_axil_wready_o (s_axil_wready),
    .s_axil_bresp_o (s_axil_bresp),
    .s_axil_bvalid_o (s_axil_bvalid),
    .s_axil_bready_i (s_axil_bready),
    .s_axil_araddr_i (s_axil_araddr),
    .s_axil_arprot_i (s_axil_arprot),
    .s_axil_arvalid_i (s_axil_arvalid),
    .s_axil_arready_o (s_axil_arready),
    .s_axil_rdata_o (s_axil_rdata),
    .s_axil_rresp_o (s_axil_rresp),
    .s_axil_rvalid_o (s_axil_rvalid),
    .s_axil_rready_i (s_axil_rready),
    .m_axi_awid_o (m_axi_awid),
    .m_axi_awaddr_o (m_axi_awaddr),
    .m_axi_awlen_o (m_axi_awlen),
    .m_axi_awsize_o (m_axi_awsize),
    .m_axi_awburst_o (m_axi_awburst),
    .m_axi_awlock_o (m_axi_awlock),
    .m_axi_awcache_o (m_axi_awcache),
    .m_axi_awprot_o (m_axi_awprot),
    .m_axi_awvalid_o (m_axi_awvalid),
    .m_axi_awready_i (m_axi_awready),
    .m_axi_wdata_o (m_axi_wdata),
    .m_axi_wstrb_o (m_axi_wstrb),
    .m_axi_wlast_o (m_axi_wlast),
    .m_axi_wvalid_o (m_axi_wvalid),
    .m_axi_wready_i (m_axi_wready),
    .m_axi_bid_i (m_axi_bid),
    .m_axi_bresp_i (m_axi_bresp),
    .m_axi_bvalid_i (m_axi_bvalid),
    .m_axi_bready_o (m_axi_bready),
    .m_axi_arid_o (m_axi_arid),
    .m_axi_araddr_o (m_axi_araddr),
    .m_axi_arlen_o (m_axi_arlen),
    .m_axi_arsize_o (m_axi_arsize),
    .m_axi_arburst_o (m_axi_arburst),
    .m_axi_arlock_o (m_axi_arlock),
    .m_axi_arcache_o (m_axi_arcache),
    .m_axi_arprot_o (m_axi_arprot),
    .m_axi_arvalid_o (m_axi_arvalid),
    .m_axi_arready_i (m_axi_arready),
    .m_axi_rid_i (m_axi_rid),
    .m_axi_rdata_i (m_axi_rdata),
    .m_axi_rresp_i (m_axi_rresp),
    .m_axi_rlast_i (m_axi_rlast),
    .m_axi_rvalid_i (m_axi_rvalid),
    .m_axi_rready_o (m_axi_rready),
    .done_o  (done),
    .irq_o   (irq)
  );

`ifdef PWFC_WAVES
  string wave_file;
  initial begin
    if ($value$plusargs("PWFC_WAVES=%s", wave_file)) begin
      $dumpfile(wave_file);
      $dumpvars(0, pwfc_tb);
    end
  end
`endif

endmodule

`resetall
