"""SystemVerilog sources of the adder-only ternary PE array and its cocotb testbench (package data `compiler._rtl_sim`)."""
