`resetall
`timescale 1ns / 1ps
`default_nettype none

// pwfc's layer sequencer and datapath: a pointwise (1x1, stride 1, no padding, groups 1) or fc
// layer, LANES output channels at a time, output-stationary.
//
// Dataflow. The K output channels are taken in groups of LANES. For a group of nl = min(LANES,
// K - k0) channels the core reads, over the AXI master, the nl int32 bias words, the nl {n, M0}
// records (two words each) and the nl weight rows (row-major [K][C] int8, cw = ceil(C/4) words a
// row, so the group's rows are one contiguous run of nl*cw words) into a weight buffer of its own
// (one MAX_C/4-word memory per lane). Then, pixel by pixel, it reads the pixel's cw activation
// words (channel-last uint8, 4 channels a word); each arriving word is broadcast to the lanes and
// lane l adds the four products (a - z_in) * w[k0+l][c] (9-bit signed operand, int8 weight) to
// its int32 accumulator, which the pixel's first word starts from the bias term. After the last
// word every lane's accumulator goes through the requantizer (pwfc_requant, two stages) and the
// nl bytes (lanes past nl and channels past K written as 0, the layout's pad) are written as
// ceil(nl/4) words at out_base + (pixel*kw + k0/4)*4, kw = ceil(K/4); the write runs while the
// next pixel's words are read. The accumulators stay in their lane for the whole reduction over
// C: nothing moves but the activation word, broadcast to all lanes (LANES*4 MACs a beat).
//
// Errors (err_code_o with error_o): 1 C is 0 or above MAX_C, 2 K is 0, 3 HW is 0, 4 a base not
// 4-byte aligned (refused at start, nothing read); 5 / 6 an AXI read / write error response (the
// layer runs to its end, then reports the error instead of done).
module pwfc_core #(
    parameter int LANES = 4,   // output channels a group; a multiple of 4
    parameter int MAX_C = 256  // input channels the weight buffer holds; a power of 2, >= 8
) (
    input  logic        clk_i,
    input  logic        rst_i,

    input  logic        start_i,
    input  logic [15:0] c_i,
    input  logic [15:0] k_i,
    input  logic [23:0] hw_i,
    input  logic [7:0]  z_in_i,
    input  logic [7:0]  z_out_i,
    input  logic [7:0]  lo_i,
    input  logic [7:0]  hi_i,
    input  logic [31:0] act_base_i,
    input  logic [31:0] wgt_base_i,
    input  logic [31:0] bias_base_i,
    input  logic [31:0] rq_base_i,
    input  logic [31:0] out_base_i,
    output logic        busy_o,
    output logic        done_o,
    output logic        error_o,
    output logic [7:0]  err_code_o,

    output logic        rd_req_o,
    input  logic        rd_ready_i,
    output logic [31:0] rd_addr_o,
    output logic [15:0] rd_words_o,
    input  logic        rd_valid_i,
    input  logic [31:0] rd_data_i,
    input  logic        rd_err_i,

    output logic        wr_req_o,
    input  logic        wr_ready_i,
    output logic [31:0] wr_addr_o,
    output logic [7:0]  wr_words_o,
    output logic [LANES*8-1:0] wr_data_o,
    input  logic        wr_idle_i,
    input  logic        wr_err_i
);

  localparam int MAX_CW = MAX_C / 4;
  localparam int CWA = $clog2(MAX_CW);
  localparam int NLW = $clog2(LANES + 1);

  initial begin
    if (LANES < 4 || LANES % 4 != 0 || LANES > 252) begin
      $error("pwfc_core: LANES=%0d must be a multiple of 4, 4..252 (instance %m)", LANES);
      $finish;
    end
    if (MAX_C < 8 || (MAX_C & (MAX_C - 1)) != 0 || MAX_C > 65536 || LANES * MAX_CW > 65535) begin
      $error("pwfc_core: MAX_C=%0d must be a power of 2, 8..65536, LANES*MAX_C/4 < 65536 (instance %m)",
             MAX_C);
      $finish;
    end
  end

  typedef enum logic [3:0] {
    StIdle, StGroup, StBiasRd, StBias, StRqRd, StRq, StWgtRd, StWgt, StActRd, StAct, StRequant,
    StOut, StDrain
  } state_e;

  state_e            state_q, state_d;
  logic [15:0]       k0_q, beat_q;
  logic [NLW-1:0]    nl_q;
  logic [23:0]       pix_q;
  logic [CWA-1:0]    wl_word_q;
  logic [NLW-1:0]    wl_lane_q;
  logic [31:0]       bias_ptr_q, rq_ptr_q, wgt_ptr_q, act_ptr_q, out_ptr_q, out_grp_q;
  logic              rd_err_q, wr_err_q, rq_go_q;
  logic [7:0]        err_code_q;
  logic [LANES-1:0]  rq_valid;
  logic [LANES*8-1:0] y;

  // ---- the layer's sizes ----
  logic [15:0] cw, kw, k_left, wgt_words;
  logic [NLW-1:0] nl_next;
  logic        misaligned;
  logic [16:0] k_next;
  logic [7:0]  cfg_err;
  assign cw = 16'((17'(c_i) + 17'd3) >> 2);
  assign kw = 16'((17'(k_i) + 17'd3) >> 2);
  assign k_left = k_i - k0_q;
  assign nl_next = k_left > 16'(LANES) ? NLW'(LANES) : NLW'(k_left);
  assign wgt_words = 16'(nl_q) * cw;
  assign k_next = 17'(k0_q) + 17'(LANES);

  assign misaligned = (act_base_i[1:0] | wgt_base_i[1:0] | bias_base_i[1:0] | rq_base_i[1:0]
                       | out_base_i[1:0]) != 2'b00;
  always_comb begin
    cfg_err = 8'd0;
    if (c_i == 16'd0 || c_i > 16'(MAX_C)) cfg_err = 8'd1;
    else if (k_i == 16'd0) cfg_err = 8'd2;
    else if (hw_i == 24'd0) cfg_err = 8'd3;
    else if (misaligned) cfg_err = 8'd4;
  end

  // ---- the zero point subtracted from each activation (a fault under PWFC_MUT) ----
  logic [7:0] z_eff;
`ifdef PWFC_MUT
  logic mut_zp;
  initial mut_zp = $test$plusargs("PWFC_MUT_ZP") != 0;
  assign z_eff = z_in_i + {7'd0, mut_zp};  // +PWFC_MUT_ZP: z_in off by one
`else
  assign z_eff = z_in_i;
`endif

  // ---- beats: the last word of each phase ----
  logic last_beat;
  always_comb begin
    case (state_q)
      StBias: last_beat = beat_q == 16'(nl_q) - 16'd1;
      StRq: last_beat = beat_q == {15'(nl_q), 1'b0} - 16'd1;
      StWgt: last_beat = wl_lane_q == nl_q - NLW'(1) && 16'(wl_word_q) == cw - 16'd1;
      StAct: last_beat = beat_q == cw - 16'd1;
      default: last_beat = 1'b0;
    endcase
  end

  // ---- next state ----
  logic rq_done;  // the lanes' requantizers run in step: lane 0's valid stands for all
  assign rq_done = rq_valid[0];
  always_comb begin
    state_d = state_q;
    case (state_q)
      StIdle: if (start_i && cfg_err == 8'd0) state_d = StGroup;
      StGroup: state_d = StBiasRd;
      StBiasRd: if (rd_ready_i) state_d = StBias;
      StBias: if (rd_valid_i && last_beat) state_d = StRqRd;
      StRqRd: if (rd_ready_i) state_d = StRq;
      StRq: if (rd_valid_i && last_beat) state_d = StWgtRd;
      StWgtRd: if (rd_ready_i) state_d = StWgt;
      StWgt: if (rd_valid_i && last_beat) state_d = StActRd;
      StActRd: if (rd_ready_i) state_d = StAct;
      StAct: if (rd_valid_i && last_beat) state_d = StRequant;
      StRequant: if (rq_done) state_d = StOut;
      StOut: if (wr_ready_i) begin
        if (pix_q != hw_i - 24'd1) state_d = StActRd;
        else if (k_next < 17'(k_i)) state_d = StGroup;
        else state_d = StDrain;
      end
      StDrain: if (wr_idle_i) state_d = StIdle;
      default: state_d = StIdle;
    endcase
  end

  always_ff @(posedge clk_i) begin
    if (rst_i) state_q <= StIdle;
    else state_q <= state_d;
  end

  // ---- counters and pointers ----
  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      k0_q <= '0;
      nl_q <= '0;
      pix_q <= '0;
      beat_q <= '0;
      wl_word_q <= '0;
      wl_lane_q <= '0;
      bias_ptr_q <= '0;
      rq_ptr_q <= '0;
      wgt_ptr_q <= '0;
      act_ptr_q <= '0;
      out_ptr_q <= '0;
      out_grp_q <= '0;
      rq_go_q <= 1'b0;
    end else begin
      rq_go_q <= state_q == StAct && rd_valid_i && last_beat;
      if (rd_valid_i) beat_q <= beat_q + 16'd1;
      case (state_q)
        StIdle: begin
          k0_q <= '0;
          bias_ptr_q <= bias_base_i;
          rq_ptr_q <= rq_base_i;
          wgt_ptr_q <= wgt_base_i;
          out_grp_q <= out_base_i;
        end
        StGroup: begin
          nl_q <= nl_next;
          pix_q <= '0;
          act_ptr_q <= act_base_i;
          out_ptr_q <= out_grp_q;
        end
        StBiasRd, StRqRd, StActRd: beat_q <= '0;
        StWgtRd: begin
          wl_word_q <= '0;
          wl_lane_q <= '0;
        end
        StWgt: if (rd_valid_i) begin
          if (16'(wl_word_q) == cw - 16'd1) begin
            wl_word_q <= '0;
            wl_lane_q <= wl_lane_q + NLW'(1);
          end else begin
            wl_word_q <= wl_word_q + CWA'(1);
          end
        end
        StOut: if (wr_ready_i) begin
          pix_q <= pix_q + 24'd1;
          act_ptr_q <= act_ptr_q + {14'd0, cw, 2'b00};
          out_ptr_q <= out_ptr_q + {14'd0, kw, 2'b00};
          if (pix_q == hw_i - 24'd1) begin
            k0_q <= k0_q + 16'(LANES);
            bias_ptr_q <= bias_ptr_q + 32'(LANES * 4);
            rq_ptr_q <= rq_ptr_q + 32'(LANES * 8);
            wgt_ptr_q <= wgt_ptr_q + 32'(cw) * 32'(LANES * 4);
            out_grp_q <= out_grp_q + 32'(LANES);
          end
        end
        default: ;
      endcase
    end
  end

  // ---- status ----
  logic refused, ended, finish_q, fail_q;
  assign refused = state_q == StIdle && start_i && cfg_err != 8'd0;
  assign ended = state_q == StDrain && wr_idle_i;
  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      rd_err_q <= 1'b0;
      wr_err_q <= 1'b0;
      err_code_q <= '0;
    end else begin
      if (state_q == StIdle) begin
        rd_err_q <= 1'b0;
        wr_err_q <= 1'b0;
      end else begin
        if (rd_err_i) rd_err_q <= 1'b1;
        if (wr_err_i) wr_err_q <= 1'b1;
      end
      if (refused) err_code_q <= cfg_err;
      else if (ended) err_code_q <= rd_err_q ? 8'd5 : wr_err_q ? 8'd6 : 8'd0;
    end
  end

  // done/error: one-cycle pulses the cycle after the layer ends (a refused start: after start_i),
  // err_code_o valid with error_o
  always_ff @(posedge clk_i) begin
    if (rst_i) begin
      finish_q <= 1'b0;
      fail_q <= 1'b0;
    end else begin
      finish_q <= refused || ended;
      fail_q <= refused || (ended && (rd_err_q || wr_err_q));
    end
  end
  assign done_o = finish_q && !fail_q;
  assign error_o = fail_q;
  assign err_code_o = err_code_q;
  logic unused_rq_valid;
  assign unused_rq_valid = ^rq_valid[LANES-1:1];
  assign busy_o = state_q != StIdle;

  // ---- memory requests ----
  always_comb begin
    rd_req_o = 1'b0;
    rd_addr_o = '0;
    rd_words_o = '0;
    case (state_q)
      StBiasRd: begin
        rd_req_o = 1'b1;
        rd_addr_o = bias_ptr_q;
        rd_words_o = 16'(nl_q);
      end
      StRqRd: begin
        rd_req_o = 1'b1;
        rd_addr_o = rq_ptr_q;
        rd_words_o = {15'(nl_q), 1'b0};
      end
      StWgtRd: begin
        rd_req_o = 1'b1;
        rd_addr_o = wgt_ptr_q;
        rd_words_o = wgt_words;
      end
      StActRd: begin
        rd_req_o = 1'b1;
        rd_addr_o = act_ptr_q;
        rd_words_o = cw;
      end
      default: ;
    endcase
  end

  assign wr_req_o = state_q == StOut;
  assign wr_addr_o = out_ptr_q;
  assign wr_words_o = 8'((16'(nl_q) + 16'd3) >> 2);
  assign wr_data_o = y;

  // ---- the lanes: bias, record, weight row, accumulator, requantizer ----
  logic [35:0] a_op;  // four (a - z_in), 9-bit signed each
  for (genvar j = 0; j < 4; j++) begin : g_operand
    assign a_op[9*j +: 9] = {1'b0, rd_data_i[8*j +: 8]} - {1'b0, z_eff};
  end

  for (genvar l = 0; l < LANES; l++) begin : g_lane
    logic [31:0]        bias_q, m0_q, w_word;
    logic [5:0]         n_q;
    logic signed [31:0] acc_q, dot;
    logic [31:0]        mem_q [MAX_CW];
    logic [7:0]         y_l;

    always_ff @(posedge clk_i) begin
      if (state_q == StBias && rd_valid_i && beat_q == 16'(l)) bias_q <= rd_data_i;
      if (state_q == StRq && rd_valid_i && beat_q == 16'(2 * l)) n_q <= rd_data_i[5:0];
      if (state_q == StRq && rd_valid_i && beat_q == 16'(2 * l + 1)) m0_q <= rd_data_i;
      if (state_q == StWgt && rd_valid_i && wl_lane_q == NLW'(l)) mem_q[wl_word_q] <= rd_data_i;
      if (state_q == StAct && rd_valid_i) acc_q <= (beat_q == 16'd0 ? $signed(bias_q) : acc_q) + dot;
    end

    assign w_word = mem_q[beat_q[CWA-1:0]];
    always_comb begin
      dot = '0;
      for (int j = 0; j < 4; j++) begin
        dot = dot + $signed(a_op[9*j +: 9]) * $signed(w_word[8*j +: 8]);
      end
    end

    pwfc_requant u_requant (
      .clk_i,
      .rst_i,
      .valid_i(rq_go_q),
      .acc_i  (acc_q),
      .m0_i   (m0_q),
      .n_i    (n_q),
      .z_out_i,
      .lo_i,
      .hi_i,
      .valid_o(rq_valid[l]),
      .y_o    (y_l)
    );
    assign y[8*l +: 8] = NLW'(l) < nl_q ? y_l : 8'd0;
  end

endmodule

`resetall
