"""Which DUT ports the testbench drives and watches.

Defaults are the nanotrig RTL's names, which follow the HLS top function
``void nanopelican(input_t jet[4N], result_t score[1])`` with ``ap_vld`` interfaces. To run the
same bench on RTL that Vitis exported, override the names (see tb/README.md), e.g. a packed
input bus ``jet`` (``ARRAY_RESHAPE``) instead of one port per word, ``ap_start`` held high,
or an active-low reset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class PortMap:
    clock: str = "ap_clk"
    reset: str = "ap_rst"
    reset_active_low: bool = False
    in_valid: str = "jet_ap_vld"
    # output that says the jet offered this cycle is taken (the II = R RTL's ``ap_ready``); empty:
    # the DUT takes every valid jet (II = 1). While it is low the driver holds the jet.
    in_ready: str = ""
    # ``{i}`` is replaced by the word index; without ``{i}`` the name is one packed bus,
    # word i in bits [W*(i+1)-1 : W*i]
    in_word: str = "jet_{i}"
    # several input arrays of different widths (the PUPPI top function's input_pt, input_eta,
    # input_phi): [{"word": "input_pt_{i}", "count": N, "width": 14}, ...] in word order;
    # when given it replaces in_word
    in_groups: list[dict[str, Any]] = field(default_factory=list)
    out_word: str = "score_0"
    out_valid: str = "score_0_ap_vld"
    # inputs held at a constant value for the whole run, e.g. {"ap_start": 1}
    tie: dict[str, int] = field(default_factory=dict)

    @property
    def packed(self) -> bool:
        return "{i}" not in self.in_word

    def groups(self, n_words: int, width: int) -> list[tuple[str, int, int]]:
        """(name pattern, words, width) of each input array, covering all ``n_words`` words."""
        if not self.in_groups:
            return [(self.in_word, n_words, width)]
        out = [(str(g["word"]), int(g["count"]), int(g.get("width", width))) for g in self.in_groups]
        if sum(c for _, c, _ in out) != n_words:
            raise ValueError(
                f"port map: in_groups cover {sum(c for _, c, _ in out)} words, the jets have {n_words}"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> PortMap:
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(
                f"port map: unknown key(s) {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**d)
