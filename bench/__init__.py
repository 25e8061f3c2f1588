"""Benchmarks. Every figure is a ratio against a baseline measured in the same run, never a timed test.

A benchmark module is any ``bench/*.py`` whose name does not start with ``_`` and which defines
``run() -> list[Result]``; ``python -m bench [NAME...]`` runs them all, or those whose module name starts
with one of the NAMEs (``python -m bench watcher`` runs every ``bench/watcher_*.py``). Sizes come from
``setting()``: ``--quick`` shrinks them for a smoke run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def setting(name: str, full: float, quick: float) -> float:
    """A benchmark size: the environment variable ``name`` when set, else ``quick`` under
    ``python -m bench --quick`` (a smoke run whose figures are not recorded) and ``full`` otherwise."""
    if os.environ.get(name):
        return float(os.environ[name])
    return quick if os.environ.get("BENCH_QUICK") == "1" else full


@dataclass(frozen=True)
class Result:
    """One reported figure. ``ratio`` is value / baseline (or the measured value for absolute targets)."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_unit: str = ""
    target: str = ""  # e.g. ">= 0.25" or "<= 100 ms"
    passed: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.baseline:
            return None
        return self.value / self.baseline

    def line(self) -> str:
        text = f"{self.name}: {self.value:,.1f} {self.unit}"
        if self.baseline is not None:
            text += f" vs baseline {self.baseline:,.1f} {self.baseline_unit or self.unit}"
            if self.ratio is not None:
                text += f" = ratio {self.ratio:.3f}"
        if self.target:
            verdict = "" if self.passed is None else (" PASS" if self.passed else " FAIL")
            text += f" (target {self.target}{verdict})"
        if self.note:
            text += f"  [{self.note}]"
        return text
