"""HLS: the hls4ml extension (one fused nanoPELICAN layer), the project writer and the C-simulation.

Importing this package does not import hls4ml; ``nanotrig.hls.extension`` does.
"""
