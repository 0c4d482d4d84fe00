// Generated from targets/pwfc/regs.py (python -m targets.pwfc.regs); do not edit.
`ifndef PWFC_REGS_SVH
`define PWFC_REGS_SVH
`define PWFC_REG_ID 8'h00
`define PWFC_REG_CTRL 8'h04
`define PWFC_REG_CYCLES 8'h08
`define PWFC_REG_CAPS 8'h0c
`define PWFC_REG_C 8'h10
`define PWFC_REG_K 8'h14
`define PWFC_REG_HW 8'h18
`define PWFC_REG_Z_IN 8'h1c
`define PWFC_REG_Z_OUT 8'h20
`define PWFC_REG_LO 8'h24
`define PWFC_REG_HI 8'h28
`define PWFC_REG_ACT_BASE 8'h2c
`define PWFC_REG_WGT_BASE 8'h30
`define PWFC_REG_BIAS_BASE 8'h34
`define PWFC_REG_RQ_BASE 8'h38
`define PWFC_REG_OUT_BASE 8'h3c
`define PWFC_W_C 16
`define PWFC_W_K 16
`define PWFC_W_HW 24
`define PWFC_W_Z_IN 8
`define PWFC_W_Z_OUT 8
`define PWFC_W_LO 8
`define PWFC_W_HI 8
`define PWFC_CTRL_START 0
`define PWFC_CTRL_BUSY 1
`define PWFC_CTRL_DONE 2
`define PWFC_CTRL_ERROR 3
`define PWFC_CTRL_IRQ_EN 4
`define PWFC_CTRL_ERR_CODE 8
`define PWFC_ID 32'h50574643
`endif
