"""The SQLite checkpointer keeps the WAL file bounded under a writer that commits all the time."""

from __future__ import annotations

import os
import time

from models.db import create_engine
from watcher.checkpoint import Checkpointer

COMMITS = 3_000
ROW = os.urandom(2_000)  # about a page per row, plus index pages: ~35 MB of WAL frames in all


def _write_without_pause(path, checkpointer: Checkpointer) -> int:
    engine = create_engine(f"sqlite:///{path}")
    fairy = engine.raw_connection()
    conn = fairy.dbapi_connection
    conn.isolation_level = None
    conn.execute("PRAGMA wal_autocheckpoint=0")  # as the watcher's writer: only the checkpointer checkpoints
    conn.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, data BLOB)")
    checkpointer.start()
    try:
        for n in range(COMMITS):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO rows (id, data) VALUES (?, ?)", (n, ROW))
            conn.execute("COMMIT")
            time.sleep(0.0005)  # the watcher's writer waits for the next batch's events, not much longer
        return os.path.getsize(f"{path}-wal")  # before the last close checkpoints and deletes it
    finally:
        checkpointer.stop()
        fairy.close()
        engine.dispose()


def test_wal_stays_bounded_under_a_busy_writer(tmp_path) -> None:
    path = tmp_path / "db.sqlite"
    checkpointer = Checkpointer(str(path), interval=0.02, restart_bytes=256 << 10)
    wal_bytes = _write_without_pause(path, checkpointer)
    assert checkpointer.restarts > 0
    # Without restarts the file holds every frame ever written (~35 MB); with them, the 256 KiB threshold
    # plus what commits add during a checkpoint round or two.
    assert wal_bytes < 8 << 20, wal_bytes
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM rows").scalar() == COMMITS
    engine.dispose()

