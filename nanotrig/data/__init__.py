"""Jet files: both layouts of the Top Quark Tagging Reference Dataset, the shipped sample, and the
Pythia 8 + FastJet stand-in generator (``nanotrig.data.generate``, needs the ``gen`` extra)."""

from nanotrig.data.io import count_jets, iter_jets, read_attrs, read_jets, write_jets
from nanotrig.data.jets import JetFileError, Jets, concatenate
from nanotrig.data.sample import sample_path

__all__ = [
    "JetFileError",
    "Jets",
    "concatenate",
    "count_jets",
    "iter_jets",
    "read_attrs",
    "read_jets",
    "sample_path",
    "write_jets",
]
