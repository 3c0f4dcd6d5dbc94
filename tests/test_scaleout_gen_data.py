"""gen-data on a real 2-process LocalCluster: a worker killed mid-run costs only its shard."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nanotrig.data import read_jets
from nanotrig.data.generate.run import generate, plan
from nanotrig.data.generate.settings import GenSettings
from nanotrig.engine import ClusterSpec

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

SIZES = {"train": 0, "valid": 0, "test": 12}
SHARD_JETS = 2  # 6 shards
SEED = 11


def test_killed_worker_loses_nothing_and_changes_nothing(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    settings = GenSettings(smear=False)
    n_shards = len(plan(SIZES, SEED, SHARD_JETS))
    killed: dict[str, object] = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as lc:
        client = Client(lc)
        pids = client.run(os.getpid)

        def kill_a_busy_worker_after_the_first_shard() -> None:
            shards = tmp_path / "killed" / "shards"
            deadline = time.monotonic() + 120
            while not list(shards.glob("*.json")) and time.monotonic() < deadline:
                time.sleep(0.05)
            busy = [w for w, keys in client.processing().items() if keys and w in pids]
            victim = busy[0] if busy else next(iter(pids))
            killed.update(worker=victim, busy=bool(busy), pid=pids[victim])
            os.kill(pids[victim], signal.SIGKILL)

        killer = threading.Thread(target=kill_a_busy_worker_after_the_first_shard)
        killer.start()
        res = generate(
            tmp_path / "killed", SIZES, settings, seed=SEED, shard_jets=SHARD_JETS, progress=False,
            cluster=ClusterSpec.parse(lc.scheduler_address),
        )  # fmt: skip
        killer.join()
        after = client.run(os.getpid)
        client.close()
    assert killed["busy"], "the killed worker was running a shard"
    assert killed["pid"] not in after.values() and len(after) == 2  # the nanny started a new one
    assert res["shards_skipped"] == 0 and res["jets_generated"] == 12

    shard_dir = tmp_path / "killed" / "shards"
    assert len(list(shard_dir.glob("*.h5"))) == n_shards and len(list(shard_dir.glob("*.json"))) == n_shards
    names = sorted(p.name.split(".")[0] for p in shard_dir.glob("*.h5"))
    assert names == sorted({f"test-{p}-{k:04d}" for p in ("top", "qcd") for k in range(3)})

    # a run without the kill, in one process: the same jets in the same order
    ref = generate(
        tmp_path / "ref", SIZES, settings, seed=SEED, shard_jets=SHARD_JETS, progress=False,
        cluster=ClusterSpec("inline"),
    )  # fmt: skip
    a, b = read_jets(res["files"][0]), read_jets(ref["files"][0])
    assert len(a) == 12 and int(a.is_signal.sum()) == 6
    np.testing.assert_array_equal(a.pmu, b.pmu)
    np.testing.assert_array_equal(a.is_signal, b.is_signal)
    np.testing.assert_array_equal(a.truth_pmu, b.truth_pmu)
