"""Bounds on the request head for uvicorn's httptools protocol (``serve`` runs it with ``--http httptools``).

llhttp, the parser under httptools, puts no limit on header sizes, and uvicorn's
``h11_max_incomplete_event_size`` applies only to its h11 protocol. This subclass refuses a request
line longer than ``MAX_URL_BYTES`` with 414 and a head (request line and headers) longer than
``MAX_HEAD_BYTES`` with 431, and answers every request the parser rejects with problem+json instead of
uvicorn's text/plain, always closing the connection.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_URL_BYTES = 8192
MAX_HEAD_BYTES = 16384  # like uvicorn's h11 default
PROBLEM_JSON = b"application/problem+json"


class _Refused(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def _problem_bytes(status: int, title: str, detail: str) -> bytes:
    slug = title.lower().replace(" ", "-")
    return json.dumps({"type": f"urn:omni-readmodel:problem:{slug}", "title": title, "status": status,
                       "detail": detail, "error": detail}, separators=(",", ":")).encode()


URL_TOO_LONG = _Refused(414, "URI Too Long", f"the request target is longer than {MAX_URL_BYTES} bytes")
HEAD_TOO_LARGE = _Refused(431, "Request Header Fields Too Large",
                          f"the request line and headers are larger than {MAX_HEAD_BYTES} bytes")


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounded request heads and problem+json parser errors.

    Cheap on the common path: a head is measured only when the bytes received since the previous head
    completed exceed the limit (a necessary condition for a head that large)."""

    _unparsed = 0  # bytes received since the last head completed
    _refused: _Refused | None = None

    def on_headers_complete(self) -> None:
        if self._unparsed > MAX_URL_BYTES:
            if len(self.url) > MAX_URL_BYTES:
                self._refuse(URL_TOO_LONG)
            if len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers) > MAX_HEAD_BYTES:
                self._refuse(HEAD_TOO_LARGE)
        self._unparsed = 0
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._unparsed = 0
        super().on_body(body)

    def data_received(self, data: bytes) -> None:
        self._unparsed += len(data)
        super().data_received(data)
        # a head still incomplete after this many bytes: llhttp would keep buffering it without end
        if self._unparsed > MAX_HEAD_BYTES + MAX_URL_BYTES and self._refused is None and self.parser is not None:
            self._refused = URL_TOO_LONG if len(getattr(self, "url", b"")) > MAX_URL_BYTES else HEAD_TOO_LARGE
            self.send_400_response("")

    def _refuse(self, refusal: _Refused) -> None:
        self._refused = refusal
        raise refusal  # httptools turns it into a parser error: uvicorn calls send_400_response

    def send_400_response(self, msg: str) -> None:
        refusal = self._refused or _Refused(400, "Bad Request", "the request is not valid HTTP/1.1")
        self._refused = refusal  # nothing more is parsed on this connection
        body = _problem_bytes(refusal.status, refusal.title, refusal.detail)
        head = [STATUS_LINE[refusal.status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-type: ", PROBLEM_JSON, b"\r\ncontent-length: ", str(len(body)).encode(),
                 b"\r\nconnection: close\r\n\r\n", body]
        self.transport.write(b"".join(head))
        self.transport.close()
