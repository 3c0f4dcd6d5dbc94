"""Quantization-aware training with HGQ2: learned per-stage precision for the firmware kernel.

- ``ops``: ``KerasOps``, the kernel's fourth ops backend (Keras tensors, an HGQ2 quantizer per cast)
- ``layer``: ``QNanoPelican``, the HGQ2 layer (trainable canonical coefficients, one quantizer per
  FixedPointSpec stage, the resource cost as HGQ2's EBOPs)
- ``cost``: the kernel's LUT-equivalent adder-bit count
- ``train``: the resumable training loop (the paper's schedule, HGQ2's beta schedule)
- ``export`` / ``run``: learned integer bits, canonical model + FixedPointSpec, the bit-exact check
- ``qkeras``: QKeras quantizer strings as a precision source
- ``pareto``: PTQ against QAT, AUC vs LUT and device fraction
- ``commands``: ``nanotrig qat`` and ``nanotrig qat-pareto``

Everything that needs Keras/HGQ2 is imported lazily by the commands.
"""
