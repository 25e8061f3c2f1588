"""``python -m bench [NAME...]``: run the benchmarks and print their figures and ratios."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from collections.abc import Sequence

import bench


def discover(prefixes: Sequence[str] = ()) -> list[str]:
    """Benchmark module names, sorted; only those starting with one of ``prefixes`` when given."""
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))
    if prefixes:
        names = [n for n in names if any(n.startswith(p) for p in prefixes)]
    return names


def main(argv: Sequence[str]) -> int:
    names = discover(argv)
    if not names:
        print(f"no benchmark matches {' '.join(argv)}; have: {', '.join(discover())}", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        run = getattr(module, "run", None)
        if run is None:
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        for result in run():
            print("  " + result.line(), flush=True)
            failed += result.passed is False
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
