`resetall
`timescale 1ns / 1ps
`default_nettype none

// pwfc's memory port: an AXI4 master, 32-bit data, INCR bursts of 4-byte beats, ID 0.
//
// Read side: a request (rd_req_i while rd_ready_o) of rd_words_i words from byte address
// rd_addr_i is cut into bursts of at most MAX_BURST beats that never cross a 4 KiB boundary, one
// burst outstanding at a time; every beat comes out on rd_valid_o/rd_data_o (the core takes one a
// cycle, so RREADY is high while a burst is open).
// Write side: a request (wr_req_i while wr_ready_o) of wr_words_i (1..WR_WORDS) words
// wr_data_i[32*i +: 32] to byte address wr_addr_i is latched, then written as bursts cut the same
// way (AW, then the W beats, then B); the read side runs meanwhile. wr_idle_o: no write is open.
// A response other than OKAY raises rd_err_o / wr_err_o for one cycle.
module pwfc_axi_master #(
    parameter int MAX_BURST = 16,  // beats per burst, 1..256
    parameter int WR_WORDS = 1     // words of one write request
) (
    input  logic                  clk_i,
    input  logic                  rst_i,

    input  logic                  rd_req_i,
    output logic                  rd_ready_o,
    input  logic [31:0]           rd_addr_i,
    input  logic [15:0]           rd_words_i,
    output logic                  rd_valid_o,
    output logic [31:0]           rd_data_o,
    output logic                  rd_err_o,

    input  logic                  wr_req_i,
    output logic                  wr_ready_o,
    input  logic [31:0]           wr_addr_i,
    input  logic [7:0]            wr_words_i,
    input  logic [WR_WORDS*32-1:0] wr_data_i,
    output logic                  wr_idle_o,
    output logic                  wr_err_o,

    output logic [0:0]            m_axi_awid_o,
    output logic [31:0]           m_axi_awaddr_o,
    output logic [7:0]            m_axi_awlen_o,
    output logic [2:0]            m_axi_awsize_o,
    output logic [1:0]            m_axi_awburst_o,
    output logic                  m_axi_awlock_o,
    output logic [3:0]            m_axi_awcache_o,
    output logic [2:0]            m_axi_awprot_o,
    output logic                  m_axi_awvalid_o,
    input  logic                  m_axi_awready_i,
    output logic [31:0]           m_axi_wdata_o,
    output logic [3:0]            m_axi_wstrb_o,
    output logic                  m_axi_wlast_o,
    output logic                  m_axi_wvalid_o,
    input  logic                  m_axi_wready_i,
    input  logic [0:0]            m_axi_bid_i,
    input  logic [1:0]            m_axi_bresp_i,
    input  logic                  m_axi_bvalid_i,
    output logic                  m_axi_bready_o,
    output logic [0:0]            m_axi_arid_o,
    output logic [31:0]           m_axi_araddr_o,
    output logic [7:0]            m_axi_arlen_o,
    output logic [2:0]            m_axi_arsize_o,
    output logic [1:0]            m_axi_arburst_o,
    output logic                  m_axi_arlock_o,
    output logic [3:0]            m_axi_arcache_o,
    output logic [2:0]            m_axi_arprot_o,
    output logic                  m_axi_arvalid_o,
    input  logic                  m_axi_arready_i,
    input  logic [0:0]            m_axi_rid_i,
    input  logic [31:0]           m_axi_rdata_i,
    input  logic [1:0]            m_axi_rresp_i,
    input  logic                  m_axi_rlast_i,
    input  logic                  m_axi_rvalid_i,
    output logic                  m_axi_rready_o
);

  initial begin
    if (MAX_BURST < 1 || MAX_BURST > 256) begin
      $error("pwfc_axi_master: MAX_BURST=%0d must be 1..256 (instance %m)", MAX_BURST);
      $finish;
    end
    if (WR_WORDS < 1 || WR_WORDS > 255) begin
      $error("pwfc_axi_master: WR_WORDS=%0d must be 1..255 (instance %m)", WR_WORDS);
      $finish;
    end
  end

  // Beats of the next burst: the words left, at most MAX_BURST, and none past the 4 KiB page.
  function automatic logic [8:0] burst_beats(input logic [9:0] word_in_page, input logic [15:0] left);
    logic [10:0] page;
    logic [15:0] n;
    page = 11'd1024 - {1'b0, word_in_page};
    n = left;
    if (n > 16'(MAX_BURST)) n = 16'(MAX_BURST);
    if (n > {5'd0, page}) n = {5'd0, page};
    return n[8:0];
  endfunction

  // fixed attributes: INCR, 4-byte beats, normal non-cacheable bufferable, unprivileged data
  assign m_axi_awid_o = '0;
  assign m_axi_awsize_o = 3'd2;
  assign m_axi_awburst_o = 2'b01;
  assign m_axi_awlock_o = 1'b0;
  assign m_axi_awcache_o = 4'b0011;
  assign m_axi_awprot_o = 3'b000;
  assign m_axi_arid_o = '0;
  assign m_axi_arsize_o = 3'd2;
  assign m_axi_arburst_o = 2'b01;
  assign m_axi_arlock_o = 1'b0;
  assign m_axi_arcache_o = 4'b0011;
  assign m_axi_arprot_o = 3'b000;
  assign m_axi_wstrb_o = 4'hf;

  // ---- read side ----
  typedef enum logic [1:0] {RdIdle, RdAddr, RdData} rd_state_e;
  rd_state_e   rd_state_q, rd_state_d;
  logic [31:0] rd_addr_q;
  logic [15:0] rd_left_q;
  logic [8:0]  rd_beats;

  assign rd_beats = burst_beats(rd_addr_q[11:2], rd_left_q);
  assign rd_ready_o = rd_state_q == RdIdle;
  assign m_axi_araddr_o = rd_addr_q;
  assign m_axi_arlen_o = 8'(rd_beats - 9'd1);
  assign m_axi_arvalid_o = rd_state_q == RdAddr;
  assign m_axi_rready_o = rd_state_q == RdData;
  assign rd_valid_o = rd_state_q == RdData && m_axi_rvalid_i;
  assign rd_data_o = m_axi_rdata_i;
  assign rd_err_o = rd_valid_o && m_axi_rresp_i != 2'b00;

  always_comb begin
    rd_state_d = rd_state_q;
    case (rd_state_q)
      RdIdle: if (rd_req_i && rd_words_i != 16'd0) rd_state_d = RdAddr;
      RdAddr: if (m_axi_arready_i) rd_state_d = RdData;
      RdData: if (m_axi_rvalid_i && m_axi_rlast_i) begin
        if (rd_left_q == 16'd0) rd_state_d = RdIdle;
        else rd_state_d = RdAddr;
      end
      default: rd_state_d = RdIdle;
    endcase
  end

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      rd_state_q <= RdIdle;
      rd_addr_q <= '0;
      rd_left_q <= '0;
    end else begin
      rd_state_q <= rd_state_d;
      if (rd_state_q == RdIdle && rd_req_i) begin
        rd_addr_q <= rd_addr_i;
        rd_left_q <= rd_words_i;
      end else if (rd_state_q == RdAddr && m_axi_arready_i) begin
        rd_addr_q <= rd_addr_q + {21'd0, rd_beats, 2'b00};
        rd_left_q <= rd_left_q - {7'd0, rd_beats};
      end
    end
  end

  // ---- write side ----
  typedef enum logic [1:0] {WrIdle, WrAddr, WrData, WrResp} wr_state_e;
  wr_state_e             wr_state_q, wr_state_d;
  logic [31:0]           wr_addr_q;
  logic [15:0]           wr_left_q;
  logic [8:0]            wr_beats, wr_cnt_q;
  logic [7:0]            wr_idx_q;
  logic [WR_WORDS*32-1:0] wr_buf_q;

  assign wr_beats = burst_beats(wr_addr_q[11:2], wr_left_q);
  assign wr_ready_o = wr_state_q == WrIdle;
  assign wr_idle_o = wr_state_q == WrIdle;
  assign m_axi_awaddr_o = wr_addr_q;
  assign m_axi_awlen_o = 8'(wr_beats - 9'd1);
  assign m_axi_awvalid_o = wr_state_q == WrAddr;
  assign m_axi_wvalid_o = wr_state_q == WrData;
  assign m_axi_wdata_o = wr_buf_q[32*wr_idx_q +: 32];
  assign m_axi_wlast_o = wr_cnt_q == 9'd1;
  assign m_axi_bready_o = wr_state_q == WrResp;
  assign wr_err_o = wr_state_q == WrResp && m_axi_bvalid_i && m_axi_bresp_i != 2'b00;

  always_comb begin
    wr_state_d = wr_state_q;
    case (wr_state_q)
      WrIdle: if (wr_req_i && wr_words_i != 8'd0) wr_state_d = WrAddr;
      WrAddr: if (m_axi_awready_i) wr_state_d = WrData;
      WrData: if (m_axi_wready_i && wr_cnt_q == 9'd1) wr_state_d = WrResp;
      WrResp: if (m_axi_bvalid_i) begin
        if (wr_left_q == 16'd0) wr_state_d = WrIdle;
        else wr_state_d = WrAddr;
      end
      default: wr_state_d = WrIdle;
    endcase
  end

  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      wr_state_q <= WrIdle;
      wr_addr_q <= '0;
      wr_left_q <= '0;
      wr_cnt_q <= '0;
      wr_idx_q <= '0;
      wr_buf_q <= '0;
    end else begin
      wr_state_q <= wr_state_d;
      case (wr_state_q)
        WrIdle: if (wr_req_i) begin
          wr_addr_q <= wr_addr_i;
          wr_left_q <= {8'd0, wr_words_i};
          wr_idx_q <= '0;
          wr_buf_q <= wr_data_i;
        end
        WrAddr: if (m_axi_awready_i) begin
          wr_addr_q <= wr_addr_q + {21'd0, wr_beats, 2'b00};
          wr_left_q <= wr_left_q - {7'd0, wr_beats};
          wr_cnt_q <= wr_beats;
        end
        WrData: if (m_axi_wready_i) begin
          wr_cnt_q <= wr_cnt_q - 9'd1;
          wr_idx_q <= wr_idx_q + 8'd1;
        end
        default: ;
      endcase
    end
  end

  logic unused_axi;
  assign unused_axi = ^{m_axi_bid_i, m_axi_rid_i};

endmodule

`resetall
