"""The float nanoPELICAN: Keras 3 layers, training, PELICAN-nano checkpoint import.

Keras is imported on first use of a name below, so that `nanotrig --help` and the commands that
only read canonical JSON stay fast.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NanoPelican", "build_model", "find_nanopelican", "with_dtype"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from nanotrig.model import layers

        return getattr(layers, name)
    raise AttributeError(f"module 'nanotrig.model' has no attribute {name!r}")
