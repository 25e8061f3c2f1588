"""WAL checkpoints for SQLite, off the commit path.

By default the connection whose commit pushes the WAL past 1,000 pages copies the WAL back into the
database right inside that commit, and the commit waits for it (tens to hundreds of milliseconds at a few
MB/s of changes). The writer turns that off for its connection and this thread checkpoints instead,
from its own connection: SQLite's checkpoint runs beside the writer and readers (PASSIVE), and the
driver releases the GIL for its whole duration.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)


class Checkpointer:
    def __init__(self, database: str, interval: float = 1.0) -> None:
        self._database = database
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        conn = sqlite3.connect(self._database, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            while not self._stop.wait(self._interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # e.g. busy: the next round will do it
                    log.debug("checkpoint skipped: %s", exc)
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()
