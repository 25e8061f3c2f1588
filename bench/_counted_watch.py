"""``omni-readmodel`` with the writer's batches counted (for ``bench/writer_waits.py``): run as
``python -m bench._counted_watch OUT watch ...``. Per live batch (fewer than ``LIVE_ITEMS`` items): its wall
time, the writer thread's CPU time, and each wait of psycopg's ``Connection.wait`` (a statement sent or
answers awaited) by the repository frames that caused it. Written to OUT as JSON every second."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import psycopg

from bench._watcher import REPO
from watcher import writer

LIVE_ITEMS = 100
ROOT = f"{REPO}/"

totals: Counter = Counter()  # batches, items, wall, cpu, waits, wait_seconds
sites: dict[str, list] = defaultdict(lambda: [0, 0.0])  # "file:line < file:line" -> [waits, seconds]
_counting = threading.local()


def _caller() -> str:
    frame, names = sys._getframe(2), []
    while frame is not None and len(names) < 2:
        path = frame.f_code.co_filename
        if path.startswith(ROOT) and "/.venv/" not in path and path != __file__:
            names.append(f"{path[len(ROOT):]}:{frame.f_lineno}")
        frame = frame.f_back
    return " < ".join(names)


def _counted(wait):
    def counted_wait(self, gen, *args, **kwargs):
        if not getattr(_counting, "on", False):
            return wait(self, gen, *args, **kwargs)
        started = time.perf_counter()
        try:
            return wait(self, gen, *args, **kwargs)
        finally:
            seconds = time.perf_counter() - started
            totals["waits"] += 1
            totals["wait_seconds"] += seconds
            site = sites[_caller()]
            site[0] += 1
            site[1] += seconds
    return counted_wait


def _measured(apply):
    def measured_apply(self, items):
        items = list(items)
        live = len(items) < LIVE_ITEMS  # a bootstrap's (or a backlog's) batches are not counted
        _counting.on = live
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return apply(self, items)
        finally:
            _counting.on = False
            if live:
                totals.update({"batches": 1, "items": len(items), "wall": time.perf_counter() - started,
                               "cpu": time.thread_time() - cpu})
    return measured_apply


def _dump(out: Path) -> None:
    while True:
        time.sleep(1)
        # copied first: the writer thread adds sites meanwhile (list() of the items is one step under the GIL)
        out.write_text(json.dumps({"totals": dict(totals), "sites": {k: list(v) for k, v in list(sites.items())}}))


def main() -> int:
    out = Path(sys.argv[1])
    psycopg.Connection.wait = _counted(psycopg.Connection.wait)
    writer.Writer.apply = _measured(writer.Writer.apply)
    threading.Thread(target=_dump, args=(out,), daemon=True).start()
    from omni_readmodel.cli import main as cli

    return cli(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
