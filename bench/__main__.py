"""``python -m bench [--quick] [NAME...]``: run the benchmarks, print each figure as it comes and one table
of them all at the end (figure, value, baseline measured in the same run, ratio, target, pass/fail)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
from collections.abc import Sequence

import bench
from bench import Result

QUICK_ENV = "BENCH_QUICK"


def discover(prefixes: Sequence[str] = ()) -> list[str]:
    """Benchmark module names, sorted; only those starting with one of ``prefixes`` when given."""
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))
    if prefixes:
        names = [n for n in names if any(n.startswith(p) for p in prefixes)]
    return names


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    return f"{value:,.1f} {unit}".strip()


def table(rows: Sequence[tuple[str, Result]]) -> list[str]:
    """The summary as a Markdown table (it goes into docs/benchmarks.md as it is)."""
    lines = ["| benchmark | figure | value | baseline | ratio | target | verdict |", "|---|---|---|---|---|---|---|"]
    for module, r in rows:
        verdict = "" if r.passed is None else ("pass" if r.passed else "**FAIL**")
        ratio = "" if r.ratio is None else f"{r.ratio:.3f}"
        lines.append(f"| {module} | {r.name} | {_number(r.value, r.unit)} | "
                     f"{_number(r.baseline, r.baseline_unit or r.unit)} | {ratio} | {r.target} | {verdict} |")
    return lines


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    if "--quick" in args:
        # Each benchmark reads it to shrink its fleet and durations (a smoke run, not figures to record).
        args.remove("--quick")
        os.environ[QUICK_ENV] = "1"
    names = discover(args)
    if not names:
        print(f"no benchmark matches {' '.join(args)}; have: {', '.join(discover())}", file=sys.stderr)
        return 2
    rows: list[tuple[str, Result]] = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        run = getattr(module, "run", None)
        if run is None:
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        for result in run():
            print("  " + result.line(), flush=True)
            rows.append((name, result))
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    print()
    print("\n".join(table(rows)))
    return 1 if any(r.passed is False for _, r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
