"""WAL checkpoints for SQLite, off the commit path.

By default the connection whose commit pushes the WAL past 1,000 pages copies the WAL back into the
database right inside that commit, and the commit waits for it (tens to hundreds of milliseconds at a few
MB/s of changes). The writer turns that off for its connection and this thread checkpoints instead,
from its own connection: SQLite's checkpoint runs beside the writer and readers (PASSIVE), and the
driver releases the GIL for its whole duration.

A PASSIVE checkpoint never waits, so under a writer that never pauses it never quite catches up with the
end of the WAL, and SQLite only starts the WAL file over after a checkpoint that did: the file grew
without bound (10 GB in two minutes of churn at 50,000 machines). Once the WAL holds ``restart_bytes``,
a RESTART checkpoint follows the passive one: it waits for the batch being written (at most
``restart_wait``: a slow reader must not stall the writer), copies the few pages the passive one left,
and the next commit starts the file over, truncated to ``restart_bytes`` (``journal_size_limit``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from models.db import WAL_SIZE_LIMIT

log = logging.getLogger(__name__)


class Checkpointer:
    def __init__(self, database: str, interval: float = 1.0, restart_bytes: int = WAL_SIZE_LIMIT,
                 restart_wait: float = 0.2) -> None:
        self._database = database
        self._interval = interval
        self._restart_bytes = restart_bytes
        self._restart_wait_ms = int(restart_wait * 1000)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self.restarts = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        conn = sqlite3.connect(self._database, isolation_level=None, check_same_thread=False)
        try:
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            restart_pages = max(1, self._restart_bytes // page_size)
            while not self._stop.wait(self._interval):
                try:
                    self._checkpoint(conn, restart_pages)
                except sqlite3.Error as exc:  # e.g. busy: the next round will do it
                    log.debug("checkpoint skipped: %s", exc)
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection, restart_pages: int) -> None:
        conn.execute("PRAGMA busy_timeout=10000")
        _busy, wal_pages, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if wal_pages < restart_pages:
            return
        conn.execute(f"PRAGMA busy_timeout={self._restart_wait_ms}")
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        if not busy:
            self.restarts += 1
