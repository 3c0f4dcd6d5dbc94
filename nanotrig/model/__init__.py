"""The float nanoPELICAN: Keras 3 layers, training, PELICAN-nano checkpoint import."""

from nanotrig.model.layers import NanoPelican, build_model, find_nanopelican, with_dtype

__all__ = ["NanoPelican", "build_model", "find_nanopelican", "with_dtype"]
