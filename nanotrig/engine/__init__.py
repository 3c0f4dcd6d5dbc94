"""The one engine every fan-out runs on: Dask clusters, keyed task results, one progress bar.

``nanotrig.engine.cluster`` starts or joins the cluster, ``nanotrig.engine.store`` keys and stores
task results atomically, ``nanotrig.engine.fanout`` runs the unfinished tasks and collects them.
"""

from nanotrig.engine.cluster import ClusterSpec, Engine, add_cluster_arguments, cluster_spec
from nanotrig.engine.fanout import FanOutResult, TasksFailed, fan_out
from nanotrig.engine.store import Task, TaskStore, file_identity, make_task, task_key

__all__ = [
    "ClusterSpec",
    "Engine",
    "FanOutResult",
    "Task",
    "TaskStore",
    "TasksFailed",
    "add_cluster_arguments",
    "cluster_spec",
    "fan_out",
    "file_identity",
    "make_task",
    "task_key",
]
