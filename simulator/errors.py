"""The one error type the simulator's services raise to end a call with a gRPC status."""

from __future__ import annotations


class Abort(Exception):
    """End the RPC with ``code`` (a ``grpc.StatusCode`` name) and ``message``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
