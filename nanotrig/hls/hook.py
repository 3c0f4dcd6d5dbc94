"""Registers the hls4ml extension as soon as hls4ml is imported, without importing it ourselves.

``import nanotrig`` calls ``install()``: if hls4ml is already loaded the extension is registered
at once, otherwise a meta-path finder waits for ``import hls4ml`` and registers right after it.
This keeps ``import nanotrig`` (and ``nanotrig --help``) from paying for hls4ml's import.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any


def _register() -> None:
    partial = sys.modules.get("nanotrig.hls.extension")
    if partial is not None and not hasattr(partial, "register"):
        return  # the extension itself is importing hls4ml; it registers at the end of its import
    from nanotrig.hls.extension import register

    register()


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        _register()


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Any, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "hls4ml":
            return None
        sys.meta_path.remove(self)  # one shot; also avoids finding ourselves below
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def install() -> None:
    if "hls4ml" in sys.modules:
        _register()
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
