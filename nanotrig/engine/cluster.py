"""Where tasks run: an embedded LocalCluster, a running scheduler, a batch system, or this process.

``--cluster`` takes

* ``local`` (default): a ``LocalCluster`` of worker processes on this machine, one thread each,
  as many as the cores this process may use (``--workers`` changes it); scheduler, workers and
  dashboard listen on 127.0.0.1 only;
* ``tcp://HOST:PORT`` (or ``tls://``): joins a running scheduler (``dask scheduler`` elsewhere);
* ``slurm``, ``htcondor``, ``pbs``, ``sge``, ``lsf``: a dask-jobqueue cluster that submits
  ``--workers`` worker processes as batch jobs, configured by Dask's standard configuration
  (``~/.config/dask/jobqueue.yaml``, section ``jobqueue.<system>``) and ``--cluster-config FILE``
  (YAML merged over it; data only, never executed);
* ``inline``: every task in this process, one after the other (no Dask; for debugging and as the
  single-process baseline of the benchmarks).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nanotrig.errors import NanotrigError

# dask-jobqueue's class for each batch system name
BATCH_SYSTEMS = {
    "slurm": "SLURMCluster",
    "htcondor": "HTCondorCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
}
DASHBOARD_PORT = 8787
# Each worker runs one task at a time on one core: libraries that start thread pools of their own
# (TensorFlow, BLAS) must not oversubscribe the machine. Dask itself sets OMP/MKL/OpenBLAS to 1.
WORKER_ENV = {
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "OMP_NUM_THREADS": "1",
}
# Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also switches off glibc's
# adaptive mmap threshold: every large temporary (the emulator's 32 MiB blocks) is then mmapped
# and page-faulted afresh, and a verification chunk took 1.9x as long in a worker as in a plain
# process. Large blocks come from the heap again below this size (glibc reads it at process
# start, so it must be in the environment before the worker is spawned).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(256 << 20)}


@dataclass(frozen=True)
class ClusterSpec:
    """What ``--cluster``, ``--workers`` and ``--cluster-config`` asked for."""

    kind: str = "local"  # local | inline | address | one of BATCH_SYSTEMS
    address: str | None = None
    workers: int | None = None
    config_file: Path | None = None

    @classmethod
    def parse(
        cls, text: str | None = None, workers: int | None = None, config_file: str | Path | None = None
    ) -> ClusterSpec:
        text = (text or "local").strip()
        if workers is not None and workers < 1:
            raise NanotrigError(f"--workers must be >= 1, got {workers}")
        cfg = Path(config_file) if config_file else None
        if cfg is not None and not cfg.is_file():
            raise NanotrigError(f"--cluster-config {cfg}: no such file")
        if "://" in text:
            if not text.startswith(("tcp://", "tls://", "inproc://")):
                raise NanotrigError(f"--cluster {text!r}: a scheduler address is tcp://HOST:PORT")
            return cls("address", text, workers, cfg)
        low = text.lower()
        if low in ("local", "inline") or low in BATCH_SYSTEMS:
            if low in BATCH_SYSTEMS and workers is None:
                raise NanotrigError(
                    f"--cluster {low} needs --workers N: how many worker processes to submit as jobs"
                )
            return cls(low, None, workers, cfg)
        raise NanotrigError(
            f"--cluster {text!r}: expected local, inline, tcp://HOST:PORT or one of "
            f"{', '.join(BATCH_SYSTEMS)}"
        )


def add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where the tasks run (Dask)")
    g.add_argument(
        "--cluster",
        default="local",
        help="local (default: worker processes on this machine), tcp://HOST:8786 (a running scheduler), "
        f"{'|'.join(BATCH_SYSTEMS)} (dask-jobqueue workers), or inline (this process, no Dask)",
    )
    g.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: this machine's cores)"
    )
    g.add_argument(
        "--cluster-config",
        default=None,
        help="YAML merged into Dask's configuration, e.g. the jobqueue.slurm section (data only)",
    )


def cluster_spec(args: argparse.Namespace) -> ClusterSpec:
    return ClusterSpec.parse(args.cluster, args.workers, args.cluster_config)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def read_config_file(path: Path) -> dict[str, Any]:
    """A Dask configuration fragment: YAML data (safe_load: no tags, nothing runs)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise NanotrigError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise NanotrigError(f"{path}: a Dask configuration is a mapping, got {type(data).__name__}")
    return data


@contextlib.contextmanager
def dask_config(path: Path | None) -> Iterator[None]:
    """Dask's configuration with the file merged over it, for the duration of the block."""
    import dask.config

    if path is None:
        yield
        return
    data = read_config_file(path)
    # import so that dask-jobqueue's defaults are in the configuration before merging over them
    with contextlib.suppress(ImportError):
        import dask_jobqueue  # noqa: F401
    merged = dask.config.merge(dask.config.config, data)
    with dask.config.set({k: merged[k] for k in data}):
        yield


