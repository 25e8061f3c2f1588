"""A fixed-rate API load, run as its own process next to a benchmark (so its CPU does not slow the probe).

``python -m bench._api_load BASE_URL RATE SECONDS PATH [PATH...]``: GETs the paths round robin at RATE
requests/s over a few kept-alive HTTP/1.1 connections, for SECONDS, then prints one JSON line
``{"requests", "errors", "seconds", "rate", "p50_ms", "p99_ms"}``. A request that falls behind its slot is
sent at once (no coordinated omission hiding: latency counts from the slot). Any status but 200/404 is an
error (churn destroys resources, so a 404 is a real answer).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from urllib.parse import urlsplit

CONNECTIONS = 4


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str) -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _connection(host: str, port: int, slots: itertools.count, start: float, interval: float,
                      end: float, paths: list[str], latencies: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
    try:
        for slot in slots:
            due = start + slot * interval
            if due >= end:
                return
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            status = await _get(reader, writer, f"{host}:{port}", paths[slot % len(paths)])
            latencies.append(time.monotonic() - due)
            if status not in (200, 404):
                errors.append(status)
    finally:
        writer.close()


async def load(base: str, rate: float, seconds: float, paths: list[str]) -> dict:
    url = urlsplit(base)
    latencies: list[float] = []
    errors: list[int] = []
    slots = itertools.count()  # shared: each connection takes the next free slot
    start = time.monotonic()
    await asyncio.gather(*(_connection(url.hostname, url.port, slots, start, 1 / rate, start + seconds, paths,
                                       latencies, errors) for _ in range(CONNECTIONS)))
    elapsed = time.monotonic() - start
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000 if latencies else float("nan")

    return {"requests": len(latencies), "errors": len(errors), "seconds": elapsed,
            "rate": len(latencies) / elapsed, "p50_ms": pct(0.5), "p99_ms": pct(0.99)}


def main(argv: list[str]) -> int:
    base, rate, seconds, *paths = argv
    print(json.dumps(asyncio.run(load(base, float(rate), float(seconds), paths))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
