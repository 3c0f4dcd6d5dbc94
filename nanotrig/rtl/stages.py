"""Which kernel stage every operation of the RTL belongs to, for a resource breakdown by stage.

The trace records the stage of every value a ``cast`` produces (and marks the front-end table
reads); every other operation (products, adder trees, muxes) belongs to the stage of the first
operation that uses it, so that an adder tree counts for the cast it feeds. The stages are then
grouped into what a firmware engineer asks about: inputs, front-end, d, r and T, u/v/y, z,
ReLU / masks / adder trees, output (and, outside the core, the valid handshake).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from da4ml.trace.tracer import gather_variables
from da4ml.types import CombLogic, Pipeline

from nanotrig.rtl.timing import op_users

GROUPS = {
    "input": "inputs",
    "deta": "front-end",
    "dphi": "front-end",
    "eta": "front-end",
    "tables": "front-end",
    "pt_pair": "d",
    "d_product": "d",
    "d": "d",
    "r_term": "r, T",
    "r": "r, T",
    "T": "r, T",
    "pair_bias": "u, v, y",
    "u": "u, v, y",
    "v": "u, v, y",
    "diag_bias": "u, v, y",
    "y": "u, v, y",
    "z": "z",
    "A": "ReLU, masks, adder trees",
    "D": "ReLU, masks, adder trees",
    "result": "output",
}
GROUP_ORDER = (
    "inputs",
    "front-end",
    "d",
    "r, T",
    "u, v, y",
    "z",
    "ReLU, masks, adder trees",
    "output",
    "handshake",
)


def op_stages(
    comb: CombLogic, inputs: Sequence[Any], outputs: Sequence[Any], cast_stage: dict[Any, str]
) -> list[str] | None:
    """Group label of every op of ``comb`` (None if da4ml's op order cannot be matched)."""
    variables, _ = gather_variables(list(inputs), list(outputs))
    if len(variables) != len(comb.ops):
        return None
    users = op_users(comb.ops)
    labels: list[str] = [""] * len(comb.ops)
    for i in range(len(comb.ops) - 1, -1, -1):
        stage = cast_stage.get(variables[i].id)
        if comb.ops[i].opcode == -1:
            labels[i] = "inputs"
        elif stage is not None:
            labels[i] = GROUPS[stage]
        elif users[i]:
            labels[i] = labels[min(users[i])]
        else:
            labels[i] = "output"
    return labels


def pipeline_stages(timed: CombLogic, labels: list[str], pipe: Pipeline, cut: float) -> list[list[str]]:
    """The labels of every op of every pipeline stage: the stages keep the full graph's op order
    and add copies (registers from earlier stages), which carry their source's label."""
    per_stage: dict[int, list[int]] = {}
    for i, op in enumerate(timed.ops):
        per_stage.setdefault(int(op.latency // (cut + 1e-9)), []).append(i)
    out: list[list[str]] = []
    prev_out: list[str] = []
    for s, sol in enumerate(pipe.solutions):
        own = iter(per_stage.get(s, []))
        stage_labels = []
        for op in sol.ops:
            if op.opcode == -1 and s > 0:
                stage_labels.append(prev_out[op.id0])  # a register carrying an earlier stage's value
                continue
            i = next(own)
            if timed.ops[i].opcode != op.opcode:
                raise ValueError(f"stage {s}: op order differs from the traced graph")
            stage_labels.append(labels[i])
        out.append(stage_labels)
        prev_out = [stage_labels[j] if j >= 0 else "output" for j in sol.out_idxs]
    return out