def _free_port(host: str, port: int) -> int:
    """``port`` when nothing listens there, else 0 (any free one): a colleague's dashboard may
    already hold 8787."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return 0
    return port


def local_cluster(workers: int | None) -> Any:
    import dask.config
    from distributed import LocalCluster

    n = workers or usable_cores()
    port = _free_port("127.0.0.1", DASHBOARD_PORT)
    pre_spawn = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in MALLOC_ENV.items()}
    with dask.config.set(pre_spawn):
        return LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=f"127.0.0.1:{port}",
            env=dict(WORKER_ENV),
        )


def batch_cluster(kind: str) -> Any:
    """The dask-jobqueue cluster for ``kind`` from the current Dask configuration (no job
    submitted yet: ``scale`` does that). Its dashboard listens on 127.0.0.1 unless the
    configuration's ``scheduler-options`` says otherwise."""
    import dask.config

    try:
        import dask_jobqueue
    except ImportError as exc:
        raise NanotrigError(f"--cluster {kind} needs dask-jobqueue ({exc})") from None
    section = f"jobqueue.{kind}"
    cores, memory = dask.config.get(f"{section}.cores", None), dask.config.get(f"{section}.memory", None)
    if cores is None or memory is None:
        raise NanotrigError(
            f"--cluster {kind}: set {section}.cores and {section}.memory (per job) in "
            "~/.config/dask/jobqueue.yaml or in a --cluster-config FILE"
        )
    options = dict(dask.config.get(f"{section}.scheduler-options", None) or {})
    # the scheduler must listen where the batch nodes reach it; its dashboard need not
    options.setdefault("dashboard_address", f"127.0.0.1:{_free_port('127.0.0.1', DASHBOARD_PORT)}")
    prologue = list(dask.config.get(f"{section}.job-script-prologue", None) or [])
    # exported before the nanny starts, so its worker processes inherit them
    prologue += [f"export {k}={v}" for k, v in (WORKER_ENV | MALLOC_ENV).items()]
    try:
        return getattr(dask_jobqueue, BATCH_SYSTEMS[kind])(
            scheduler_options=options, job_script_prologue=prologue
        )
    except (ValueError, TypeError) as exc:
        raise NanotrigError(f"--cluster {kind}: dask-jobqueue rejected the configuration ({exc})") from None


def _bound_dashboard(cluster: Any) -> str | None:
    """The address the dashboard of an in-process scheduler really listens on (Dask's link names
    the scheduler's host, which for a batch cluster is the network interface)."""
    server = getattr(getattr(cluster, "scheduler", None), "http_server", None)
    for sock in getattr(server, "_sockets", {}).values():
        host, port = sock.getsockname()[:2]
        return f"http://{host}:{port}/status"
    return None


class Engine:
    """The cluster and its client for the duration of a ``with`` block.

    ``client`` is None for ``inline``. ``describe`` says where tasks run (printed on entry,
    with the dashboard address).
    """

    connect_timeout = "20s"  # to reach a scheduler given by address

    def __init__(self, spec: ClusterSpec | None = None, log: Callable[[str], None] | None = None) -> None:
        self.spec = spec or ClusterSpec()
        self.log = log or (lambda s: None)
        self.client: Any = None
        self.cluster: Any = None
        self.describe = "this process (inline)"
        self.dashboard: str | None = None
        self._stack = contextlib.ExitStack()

    @property
    def n_workers(self) -> int:
        if self.client is None:
            return 1
        return len(self.client.scheduler_info().get("workers", {}))

    def __enter__(self) -> Engine:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        self.log(f"dask: {self.describe}" + (f"; dashboard {self.dashboard}" if self.dashboard else ""))
        return self

    def _start(self) -> None:
        s = self.spec
        if s.kind == "inline":
            return
        from distributed import Client

        self._stack.enter_context(dask_config(s.config_file))
        if s.kind == "local":
            self.cluster = self._stack.enter_context(local_cluster(s.workers))
            self.client = self._stack.enter_context(Client(self.cluster))
            self.describe = f"local cluster of {len(self.cluster.workers)} worker processes (1 thread each)"
        elif s.kind == "address":
            try:
                self.client = self._stack.enter_context(Client(s.address, timeout=self.connect_timeout))
            except (OSError, TimeoutError) as exc:
                raise NanotrigError(f"--cluster {s.address}: no Dask scheduler reached ({exc})") from None
            self.describe = f"scheduler {s.address} ({self.n_workers} workers now)"
        else:
            self.cluster = self._stack.enter_context(batch_cluster(s.kind))
            self.cluster.scale(n=s.workers)
            self.client = self._stack.enter_context(Client(self.cluster))
            self.describe = (
                f"{s.kind} via dask-jobqueue: {s.workers} worker processes requested as batch jobs "
                f"(job script: {type(self.cluster).__name__}.job_script())"
            )
        self.dashboard = self.client.dashboard_link
        if self.cluster is not None and s.kind != "local":
            self.dashboard = _bound_dashboard(self.cluster) or self.dashboard

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
