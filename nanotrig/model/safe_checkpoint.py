"""Open a PyTorch checkpoint without running anything it names.

The reference trainer pickles its scheduler object (``src.trainer.scheduler.GradualWarmupScheduler``)
next to the weights, so ``torch.load(weights_only=True)`` stops with "Unsupported global", and
``weights_only=False`` would import that module and call whatever the file says.

Mechanism, chosen as the safest and simplest of what torch 2.13 offers: torch's own
``weights_only`` unpickler, with each name it does not know mapped to an inert placeholder.

1. ``torch.serialization.get_unsafe_globals_in_checkpoint`` disassembles the pickle (no object
   is built) and lists every global outside torch's allowlist (tensor and storage rebuild
   functions, ``OrderedDict``, ``torch.Size``/dtype/device, builtin containers and numbers).
2. Each name gets a fresh subclass of :class:`Placeholder`, allowed for this one load through
   ``torch.serialization.safe_globals([(cls, name)])``. Constructing one, calling it or
   restoring state into it does nothing; no module named in the file is imported. The one
   container torch cannot fill, ``collections.defaultdict`` (an optimizer's ``state``, pickled
   inside a scheduler object), becomes a plain dict; its factory is never called.
3. ``torch.load(weights_only=True)`` then builds the object. That unpickler resolves globals
   only from the allowlist, calls only allowlisted objects, builds state only into allowlisted
   types, handles only protocol-2 opcodes and refuses the modules sys, os, posix and nt before
   anything happens: a file that names e.g. ``os.system`` is refused with an error (nothing has
   run), one that names ``builtins.exec`` or an unknown class loads with a placeholder there.

Not chosen: a custom ``pickle_module`` whose ``find_class`` allowlists. It would run CPython's
full unpickler (every opcode; BUILD can set attributes on an allowed class) with an allowlist we
would have to keep in step with torch's rebuild functions. torch's unpickler restricts both,
and torch maintains it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from nanotrig.errors import NanotrigError


class Placeholder:
    """Stands in for a class or function a checkpoint names; inert whatever is done to it."""

    qualified_name: ClassVar[str] = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Placeholder:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass  # the file's constructor arguments are dropped unseen

    def __setstate__(self, state: Any) -> None:
        pass  # and so is the state it would restore

    def __repr__(self) -> str:
        return f"<placeholder for {self.qualified_name}>"


def _plain_dict(*args: Any) -> dict:
    """collections.defaultdict(factory) restored as a plain dict: the factory is never called."""
    return {}


# Containers torch's unpickler cannot fill (it fills only dict, OrderedDict, Counter) that an
# optimizer pickled inside a scheduler object carries: its per-parameter ``state`` defaultdict.
CONTAINER_STAND_INS = {"collections.defaultdict": _plain_dict}


def placeholder_class(qualified_name: str) -> type[Placeholder]:
    return type(
        f"Placeholder[{qualified_name}]",
        (Placeholder,),
        {"qualified_name": qualified_name, "__module__": __name__},
    )


@dataclass
class LoadedCheckpoint:
    obj: Any
    placeholders: list[str] = field(default_factory=list)  # names in the file replaced, sorted


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise NanotrigError(
            "importing a PyTorch checkpoint needs torch: pip install 'nanotrig[torch]' (torch==2.13.0)"
        ) from None
    return torch


def _reason(exc: Exception) -> str:
    """torch's own reason, without its advice to load with weights_only=False around it."""
    parts = [p.strip() for p in str(exc).split("\n\n") if p.strip()]
    keep = [p for p in parts if not p.startswith(("Weights only load failed", "Check the documentation"))]
    text = (keep or parts or [""])[0].removeprefix("WeightsUnpickler error: ")
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def load_checkpoint(path: str | Path) -> LoadedCheckpoint:
    """The checkpoint's object, with every unknown class or function an inert placeholder.

    ``argparse.Namespace`` (the reference trainer's ``args``) is restored as itself: it only
    holds attributes.
    """
    torch = _torch()
    path = Path(path)
    real = [argparse.Namespace]
    try:
        with torch.serialization.safe_globals(real):
            names = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except ValueError:
        names = []  # not torch's zip format (legacy or junk): plain weights_only decides below
    except Exception as exc:  # a damaged zip, or a pickle torch's unpickler cannot read either
        raise NanotrigError(f"{path}: cannot read as a PyTorch checkpoint ({_reason(exc)})") from None
    stand_ins = [(CONTAINER_STAND_INS.get(name) or placeholder_class(name), name) for name in names]
    allowed = [*real, *stand_ins]
    try:
        with torch.serialization.safe_globals(allowed):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt, foreign or refused files
        raise NanotrigError(
            f"{path}: cannot read as a PyTorch checkpoint ({_reason(exc)}); nothing from the file was run"
        ) from None
    return LoadedCheckpoint(obj, names)
