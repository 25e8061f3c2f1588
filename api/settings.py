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
    item_cache_bytes: int = 16 << 20
    query_timeout_seconds: float = 5.0  # every statement (PostgreSQL statement_timeout, SQLite deadline)
    query_threads: int = 4  # per worker: threads running list pages and other unbounded reads
    # the kubeconfig pass-through to Omni (the service account key comes from the environment)
    omni_endpoint: str | None = None
    omni_ca_file: str | None = None
    omni_insecure_no_auth: bool = False
    kubeconfig_user: str = "omni-readmodel"
    kubeconfig_groups: tuple[str, ...] = ("system:masters",)
    kubeconfig_ttl_seconds: float = 3600.0
    # who may call, and how many at once (api.auth, api.limits)
    auth: str = "none"  # "tokens": bearer tokens of the api_tokens table
    cors_origins: tuple[str, ...] = ()
    max_in_flight: int = 0  # per worker; 0: no cap
    # the change feed, /api/v1/events (api.feed, api.feed_poller); per worker
    feed_max_subscribers: int = 1000
    feed_queue_events: int = 2000  # a subscriber further behind gets `overflow` and is closed
    feed_poll_seconds: float = 0.05
    feed_heartbeat_seconds: float = 15.0
    feed_bookmark_seconds: float = 5.0

    def to_environment(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_environment(cls) -> Settings:
        values = json.loads(os.environ.get(SETTINGS_ENV, "{}"))
        if "kubeconfig_groups" in values:  # JSON has no tuples
            values["kubeconfig_groups"] = tuple(values["kubeconfig_groups"])
        return cls(**values)
