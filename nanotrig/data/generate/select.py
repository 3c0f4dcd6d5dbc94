"""One batch of Pythia events -> the jets that pass the stand-in's selection.

Visible final-state particles (optionally through the detector of ``smear``) are clustered with
anti-kT; an event gives a jet iff its leading jet has pT in the window and |eta| below the cut.
For top events the jet must also contain the top and its three decay quarks (b and the W's two
quarks, taken where the top and the W decay), and ``truth_Pmu`` is that top's four-momentum.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import awkward as ak
import fastjet
import numpy as np

from nanotrig.data.generate.settings import NEUTRINOS, GenSettings
from nanotrig.data.generate.smear import smear_particles
from nanotrig.data.kinematics import delta_r
from nanotrig.data.kinematics import eta as eta_of
from nanotrig.data.kinematics import phi as phi_of

TOP, W = 6, 24


def _flat(array: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(array))


def decay_partons(pid: np.ndarray, d1: np.ndarray, d2: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(top, b, quark, quark) record indices for every top in one event whose W decays to quarks.

    The top and the W are followed to their last copies (recoil copies have one daughter of the same
    kind); a decaying top has daughters W and b, a decaying W two quarks.
    """

    def daughters(i: int) -> range:
        return range(d1[i], max(d1[i], d2[i]) + 1) if d1[i] > 0 else range(0)

    def last_copy(i: int) -> int:
        seen = 0
        while seen < 100:  # guard: a malformed record must not loop forever
            kids = [k for k in daughters(i) if pid[k] == pid[i]]
            if not kids:
                return i
            i, seen = kids[0], seen + 1
        return i

    found = []
    for top in np.flatnonzero(np.abs(pid) == TOP):
        kids = list(daughters(top))
        if any(pid[k] == pid[top] for k in kids):
            continue  # not the last copy
        w = [k for k in kids if abs(pid[k]) == W]
        b = [k for k in kids if 1 <= abs(pid[k]) <= 5]
        if len(w) != 1 or len(b) != 1:
            continue
        quarks = [k for k in daughters(last_copy(w[0])) if 1 <= abs(pid[k]) <= 5]
        if len(quarks) == 2:
            found.append((int(top), b[0], quarks[0], quarks[1]))
    return found


def select_jets(
    batch: ak.Array,
    process: str,
    settings: GenSettings,
    rng: np.random.Generator,
    charge_of: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Constituents (k, max_constituents, 4) float32 (pT-sorted, zero-padded) and truth (k, 4) of the
    selected jets of one batch, in event order."""
    prt = batch.prt
    n_events = len(prt)
    rec_counts = ak.to_numpy(ak.num(prt))
    rec_off = np.concatenate([[0], np.cumsum(rec_counts)])
    rec_event = np.repeat(np.arange(n_events), rec_counts)
    pid, status = _flat(prt.id), _flat(prt.status)
    rec_p = np.stack([_flat(prt.p.e), _flat(prt.p.px), _flat(prt.p.py), _flat(prt.p.pz)], axis=1)
    visible = (status > 0) & ~np.isin(np.abs(pid), NEUTRINOS)
    p4, event = rec_p[visible], rec_event[visible]
    if settings.smear:
        p4, event = smear_particles(p4, pid[visible], event, charge_of, rng)
    counts = np.bincount(event, minlength=n_events)
    particles = ak.unflatten(ak.zip({"px": p4[:, 1], "py": p4[:, 2], "pz": p4[:, 3], "E": p4[:, 0]}), counts)

    min_pt = 0.9 * settings.jet_pt_min  # leading jets below this cannot pass; keeps the output small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sequence = fastjet.ClusterSequence(
            particles, fastjet.JetDefinition(fastjet.antikt_algorithm, settings.radius)
        )
        jets = sequence.inclusive_jets(min_pt=min_pt)
        index = sequence.constituent_index(min_pt=min_pt)
    offsets = np.concatenate([[0], np.cumsum(counts)])

    if process == "top":  # record links for truth matching
        d1, d2 = _flat(prt.daughter1), _flat(prt.daughter2)

    jet_n = ak.to_numpy(ak.num(jets))
    jpx, jpy, jpz, je = (_flat(jets[c]) for c in ("px", "py", "pz", "E"))
    jet_off = np.concatenate([[0], np.cumsum(jet_n)])
    out_pmu, out_truth = [], []
    for ev in np.flatnonzero(jet_n):
        lo, hi = jet_off[ev], jet_off[ev + 1]
        lead = lo + int(np.argmax(np.hypot(jpx[lo:hi], jpy[lo:hi])))
        jp4 = np.array([je[lead], jpx[lead], jpy[lead], jpz[lead]])
        pt = np.hypot(jp4[1], jp4[2])
        j_eta, j_phi = eta_of(jp4), phi_of(jp4)
        if not (settings.jet_pt_min <= pt <= settings.jet_pt_max and abs(j_eta) < settings.jet_eta_max):
            continue
        truth = np.zeros(4)
        if process == "top":
            a, b = rec_off[ev], rec_off[ev + 1]
            p = rec_p[a:b]
            matched = False
            for quad in decay_partons(pid[a:b], d1[a:b], d2[a:b]):
                q = p[list(quad)]
                if np.all(delta_r(eta_of(q), phi_of(q), j_eta, j_phi) < settings.match_dr):
                    truth, matched = q[0], True
                    break
            if not matched:
                continue
        members = offsets[ev] + ak.to_numpy(index[ev][lead - lo])
        const = p4[members]
        const = const[np.argsort(-np.hypot(const[:, 1], const[:, 2]), kind="stable")][
            : settings.max_constituents
        ]
        padded = np.zeros((settings.max_constituents, 4), dtype=np.float32)
        padded[: len(const)] = const
        out_pmu.append(padded)
        out_truth.append(truth)
    if not out_pmu:
        return np.zeros((0, settings.max_constituents, 4), np.float32), np.zeros((0, 4), np.float32)
    return np.stack(out_pmu), np.asarray(out_truth, dtype=np.float32)
