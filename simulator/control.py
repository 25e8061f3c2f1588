"""A tiny HTTP/JSON control surface for a simulator running as a subprocess (``--control-listen``).

Loopback only, no auth, one request per connection (``Connection: close``). Parameters are query
parameters; every answer is JSON except ``/export`` (JSON lines).

=======  ==========================  =================================================================
Method   Path                        Effect / answer
=======  ==========================  =================================================================
GET      /healthz                    ``{"ok": true}``
GET      /state                      revision (global event position), bookmark cookie, resource
                                     counts per ``namespace/type``, open streams, churn rate
GET      /export                     the current state as JSON lines (``simulator.export``)
POST     /faults/drop-streams        end every open Watch with UNAVAILABLE -> ``{"dropped": n}``
POST     /faults/restart             new bookmark cookie (every bookmark now gets FailedPrecondition),
                                     history discarded, streams dropped -> ``{"dropped": n, "cookie"}``
POST     /faults/errored             ``?type=T`` (default: all) ``&message=M``: streams get ERRORED and
                                     stay open and silent -> ``{"streams": n}``
POST     /faults/slow-consumer       ``?type=T&buffer=N&delay_ms=D``: matching streams allow N unsent
                                     events before ERRORED "buffer overrun", and pause D ms per event
POST     /faults/clear               remove slow-consumer settings
POST     /churn                      ``?rate=N``: churn at N events/s (0 pauses) -> ``{"rate": N}``
POST     /churn/apply                ``?events=N``: produce at least N churn events now ->
                                     ``{"produced": n, "revision": r}``
=======  ==========================  =================================================================
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import parse_qs, urlsplit

from simulator.app import DEFAULT_ERROR, Simulator
from simulator.export import export_lines

log = logging.getLogger(__name__)

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error"}


class ControlServer:
    """Serves the control surface for one :class:`Simulator` on the simulator's event loop."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self._server: asyncio.Server | None = None
        self.port: int | None = None

    async def start(self, listen: str) -> int:
        host, _, port = listen.rpartition(":")
        self._server = await asyncio.start_server(self._handle, host or "127.0.0.1", int(port))
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1").strip()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip() or 0)
            if length:
                await reader.readexactly(length)
            method, target, _ = (request_line.split(" ") + ["", "", ""])[:3]
            url = urlsplit(target)
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if method == "GET" and url.path == "/export":
                await self._export(writer)
                return
            status, body = self._dispatch(method, url.path, params)
            await self._respond(writer, status, json.dumps(body).encode(), "application/json")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:  # a bad request must not take the simulator down
            log.exception("control request failed")
            await self._respond(writer, 500, b'{"error":"internal error"}', "application/json")
        finally:
            writer.close()

    def _dispatch(self, method: str, path: str, params: dict[str, str]) -> tuple[int, dict]:
        sim = self.simulator
        routes = {
            ("GET", "/healthz"): lambda: {"ok": True},
            ("GET", "/state"): sim.state,
            ("POST", "/faults/drop-streams"): lambda: {"dropped": sim.drop_streams()},
            ("POST", "/faults/restart"): lambda: {"dropped": sim.restart(), "cookie": sim.store.cookie.hex()},
            ("POST", "/faults/errored"): lambda: {"streams": sim.inject_errored(
                params.get("type") or None, params.get("message") or DEFAULT_ERROR)},
            ("POST", "/faults/slow-consumer"): lambda: self._slow(params),
            ("POST", "/faults/clear"): lambda: (sim.clear_faults(), {"ok": True})[1],
            ("POST", "/churn"): lambda: (sim.set_churn_rate(float(params.get("rate", "0"))),
                                         {"rate": sim.churn_rate})[1],
            ("POST", "/churn/apply"): lambda: {"produced": sim.apply_churn(int(params.get("events", "1"))),
                                               "revision": sim.store.position},
        }
        handler = routes.get((method, path))
        if handler is None:
            known = {p for _, p in routes} | {"/export"}
            return (405, {"error": "method not allowed"}) if path in known else (404, {"error": "not found"})
        try:
            return 200, handler()
        except ValueError as exc:
            return 400, {"error": str(exc)}

    def _slow(self, params: dict[str, str]) -> dict:
        buffer = int(params.get("buffer", "0"))
        delay = float(params.get("delay_ms", "0")) / 1000
        self.simulator.set_slow_consumer(params.get("type") or None, buffer, delay)
        return {"type": params.get("type"), "buffer": buffer, "delay_ms": delay * 1000}

    async def _export(self, writer: asyncio.StreamWriter) -> None:
        lines = list(export_lines(self.simulator.store))  # a consistent snapshot, taken in one go
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n")
        for i in range(0, len(lines), 1000):
            writer.write("".join(line + "\n" for line in lines[i:i + 1000]).encode())
            await writer.drain()

    @staticmethod
    async def _respond(writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str) -> None:
        head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        writer.write(head.encode() + body)
        await writer.drain()
