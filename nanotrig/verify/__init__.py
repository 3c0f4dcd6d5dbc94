"""``nanotrig verify``: bit-exactness of the C-simulation (and the RTL) against the emulator over
many jets, in chunks that run in parallel on the engine (``nanotrig.engine``)."""
