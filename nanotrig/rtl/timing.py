"""Cutting a traced combinational graph into pipeline stages that fit one clock period.

The delay model counts "units" of one adder with its routing, as da4ml does with
``carry_size = -1`` (any width: a 20-40 bit carry chain is a few CARRY8s, routing dominates):

- adder, subtracter, constant add, mux, negation, bit logic, table lookup: 1 unit;
- ReLU, quantization (bit selection, AND with the sign): free;
- a variable x variable product: a DSP48E2. da4ml prices it as a shift-add array (one unit
  per bit of the narrower operand, 16 units for a 16-bit word); here its combinational A/B -> P
  path is ``MULT_UNITS`` adder delays. A product that does not fit the rest of its stage but
  whose A/B -> M path (``MULT_M_UNITS``) does ends exactly at the stage boundary: the stage
  register there is the DSP's internal MREG, and the value reaches the next stage's logic
  ``MULT_P_UNITS`` later (the M -> P path through the DSP's ALU). This is also how products fit
  stages shorter than three adders (360 MHz).

No other operation straddles a stage boundary (as in da4ml): one that would starts at the next
stage. ``units_per_stage`` (da4ml's ``latency_cutoff``) is how many units fit in one clock
period: ``floor((period - REGISTER_OVERHEAD_NS) / ADDER_NS)``, 5 at 200 MHz. These are
modelling assumptions for UltraScale+ (-2) that only a vendor place-and-route can confirm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from da4ml.trace import to_pipeline
from da4ml.types import CombLogic, Op, Pipeline

ADDER_NS = 0.9  # one 20-40 bit adder with its routing, UltraScale+ -2
REGISTER_OVERHEAD_NS = 0.5  # clock-to-out + setup + clock uncertainty
MULT_UNITS = 3.0  # DSP48E2 16x16 combinational multiply, ~2.5 ns
MULT_M_UNITS = 2.0  # A/B -> MREG, ~1.6 ns
MULT_P_UNITS = 1.0  # MREG -> P, ~0.9 ns
BRAM_SETUP_UNITS = 1.0  # address routing and setup before the clock edge
BRAM_CO_UNITS = 2.0  # block RAM clock-to-out without its output register, ~1.7 ns


def units_for_clock(clock_mhz: float) -> int:
    """Adder levels that fit one period: floor((period - overhead) / adder delay), at least 1."""
    period = 1000.0 / clock_mhz
    return max(1, math.floor((period - REGISTER_OVERHEAD_NS) / ADDER_NS + 1e-9))


@dataclass(frozen=True)
class StagePlan:
    pipeline: Pipeline
    units_per_stage: int
    bram_ops: frozenset[int] = frozenset()

    @property
    def stages(self) -> int:
        return len(self.pipeline.solutions)

    @property
    def latency_cycles(self) -> int:
        """Register levels from input port to output port: one per stage plus the input register."""
        return self.stages + 1


def op_delay(op: Op) -> float:
    code = op.opcode
    if code in (-1, 5):  # input, constant
        return 0.0
    if code in (0, 1, 4, 6, -6):  # add, sub, constant add, mux
        return 1.0
    if code in (2, 3):  # ReLU, quantize: wires and an AND
        return 0.0
    if code in (-2, -3, 9, -9, 10):  # negated forms and bit logic need one LUT/adder level
        return 1.0
    if code == 8:  # table lookup
        return 1.0
    if code == 7:
        return MULT_UNITS
    raise ValueError(f"no delay model for da4ml opcode {code}")


def _product(base: float, cut: float) -> tuple[float, float]:
    """(latency, ready) of a DSP product whose operands are ready at ``base``: combinational if
    it fits its stage, else registered in MREG at a stage boundary (see the module docstring)."""
    end = math.floor(base / cut + 1e-9) * cut + cut  # end of the stage the product starts in
    if base + MULT_UNITS <= end + 1e-9:
        return base + MULT_UNITS, base + MULT_UNITS
    if base + MULT_M_UNITS <= end + 1e-9:
        return end, end + MULT_P_UNITS
    if cut < MULT_M_UNITS:
        raise ValueError(f"a DSP product (A -> M: {MULT_M_UNITS} units) does not fit a {cut}-unit stage")
    if MULT_UNITS <= cut:
        return end + MULT_UNITS, end + MULT_UNITS
    return end + cut, end + cut + MULT_P_UNITS


def _bram_read(base: float, cut: float) -> tuple[float, float]:
    """(latency, ready) of a block-RAM read whose address is ready at ``base``: it ends at the
    next stage boundary that leaves time for the address setup; the value follows clock-to-out."""
    end = math.floor(base / cut + 1e-9) * cut + cut
    if base > end - BRAM_SETUP_UNITS + 1e-9:
        end += cut
    return end, end + BRAM_CO_UNITS


def op_parents(op: Op) -> list[int]:
    """Indices of the ops whose values ``op`` reads (a mux also reads its condition)."""
    if op.opcode == -1:
        return []
    out = [p for p in (op.id0, op.id1) if p >= 0]
    if abs(op.opcode) == 6:
        out.append(op.data & 0xFFFFFFFF)
    return out


def op_users(ops: Sequence[Op]) -> list[list[int]]:
    """For every op, the indices of the ops that read its value."""
    users: list[list[int]] = [[] for _ in ops]
    for i, op in enumerate(ops):
        for p in op_parents(op):
            users[p].append(i)
    return users


def _stage_of(latency: float, cut: float) -> int:
    return math.ceil(latency / cut - 1e-9)


def _last_stage(ops: Sequence[Op], cut: float) -> int:
    return max((_stage_of(o.latency, cut) for o in ops), default=0)


def _asap(comb: CombLogic, cut: float, bram_ops: frozenset[int], release: dict[int, float]) -> list[Op]:
    """Every op as early as its operands allow (not before ``release[i]``), never straddling a
    stage boundary except a DSP product (see ``retime``)."""
    ready: list[float] = []
    new_ops: list[Op] = []
    for i, op in enumerate(comb.ops):
        base = max((ready[p] for p in op_parents(op)), default=0.0)
        base = max(base, release.get(i, 0.0))
        if op.opcode == 7 or i in bram_ops:
            lat, done = _product(base, cut) if op.opcode == 7 else _bram_read(base, cut)
            ready.append(done)
            new_ops.append(op._replace(latency=lat))
            continue
        dt = op_delay(op)
        if dt > cut:
            raise ValueError(f"a {dt}-unit operation does not fit a {cut}-unit stage: raise the cutoff")
        lat = base + dt
        if dt > 0 and _stage_of(lat, cut) > _stage_of(base, cut):
            lat = _stage_of(base, cut) * cut + dt
        ready.append(lat)
        new_ops.append(op._replace(latency=lat))
    return new_ops


SINKABLE = (0, 1)  # add, sub


def _sink_releases(ops: list[Op], cut: float) -> dict[int, float]:
    """Adds to move into the stage of their users: an add that ends in an earlier stage than all
    of its users has its sum registered, once per add, while operands shared with other ops (each
    used at least twice) are carried by registers anyway. In the stage of its users it needs no
    register, and it joins the stage's multi-operand sum that takes it (one ternary adder,
    ``nanotrig.rtl.adder_trees``): z's u_i + v_j (924 sums of 44 shared values) registered
    before s d + (u + v) cost Yosys 3.4 k LUT and 4.3 k FF more than one ternary add (docs/rtl.md)."""
    users = op_users(ops)
    release: dict[int, float] = {}
    for i, op in enumerate(ops):
        if op.opcode not in SINKABLE or not users[i]:
            continue
        target = min(_stage_of(ops[u].latency, cut) for u in users[i])
        if target <= _stage_of(op.latency, cut):
            continue
        if all(len(users[p]) >= 2 for p in op_parents(op)):
            release[i] = (target - 1) * cut
    return release


def retime(comb: CombLogic, units_per_stage: int, bram_ops: frozenset[int] = frozenset()) -> CombLogic:
    """The same graph with every op's ``latency`` recomputed by this module's delay model.

    An op other than a DSP product never straddles a stage boundary (as in da4ml): if it would,
    it starts at the boundary. ``latency`` places an op in a stage; ``ready`` is when its value
    reaches its users (later than ``latency`` for a product registered in its MREG and for the
    block-RAM reads ``bram_ops``, which end at a stage boundary). Ops go as early as they can,
    then the adds whose sums would only be registered for later stages move into the stage of
    their users (``_sink_releases``), unless that makes the pipeline longer.
    """
    cut = float(units_per_stage)
    early = _asap(comb, cut, bram_ops, {})
    release = _sink_releases(early, cut)
    ops = early
    if release:
        sunk = _asap(comb, cut, bram_ops, release)
        if _last_stage(sunk, cut) <= _last_stage(early, cut):
            ops = sunk
    return comb._replace(ops=_late_constants(ops, cut))


def _late_constants(ops: list[Op], cut: float) -> list[Op]:
    """Move constants into the stage of their first user: da4ml places a constant at time 0 and
    registers it through every stage up to its user. (Computing the pair-valid ANDs late as well
    saves their registers but merges the AND into the adder-tree LUTs: 8-input functions, +13k
    LUT for c2; registers are the cheaper resource, so those bits stay early.)"""
    users = op_users(ops)
    ops = list(ops)
    for i in range(len(ops) - 1, -1, -1):
        op = ops[i]
        const = op.opcode == 5
        if not users[i] or not const:
            continue
        if any(ops[u].opcode in (7, 8) for u in users[i]):
            continue
        latest = min(ops[u].latency - op_delay(ops[u]) for u in users[i])
        if latest <= op.latency:
            continue
        # no delay: in the stage of its first user
        ops[i] = op._replace(latency=latest + 1e-6 if latest % cut == 0 else latest)
    return ops


def plan_stages(comb: CombLogic, units_per_stage: int, bram_ops: frozenset[int] = frozenset()) -> StagePlan:
    timed = retime(comb, units_per_stage, bram_ops)
    pipe = to_pipeline(timed, float(units_per_stage), retiming=False, verbose=False)
    return StagePlan(pipeline=pipe, units_per_stage=units_per_stage, bram_ops=bram_ops)
