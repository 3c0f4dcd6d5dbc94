"""Tasks and the store of their results: written atomically under a key of their inputs.

A task's key is a hash of what determines its result: the function's qualified name, a version
the function's module bumps when its results change, the parameters, and the identity (path,
size, modification time) of the input files it reads. Its result is a JSON document
``ROOT/<name>.<key>.json``; files it makes (bytes returned under ``"files"``) are written first,
next to it, as ``ROOT/<name>.<key>.<suffix>``, and the JSON last, each by a temporary file and
``os.replace``. The JSON is the commit mark: a task whose JSON exists is finished, so a re-run
after Ctrl-C, a lost cluster or a dead worker redoes exactly the tasks without one. Results are
data (JSON, files the caller reads as data), never pickles: a store handed to someone runs nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nanotrig.errors import NanotrigError

_SAFE = re.compile(r"[^A-Za-z0-9_.+-]")


def _plain(obj: Any) -> Any:
    """JSON for the values parameters and results hold (paths, numpy scalars, dataclasses)."""
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    raise TypeError(f"not JSON data: {type(obj).__name__}")


def to_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=_plain)


def file_identity(path: str | Path) -> dict[str, Any]:
    """What changes when a file is replaced: resolved path, size and modification time (reading
    a GB-sized file to hash its content would cost more than many tasks)."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise NanotrigError(f"{p}: no such file") from None
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def task_key(fn: Callable[..., Any], version: int, params: Any, files: Iterable[str | Path] = ()) -> str:
    blob = to_json(
        {
            "fn": f"{fn.__module__}.{fn.__qualname__}",
            "version": version,
            "params": params,
            "files": [file_identity(f) for f in files],
        }
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Task:
    """``fn(**kwargs)`` returns a JSON-able dict (files it makes as bytes under ``"files"``)."""

    name: str  # readable and unique within one fan-out, e.g. "test-top-0003"
    fn: Callable[..., dict[str, Any]]
    kwargs: dict[str, Any]
    key: str
    weight: int = 1  # what the progress bar counts for it (jets, epochs, ...)


def make_task(
    fn: Callable[..., dict[str, Any]],
    name: str,
    kwargs: dict[str, Any],
    version: int,
    identity: Any = None,
    files: Iterable[str | Path] = (),
    weight: int = 1,
) -> Task:
    """A task keyed by ``identity`` (default: the kwargs) and the input ``files``."""
    key = task_key(fn, version, kwargs if identity is None else identity, files)
    return Task(_SAFE.sub("_", name), fn, kwargs, key, weight)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` so that a reader sees the old file or the whole new one."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


@dataclass
class TaskStore:
    root: Path
    _made: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    def result_path(self, task: Task) -> Path:
        return self.root / f"{task.name}.{task.key}.json"

    def file_path(self, task: Task, suffix: str) -> Path:
        return self.root / f"{task.name}.{task.key}.{suffix}"

    def load(self, task: Task) -> dict[str, Any] | None:
        """The stored result, or None when the task has not finished (or its files are gone)."""
        path = self.result_path(task)
        try:
            result = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except json.JSONDecodeError:
            return None  # cannot happen with atomic writes unless edited by hand: redo the task
        if not all((self.root / f).exists() for f in result.get("files", {}).values()):
            return None
        return result

    def save(self, task: Task, output: dict[str, Any]) -> dict[str, Any]:
        """Writes the task's files, then its JSON; returns the result as ``load`` will."""
        if not isinstance(output, dict):
            raise NanotrigError(f"task {task.name} returned {type(output).__name__}, not a dict")
        if not self._made:
            self.root.mkdir(parents=True, exist_ok=True)
            self._made = True
        result = dict(output)
        names = {}
        for suffix, data in (result.pop("files", None) or {}).items():
            path = self.file_path(task, suffix)
            _atomic_write(path, bytes(data))
            names[suffix] = path.name
        result["files"] = names
        result["task"] = {"name": task.name, "key": task.key}
        _atomic_write(self.result_path(task), (json.dumps(result, indent=1, default=_plain) + "\n").encode())
        return json.loads(to_json(result))
