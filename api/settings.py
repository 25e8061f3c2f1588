"""The API's settings, handed from ``serve`` to uvicorn worker processes through the environment.

Kept free of heavy imports: ``serve`` must set ``PROMETHEUS_MULTIPROC_DIR`` before anything imports
prometheus_client, and the command line imports this module to build ``--help``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

SETTINGS_ENV = "OMNI_READMODEL_API_SETTINGS"


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    trust_proxy_headers: bool = False
    head_cache_seconds: float = 0.005
    page_cache_bytes: int = 64 << 20
    # who may call, and how many at once (api.auth, api.limits)
    auth: str = "none"  # "tokens": bearer tokens of the api_tokens table
    cors_origins: tuple[str, ...] = ()
    max_in_flight: int = 0  # per worker; 0: no cap

    def to_environment(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_environment(cls) -> Settings:
        return cls(**json.loads(os.environ.get(SETTINGS_ENV, "{}")))
