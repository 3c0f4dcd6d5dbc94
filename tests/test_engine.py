"""The scale-out engine: cluster choice, keyed results, resume after Ctrl-C, failures, batch systems."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import cloudpickle
import psutil
import pytest

from nanotrig.engine import ClusterSpec, Engine, TasksFailed, TaskStore, fan_out, make_task, task_key
from nanotrig.engine.cluster import BATCH_SYSTEMS, MALLOC_ENV, batch_cluster, dask_config
from nanotrig.errors import NanotrigError

# the workers cannot import this test module: ship its task functions by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def square(x: int, marks: str, sleep: float = 0.0) -> dict:
    """A task that leaves one file per execution, so a test can count executions."""
    time.sleep(sleep)
    Path(marks, f"{x}.{os.getpid()}.{time.monotonic_ns()}").touch()
    if x < 0:
        raise NanotrigError(f"negative input {x}")
    return {"square": x * x, "pid": os.getpid(), "mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_")}


def interrupting(x: int, marks: str, stop_at: int) -> dict:
    if x == stop_at:
        raise KeyboardInterrupt  # what Ctrl-C raises in the one process of an inline run
    return square(x, marks)


def gated(x: int, marks: str, gate: str) -> dict:
    """Tasks 0 and 1 run at once, the others wait until the file ``gate`` exists: a Ctrl-C after
    two results always finds unfinished work, however slow the machine."""
    deadline = time.monotonic() + 300
    while x >= 2 and not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return square(x, marks)


def executions(marks: Path, x: int) -> int:
    return len(list(marks.glob(f"{x}.*")))


def tasks_of(xs, marks: Path, fn=square, **kw):  # noqa: ANN001, ANN201
    return [make_task(fn, f"sq-{x}", {"x": x, "marks": str(marks), **kw}, 1, identity={"x": x}) for x in xs]


def test_cluster_names_and_their_errors(tmp_path: Path) -> None:
    assert ClusterSpec.parse(None).kind == "local"
    assert ClusterSpec.parse("tcp://10.0.0.1:8786").address == "tcp://10.0.0.1:8786"
    assert ClusterSpec.parse("SLURM", workers=4).kind == "slurm"
    with pytest.raises(NanotrigError, match="needs --workers N"):
        ClusterSpec.parse("htcondor")
    with pytest.raises(NanotrigError, match="expected local, inline"):
        ClusterSpec.parse("kubernetes")
    with pytest.raises(NanotrigError, match="--workers must be >= 1"):
        ClusterSpec.parse("local", workers=0)
    with pytest.raises(NanotrigError, match="no such file"):
        ClusterSpec.parse("slurm", 2, tmp_path / "missing.yaml")


def test_cluster_config_is_data_and_never_runs(tmp_path: Path) -> None:
    victim = tmp_path / "ran"
    cfg = tmp_path / "evil.yaml"
    cfg.write_text(f"jobqueue: !!python/object/apply:os.system ['touch {victim}']\n")
    with pytest.raises(NanotrigError, match="not valid YAML"), dask_config(cfg):
        pass
    assert not victim.exists()
    cfg.write_text("- a list\n")
    with pytest.raises(NanotrigError, match="is a mapping"), dask_config(cfg):
        pass


def test_task_keys_follow_inputs(tmp_path: Path) -> None:
    data = tmp_path / "jets.h5"
    data.write_bytes(b"x")
    key = task_key(square, 1, {"x": 1}, [data])
    assert key == task_key(square, 1, {"x": 1}, [data])
    assert key != task_key(square, 2, {"x": 1}, [data])  # a new version of the function
    assert key != task_key(square, 1, {"x": 2}, [data])
    assert key != task_key(interrupting, 1, {"x": 1}, [data])
    os.utime(data, ns=(1, 1))  # the input file replaced
    assert key != task_key(square, 1, {"x": 1}, [data])
    with pytest.raises(NanotrigError, match="no such file"):
        task_key(square, 1, {}, [tmp_path / "gone.h5"])


def test_store_writes_files_before_the_result(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "store")
    (task,) = tasks_of([3], tmp_path)
    assert store.load(task) is None
    saved = store.save(task, {"value": 9, "files": {"bin": b"\x00\x01"}})
    assert store.load(task) == saved and saved["value"] == 9
    assert store.file_path(task, "bin").read_bytes() == b"\x00\x01"
    assert not list(store.root.glob(".*.tmp"))  # temporary files renamed away
    store.file_path(task, "bin").unlink()
    assert store.load(task) is None  # a result whose file is gone is not finished


def test_inline_rerun_after_ctrl_c_redoes_only_unfinished(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    store = TaskStore(tmp_path / "store")
    with Engine(ClusterSpec("inline")) as engine:
        with pytest.raises(KeyboardInterrupt):
            fan_out(engine, tasks_of(range(6), marks, interrupting, stop_at=3), store, progress=False)
        assert [executions(marks, x) for x in range(6)] == [1, 1, 1, 0, 0, 0]
        res = fan_out(engine, tasks_of(range(6), marks, interrupting, stop_at=-1), store, progress=False)
    assert (res.ran, res.skipped) == (3, 3)
    assert [executions(marks, x) for x in range(6)] == [1] * 6
    assert [r["square"] for r in res.results] == [x * x for x in range(6)]


def test_local_cluster_listens_on_localhost_and_resumes_after_ctrl_c(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    store = TaskStore(tmp_path / "store")
    gate = tmp_path / "gate"
    tasks = tasks_of(range(10), marks, gated, gate=str(gate))
    # Python's own Ctrl-C handler, as in a fresh `nanotrig` process (a test run earlier in the same
    # pytest process may have replaced it)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request_restore = previous if previous is not None else signal.SIG_DFL

    def ctrl_c_after_two_results() -> None:
        deadline = time.monotonic() + 60
        while len(list(store.root.glob("*.json"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    with Engine(ClusterSpec("local", workers=2)) as engine:
        assert engine.n_workers == 2
        assert engine.dashboard.startswith("http://127.0.0.1:")
        assert engine.client.scheduler.address.startswith("tcp://127.0.0.1:")
        watcher = threading.Thread(target=ctrl_c_after_two_results)
        watcher.start()
        with pytest.raises(KeyboardInterrupt):
            fan_out(engine, tasks, store, progress=False)
        watcher.join()
    signal.signal(signal.SIGINT, request_restore)
    finished = [t for t in tasks if store.load(t) is not None]
    assert 2 <= len(finished) < len(tasks)
    gate.touch()
    with Engine(ClusterSpec("local", workers=2)) as engine:
        res = fan_out(engine, tasks, store, progress=False)
    assert (res.ran, res.skipped) == (len(tasks) - len(finished), len(finished))
    for t in finished:  # a stored result is never computed again
        assert executions(marks, t.kwargs["x"]) == 1
    assert [r["square"] for r in res.results] == [x * x for x in range(10)]
    # the workers were spawned with glibc's mmap threshold raised (Dask's own trim setting made
    # every large numpy temporary a fresh mmap: chunks ran 1.9x slower than in a plain process)
    ran_here = [r for r, t in zip(res.results, tasks, strict=True) if t not in finished]
    assert {r["mmap_threshold"] for r in ran_here} == {MALLOC_ENV["MALLOC_MMAP_THRESHOLD_"]}


def test_scheduler_address_runs_tasks_on_its_workers_and_reports_failures(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    marks = tmp_path / "marks"
    marks.mkdir()
    store = TaskStore(tmp_path / "store")
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as lc:
        with Client(lc) as own:
            worker_pids = set(own.run(os.getpid).values())
        with Engine(ClusterSpec.parse(lc.scheduler_address)) as engine:
            assert engine.n_workers == 2
            with pytest.raises(TasksFailed, match=r"1 of 4 tasks failed.*sq--2: negative input -2"):
                fan_out(engine, tasks_of([1, 2, -2, 3], marks), store, progress=False, retries=1)
            assert executions(marks, -2) == 2  # tried again once
            res = fan_out(engine, tasks_of([1, 2, 3], marks), store, progress=False)
    assert res.skipped == 3 and {r["pid"] for r in res.results} <= worker_pids
    assert os.getpid() not in {r["pid"] for r in res.results}


def test_unreachable_scheduler_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Engine, "connect_timeout", "2s")
    with pytest.raises(NanotrigError, match="no Dask scheduler reached"):
        with Engine(ClusterSpec.parse("tcp://127.0.0.1:9")):
            pass


@pytest.mark.parametrize(
    ("system", "directive"),
    [("slurm", "#SBATCH -p short"), ("pbs", "#PBS -q short"), ("sge", "#$ -q short"),
     ("lsf", "#BSUB -q short"), ("htcondor", "RequestCpus")],
)  # fmt: skip
def test_batch_systems_submit_the_configured_job(tmp_path: Path, system: str, directive: str) -> None:
    cfg = tmp_path / "jobqueue.yaml"
    extra = "disk: 1GB" if system == "htcondor" else "queue: short"
    cfg.write_text(f"jobqueue:\n  {system}:\n    cores: 2\n    processes: 2\n    memory: 4GB\n    {extra}\n")
    with dask_config(cfg), batch_cluster(system) as cluster:
        script = cluster.job_script()
        assert directive in script
        assert "distributed.cli.dask_worker" in script and "--nthreads 1 " in script
        assert "--nworkers 2" in script and "export TF_NUM_INTRAOP_THREADS=1" in script
        assert "export MALLOC_MMAP_THRESHOLD_=" in script
        listening = {
            c.laddr.port: c.laddr.ip for c in psutil.Process().net_connections() if c.status == "LISTEN"
        }
        dash_port = cluster.scheduler.http_server.port
        assert listening[dash_port] == "127.0.0.1"  # the dashboard is not exposed to the network
    assert set(BATCH_SYSTEMS) == {"slurm", "htcondor", "pbs", "sge", "lsf"}


def test_batch_system_without_cores_says_what_to_set(tmp_path: Path) -> None:
    cfg = tmp_path / "jobqueue.yaml"
    cfg.write_text("jobqueue:\n  slurm:\n    memory: 4GB\n")
    with pytest.raises(NanotrigError, match=r"set jobqueue.slurm.cores and jobqueue.slurm.memory"):
        with dask_config(cfg):
            batch_cluster("slurm")
