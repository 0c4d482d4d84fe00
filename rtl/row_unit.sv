`resetall
`timescale 1ns / 1ps
`default_nettype none

// Row unit: softmax and LayerNorm layers over token tensors in external memory (docs/rtl.md,
// "Row unit"). A token tensor [T, C] lies as [c_tile][t][c_lane] (hexgen.tokens.token_layout): a
// word is ROWS channels of one token, and a token's row (W = ceil(C / ROWS) words) is spread over W
// channel tiles, T words apart. Softmax needs the row three times and LayerNorm twice
// (rtl/softmax_unit.sv, rtl/layernorm_unit.sv take one row, streamed word by word); reading it word
// by word from memory would cost a memory latency per word, so the unit stages a block of nb tokens
// (one burst of nb words per channel tile) and streams the rows from there. One block (start_i):
//   1. first_i (the run's first block) loads the parameters: softmax's exp table (256 32-bit entries,
//      hexgen.tokens.table_layout(32, ..): 1024 / ROWS words) lands in the staging buffer IB and is
//      then written into softmax_unit's table, one entry a cycle; LayerNorm's records (128 bits a
//      channel, a channel tile's ROWS records = 16 words) go into the record buffer (tile k: entry k);
//   2. staging: channel tile k's nb words (one burst at in_base + k * plane) into IB[k * nb + b];
//   3. per token b: the math unit is started and given row b's words (IB[k * nb + b], k = 0..W-1)
//      three times (softmax) or twice (LayerNorm, pass 2 with tile k's records); its W output words
//      go to the output buffer OB[k * nb + b] (channel tile major: the memory's order);
//   4. OB[0 .. W nb - 1] leaves in order on the output stream (the engine's writer).
// The phases do not overlap. Reads: one burst at a time (at most MAX_BURST words outstanding), each
// into a buffer with room for it, so read data never waits (rd_ready_o is high while a burst is due):
// the table's unpacking only starts once the whole table is in IB. Cycles with a memory that never
// stalls and an output always ready: hexgen.cycles.row_unit_pushes (checked cycle for cycle by
// tb/engine/test_row_unit.py against golden.tf_arith.softmax / layernorm).
// Inputs are held stable from start_i until done_o. Outside the contract (a simulation check stops
// the run): nb = 0, nb > MAX_BURST, nb W > ROW_WORDS, W = 0 or != ceil(len / ROWS), LayerNorm W > LN_TILES.
module row_unit #(
    parameter int ROWS = 8,
    parameter int ADDR_W = 24,
    parameter int MAX_BURST = 16,
    parameter int ROW_WORDS = 256,   // words of IB and of OB: a block's nb W, and the exp table
    parameter int LN_TILES = 64,     // channel tiles of records the record buffer holds
    localparam int WORD_BITS = ROWS * 8
) (
    input  logic                 clk_i,
    input  logic                 rst_i,
    input  logic                 start_i,     // one cycle while idle: one block
    input  logic                 is_ln_i,     // 0 softmax, 1 LayerNorm
    input  logic                 first_i,     // the run's first block: load the table / records first

    input  logic [15:0]          len_i,       // L (softmax, 1..4095) or C (LayerNorm, 2..2580)
    input  logic [15:0]          ct_i,        // W = ceil(len / ROWS): words a row
    input  logic [15:0]          rows_i,      // nb: tokens of the block
    /* verilator lint_off UNUSEDSIGNAL */  // addresses wrap modulo 2^ADDR_W: its bits above them do not count
    input  logic [31:0]          plane_i,     // T: words from one channel tile to the next
    /* verilator lint_on UNUSEDSIGNAL */
    input  logic [ADDR_W-1:0]    in_base_i,   // the block's first token in channel tile 0
    input  logic [ADDR_W-1:0]    tab_base_i,  // the exp table or the records
    input  logic [51:0]          dividend_i,  // softmax: D
    input  logic [5:0]           shift_i,     // softmax: P
    input  logic [4:0]           sqrt_shift_i,  // LayerNorm: P
    input  logic [47:0]          eps_term_i,  // LayerNorm: E
    input  logic [7:0]           z_out_i,
    input  logic [7:0]           lo_i,
    input  logic [7:0]           hi_i,

    output logic                 req_valid_o,
    input  logic                 req_ready_i,
    output logic [ADDR_W-1:0]    req_addr_o,
    output logic [7:0]           req_len_o,
    input  logic                 rd_valid_i,
    output logic                 rd_ready_o,
    input  logic [WORD_BITS-1:0] rd_data_i,

    output logic                 out_valid_o,
    input  logic                 out_ready_i,
    output logic [WORD_BITS-1:0] out_data_o,

    output logic                 busy_o,
    output logic                 done_o,      // one cycle: the block's last output word was taken
    output logic [31:0]          words_read_o // read words taken since reset (performance counter)
);

  localparam int LW = $clog2(MAX_BURST + 1);
  localparam int TAB_WORDS = 256 * 32 / (WORD_BITS > 0 ? WORD_BITS : 1);  // the exp table's words
  localparam int EPW = WORD_BITS / 32;      // table entries a word
  localparam int REC_WORDS = 16;            // a channel tile's records: ROWS x 128 bits
  localparam int IW = ROW_WORDS > 1 ? $clog2(ROW_WORDS) : 1;
  localparam int TW = LN_TILES > 1 ? $clog2(LN_TILES) : 1;

  initial begin
    if (ROWS < 4 || ROWS % 4 != 0 || MAX_BURST < 1 || MAX_BURST > 255 || ADDR_W < 1 || ADDR_W > 32) begin
      $error("%m: ROWS = %0d a multiple of 4 (whole 32-bit table entries a word), MAX_BURST = %0d in 1..255, %s",
             ROWS, MAX_BURST, $sformatf("ADDR_W = %0d in 1..32", ADDR_W));
      $finish;
    end
    if (ROW_WORDS < TAB_WORDS || LN_TILES < 1) begin
      $error("%m: ROW_WORDS = %0d must hold the exp table (%0d words), LN_TILES = %0d >= 1",
             ROW_WORDS, TAB_WORDS, LN_TILES);
      $finish;
    end
  end

  typedef enum logic [2:0] {
    RIdle, RReq, RRx, RUnpack, RStart, RRun, ROut
  } st_e;
  typedef enum logic [1:0] {
    PTab, PRec, PStage
  } ph_e;
  st_e st_q;
  ph_e ph_q;           // what the bursts read: the table, the records, or the block

  logic [ADDR_W-1:0]    addr_q;   // the next burst's address
  logic [31:0]          left_q;   // words of the phase not yet read
  logic [LW-1:0]        len_q;    // words of the current burst
  logic [LW-1:0]        cnt_q;    // of them received
  logic [31:0]          widx_q;   // the phase's words received: where the next goes
  logic [8:0]           ent_q;    // the table entry being written
  logic [15:0]          row_q;    // the token b being computed
  logic [31:0]          fidx_q;   // IB index of the word given to the math unit: fk nb + b
  logic [15:0]          fk_q;     // its channel tile
  logic [1:0]           fpass_q;  // its pass (all given: 3 softmax, 2 LayerNorm)
  logic [31:0]          oidx_q;   // OB index of the math unit's next output word: ok nb + b
  logic [15:0]          ok_q;     // its channel tile
  logic [31:0]          oo_q;     // the next OB word on the output stream

  logic [WORD_BITS-1:0] ib_q [ROW_WORDS];
  logic [WORD_BITS-1:0] ob_q [ROW_WORDS];

  logic [31:0] blk_words, rec_words;
  assign blk_words = 32'(ct_i) * 32'(rows_i);
  assign rec_words = 32'(ct_i) * REC_WORDS;

  // (assigned to its name, not `return`ed: Yosys 0.23, make resources' synthesis, reads no `return`)
  function automatic logic [LW-1:0] chunk(input logic [31:0] words);
    chunk = words < 32'(MAX_BURST) ? LW'(words) : LW'(MAX_BURST);
  endfunction

  // ---------------------------------------------------------------- the math units
  logic sm_start, ln_start, feed, sm_ready, ln_ready, sm_valid, ln_valid, m_fire, m_valid;
  logic sm_busy, ln_busy;
  logic [WORD_BITS-1:0] feed_word, sm_word, ln_word, m_word;
  logic [1:0] passes;
  assign passes = is_ln_i ? 2'd2 : 2'd3;
  assign sm_start = st_q == RStart && !is_ln_i;
  assign ln_start = st_q == RStart && is_ln_i;
  assign feed = st_q == RRun && fpass_q != passes;
  assign feed_word = ib_q[IW'(fidx_q)];
  assign m_fire = feed && (is_ln_i ? ln_ready : sm_ready);
  assign m_valid = is_ln_i ? ln_valid : sm_valid;
  assign m_word = is_ln_i ? ln_word : sm_word;

  // the exp table: entry e of IB word e / EPW, bits [32 (e mod EPW) +: 21] (the low bits of its element)
  /* verilator lint_off UNUSEDSIGNAL */  // the entries' top 11 bits are 0
  logic [WORD_BITS-1:0] tab_word;
  /* verilator lint_on UNUSEDSIGNAL */
  logic [20:0] tab_entry;
  assign tab_word = ib_q[IW'(32'(ent_q) / EPW)];
  assign tab_entry = tab_word[32 * (32'(ent_q) % EPW) +: 21];

  softmax_unit #(.LANES(ROWS)) u_sm (
      .clk_i, .rst_i, .len_i, .dividend_i, .shift_i, .z_out_i, .lo_i, .hi_i,
      .tbl_we_i(st_q == RUnpack), .tbl_addr_i(ent_q[7:0]), .tbl_data_i(tab_entry),
      .start_i(sm_start), .busy_o(sm_busy), .in_valid_i(feed && !is_ln_i), .in_ready_o(sm_ready), .in_data_i(feed_word),
      .out_valid_o(sm_valid), .out_ready_i(1'b1), .out_data_o(sm_word)
  );

  // the record buffer: 16 banks of LN_TILES words, bank j word k = word j of tile k's records, so a
  // tile's 16 words (ROWS records of 128 bits, lane l's at [128 l +: 128]) are read at once
  /* verilator lint_off UNUSEDSIGNAL */  // bits [38 +: 26] of each record's first element are 0
  logic [REC_WORDS*WORD_BITS-1:0] rec_tile;
  /* verilator lint_on UNUSEDSIGNAL */
  logic rec_we;
  assign rec_we = st_q == RRx && ph_q == PRec && rd_valid_i;
  for (genvar j = 0; j < REC_WORDS; j++) begin : g_rec
    logic [WORD_BITS-1:0] bank_q [LN_TILES];
    always_ff @(posedge clk_i) begin
      if (rec_we && widx_q[3:0] == 4'(j)) bank_q[TW'(widx_q >> 4)] <= rd_data_i;
    end
    assign rec_tile[j*WORD_BITS +: WORD_BITS] = bank_q[TW'(fk_q)];
  end
  logic [ROWS*32-1:0] ln_gain;
  logic [ROWS*6-1:0]  ln_shift;
  logic [ROWS*64-1:0] ln_bias;
  for (genvar l = 0; l < ROWS; l++) begin : g_lane  // hexgen.tokens.LN_FIELDS: {shift, gain}, bias
    assign ln_gain[l*32 +: 32] = rec_tile[l*128 +: 32];
    assign ln_shift[l*6 +: 6] = rec_tile[l*128 + 32 +: 6];
    assign ln_bias[l*64 +: 64] = rec_tile[l*128 + 64 +: 64];
  end

  layernorm_unit #(.LANES(ROWS)) u_ln (
      .clk_i, .rst_i, .len_i, .sqrt_shift_i, .eps_term_i, .z_out_i, .lo_i, .hi_i,
      .start_i(ln_start), .busy_o(ln_busy), .in_valid_i(feed && is_ln_i), .in_ready_o(ln_ready), .in_data_i(feed_word),
      .gain_i(ln_gain), .shift_i(ln_shift), .bias_i(ln_bias),
      .out_valid_o(ln_valid), .out_ready_i(1'b1), .out_data_o(ln_word)
  );

  // ---------------------------------------------------------------- memory and output ports
  assign req_valid_o = st_q == RReq;
  assign req_addr_o = addr_q;
  assign req_len_o = 8'(len_q);
  assign rd_ready_o = st_q == RRx;
  assign busy_o = st_q != RIdle;
  assign out_valid_o = st_q == ROut;
`ifdef MUT_SELECT  // +MUT_ROW_LANE_SWAP: lanes 0 and 1 of every output word swapped
  logic mut_lane_swap;
  initial mut_lane_swap = $test$plusargs("MUT_ROW_LANE_SWAP");
  assign out_data_o = mut_lane_swap ? {ob_q[IW'(oo_q)][WORD_BITS-1:16], ob_q[IW'(oo_q)][7:0], ob_q[IW'(oo_q)][15:8]}
                                    : ob_q[IW'(oo_q)];
`else
  assign out_data_o = ob_q[IW'(oo_q)];
`endif

  always_ff @(posedge clk_i) begin
    if (rst_i) words_read_o <= '0;
    else if (rd_valid_i && rd_ready_o) words_read_o <= words_read_o + 32'd1;
  end

  // the staging buffer: the table's or the block's words as they arrive; the output buffer: the
  // math unit's words as they leave it (its output is always ready)
  always_ff @(posedge clk_i) begin
    if (st_q == RRx && ph_q != PRec && rd_valid_i) ib_q[IW'(widx_q)] <= rd_data_i;
    if (st_q == RRun && m_valid) ob_q[IW'(oidx_q)] <= m_word;
  end

  // ---------------------------------------------------------------- sequencing
  always_ff @(posedge clk_i) begin
    done_o <= 1'b0;
    if (rst_i) begin
      st_q <= RIdle;
    end else begin
      case (st_q)
        RIdle: if (start_i) begin
          widx_q <= '0;
          cnt_q <= '0;
          st_q <= RReq;
          if (first_i && !is_ln_i) begin
            ph_q <= PTab;
            addr_q <= tab_base_i;
            left_q <= TAB_WORDS;
            len_q <= chunk(TAB_WORDS);
          end else if (first_i) begin
            ph_q <= PRec;
            addr_q <= tab_base_i;
            left_q <= rec_words;
            len_q <= chunk(rec_words);
          end else begin
            ph_q <= PStage;
            addr_q <= in_base_i;
            left_q <= blk_words;
            len_q <= LW'(rows_i);
          end
        end
        RReq: if (req_ready_i) st_q <= RRx;
        RRx: if (rd_valid_i) begin
          widx_q <= widx_q + 32'd1;
          cnt_q <= cnt_q + 1'b1;
          if (cnt_q + 1'b1 == len_q) begin  // the burst is in: the next, or the next phase
            cnt_q <= '0;
            left_q <= left_q - 32'(len_q);
            addr_q <= addr_q + (ph_q == PStage ? ADDR_W'(plane_i) : ADDR_W'(len_q));
            len_q <= ph_q == PStage ? LW'(rows_i) : chunk(left_q - 32'(len_q));
            st_q <= RReq;
            if (left_q == 32'(len_q)) begin
              widx_q <= '0;
              if (ph_q == PTab) begin
                ent_q <= '0;
                st_q <= RUnpack;
              end else if (ph_q == PRec) begin  // the block next
                ph_q <= PStage;
                addr_q <= in_base_i;
                left_q <= blk_words;
                len_q <= LW'(rows_i);
              end else begin
                row_q <= '0;
                st_q <= RStart;
              end
            end
          end
        end
        RUnpack: begin  // entry ent_q is written into the softmax unit's table this edge
          ent_q <= ent_q + 9'd1;
          if (ent_q == 9'd255) begin  // the block next (IB is free again)
            ph_q <= PStage;
            addr_q <= in_base_i;
            left_q <= blk_words;
            len_q <= LW'(rows_i);
            st_q <= RReq;
          end
        end
        RStart: begin  // the math unit starts row_q this edge
          fidx_q <= 32'(row_q);
          fk_q <= '0;
          fpass_q <= '0;
          oidx_q <= 32'(row_q);
          ok_q <= '0;
          st_q <= RRun;
        end
        RRun: begin
          if (m_fire) begin
            fidx_q <= fk_q + 16'd1 == ct_i ? 32'(row_q) : fidx_q + 32'(rows_i);
            fk_q <= fk_q + 16'd1 == ct_i ? '0 : fk_q + 16'd1;
            if (fk_q + 16'd1 == ct_i) fpass_q <= fpass_q + 2'd1;
          end
          if (m_valid) begin
            oidx_q <= oidx_q + 32'(rows_i);
            ok_q <= ok_q + 16'd1;
            if (ok_q + 16'd1 == ct_i) begin  // the row is out: the next token, or the block's output
              row_q <= row_q + 16'd1;
              oo_q <= '0;
              st_q <= row_q + 16'd1 == rows_i ? ROut : RStart;
            end
          end
        end
        ROut: if (out_ready_i) begin
          oo_q <= oo_q + 32'd1;
          if (oo_q + 32'd1 == blk_words) begin
            st_q <= RIdle;
            done_o <= 1'b1;
          end
        end
        default: st_q <= RIdle;
      endcase
    end
  end

`ifndef SYNTHESIS
  // a block outside what hexgen guarantees stops the run (the buffers would be overrun or a row cut)
  always @(posedge clk_i) begin
    if (!rst_i && st_q == RIdle && start_i
        && (rows_i == '0 || 32'(rows_i) > MAX_BURST || blk_words > 32'(ROW_WORDS) || ct_i == '0
            || 32'(ct_i) != (32'(len_i) + ROWS - 1) / ROWS || (is_ln_i && 32'(ct_i) > LN_TILES))) begin
      $error("%m: block outside the contract: nb = %0d, W = %0d, len = %0d, is_ln = %0d %s",
             rows_i, ct_i, len_i, is_ln_i,
             $sformatf("(nb 1..%0d, W = ceil(len / %0d), nb W <= %0d, LayerNorm W <= %0d)", MAX_BURST, ROWS, ROW_WORDS,
                       LN_TILES));
      $finish;
    end
  end

  // protocol checkers (docs/rtl.md, "Protocol checkers"): the read-request and output channels; one
  // burst outstanding at a time (RReq is entered only once the previous burst's words are all in)
  vr_check #(.W(ADDR_W + 8)) u_chk_req (.clk_i, .rst_i, .valid_i(req_valid_o), .ready_i(req_ready_i),
                                        .data_i({req_addr_o, req_len_o}));
  vr_check #(.W(WORD_BITS)) u_chk_out (.clk_i, .rst_i, .valid_i(out_valid_o), .ready_i(out_ready_i),
                                       .data_i(out_data_o));
  outstanding_check #(.LIMIT(MAX_BURST)) u_chk_outstanding (
      .clk_i, .rst_i, .req_fire_i(req_valid_o && req_ready_i), .req_len_i(req_len_o), .data_valid_i(rd_valid_i),
      .data_fire_i(rd_valid_i && rd_ready_o));
`endif

  // the math units' busy_o: their output is taken every cycle, so a row is over when its last word is
  logic unused;
  assign unused = sm_busy ^ ln_busy;

endmodule

`resetall
