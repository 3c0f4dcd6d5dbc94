"""RTL without a vendor tool: da4ml trace of the fixed-point kernel -> pipelined Verilog/VHDL,
a streaming wrapper with the HLS port names, and the cocotb bench runner (tb/)."""
