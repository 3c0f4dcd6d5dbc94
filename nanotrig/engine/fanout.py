"""Fan tasks out over the engine: skip the finished ones, store each result as it arrives.

One progress bar counts every task (by its weight), finished ones included. A worker that dies
costs only the task it was running: the scheduler gives that task to another worker (Dask's
``distributed.scheduler.allowed-failures`` deaths per task), and a task that raises is tried
``retries`` more times. Tasks that still fail do not stop the others; their names and errors are
reported at the end, when every other result is already stored.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from nanotrig.engine.cluster import Engine
from nanotrig.engine.store import Task, TaskStore
from nanotrig.errors import NanotrigError


class TasksFailed(NanotrigError):
    def __init__(self, failures: dict[str, str], total: int) -> None:
        self.failures = failures
        first = "; ".join(f"{name}: {err}" for name, err in list(failures.items())[:3])
        super().__init__(
            f"{len(failures)} of {total} tasks failed (the finished ones are stored; running the same "
            f"command again retries only the rest): {first}"
        )


@dataclass
class FanOutResult:
    results: list[dict[str, Any]]  # in task order
    ran: int  # tasks executed now
    skipped: int  # tasks whose stored result was reused
    seconds: float  # wall time of the fan-out (not of starting the cluster)
    ran_weight: int  # the weight (jets, ...) of the tasks executed now
    fresh: list[bool]  # per task: executed now (False: reused from the store)


def _run(fn: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    return fn(**kwargs)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, NanotrigError) else str(exc)


def fan_out(
    engine: Engine,
    tasks: list[Task],
    store: TaskStore,
    desc: str = "tasks",
    unit: str = "task",
    progress: bool = True,
    retries: int = 1,
) -> FanOutResult:
    """Run every task whose result is not in ``store``; returns all results in task order."""
    names = [t.name for t in tasks]
    if len(set(names)) != len(names) or len({t.key for t in tasks}) != len(tasks):
        raise NanotrigError(f"{desc}: two tasks share a name or key")
    results: dict[str, dict[str, Any]] = {}
    for t in tasks:
        stored = store.load(t)
        if stored is not None:
            results[t.key] = stored
    todo = [t for t in tasks if t.key not in results]
    failures: dict[str, str] = {}
    t0 = time.perf_counter()
    with tqdm(
        total=sum(t.weight for t in tasks),
        initial=sum(t.weight for t in tasks if t.key in results),
        desc=desc,
        unit=unit,
        disable=not progress,
    ) as bar:
        if todo and engine.client is None:
            for t in todo:
                try:
                    results[t.key] = store.save(t, _run(t.fn, t.kwargs))
                except Exception as exc:  # noqa: BLE001  (reported with the others at the end)
                    failures[t.name] = _describe(exc)
                bar.update(t.weight)
        elif todo:
            _on_cluster(engine, todo, store, results, failures, bar, retries)
    seconds = time.perf_counter() - t0
    if failures:
        raise TasksFailed(failures, len(tasks))
    todo_keys = {t.key for t in todo}
    return FanOutResult(
        results=[results[t.key] for t in tasks],
        fresh=[t.key in todo_keys for t in tasks],
        ran=len(todo),
        skipped=len(tasks) - len(todo),
        seconds=seconds,
        ran_weight=sum(t.weight for t in todo),
    )


def _on_cluster(
    engine: Engine,
    todo: list[Task],
    store: TaskStore,
    results: dict[str, dict[str, Any]],
    failures: dict[str, str],
    bar: tqdm,
    retries: int,
) -> None:
    from distributed import as_completed

    client = engine.client
    by_key = {}
    futures = []
    for t in todo:
        # the dask key names the task, so the dashboard shows which one runs where
        fut = client.submit(_run, t.fn, t.kwargs, key=f"{t.name}-{t.key}", pure=False, retries=retries)
        by_key[fut.key] = t
        futures.append(fut)
    pending = as_completed(futures)
    try:
        for fut in _completed(pending):
            t = by_key[fut.key]
            if fut.status == "finished":
                results[t.key] = store.save(t, fut.result())
            elif fut.status not in ("error", "cancelled"):
                # "lost": it finished on a worker that died before its result was fetched; the
                # scheduler computes it again, so wait for it once more (not a failure)
                pending.add(fut)
                continue
            else:
                try:
                    exc = fut.exception()
                except BaseException as err:  # noqa: BLE001  (cancelled: the exception is the reason)
                    exc = err
                failures[t.name] = _describe(exc)
            fut.release()  # results (shard files, ...) need not stay in worker memory
            bar.update(t.weight)
    except BaseException:
        # Ctrl-C or a lost scheduler: what finished is stored; stop the rest
        with contextlib.suppress(Exception):
            client.cancel(futures)
        raise


def _completed(ac: Any) -> Any:
    """Futures as they finish. The wait is a short interruptible sleep, not a block inside Dask:
    Ctrl-C stops a fan-out at once, not when the next (maybe hour-long) task ends."""
    while not ac.is_empty():
        batch = ac.next_batch(block=False)
        if not batch:
            time.sleep(0.1)
        yield from batch
