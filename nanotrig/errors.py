"""Errors the command line prints as one clear line instead of a traceback."""

from __future__ import annotations


class NanotrigError(Exception):
    """Base class for user-facing errors: bad files, fields, values, model names, widths."""
