__version__ = "0.1.0"

# hls4ml extension (nanoPELICAN layer for the Vivado/Vitis backends): registered when hls4ml is imported.
from nanotrig.hls.hook import install as _install_hls4ml_extension  # noqa: E402

_install_hls4ml_extension()
