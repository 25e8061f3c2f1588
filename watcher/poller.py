"""Polled kinds: listed on an interval and diffed into the same event log (omni-wire.md §2.4, §6.7).

EtcdBackups (namespace ``external``) send no live events and can only be listed per cluster, with the
label term ``omni.sidero.dev/cluster EQUAL <cluster>``. The clusters are the read model's current
Clusters, read once the Clusters stream has bootstrapped (an incomplete cluster list would sweep backups
that still exist). A round in which every List succeeded is complete: resources it did not list were
destroyed. A partial round only creates and updates.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models import catalog
from models.catalog import Kind
from models.schema import resources, streams
from omni_client.wire import resource_pb2, state_pb2, state_pb2_grpc
from watcher.backoff import Backoff, BackoffPolicy
from watcher.decode import Decoder
from watcher.inbox import Inbox
from watcher.items import Poison, PollSnapshot, StreamNote
from watcher.stream import describe

log = logging.getLogger(__name__)

CLUSTERS = catalog.by_name("Cluster")
LIST_TIMEOUT = 60.0


class KindPoller:
    def __init__(self, kind: Kind, stub: state_pb2_grpc.StateStub, decoder: Decoder, inbox: Inbox,
                 engine: Engine, interval: float, policy: BackoffPolicy) -> None:
        self.kind = kind
        self.key = kind.stream_key
        self._stub = stub
        self._decoder = decoder
        self._inbox = inbox
        self._engine = engine
        self._interval = interval
        self._backoff = Backoff(policy)
        self._poisoned: dict[str, str] = {}
        self.state = "starting"
        self.snapshot_count = 0

    async def run(self) -> None:
        try:
            while True:
                clusters = await asyncio.to_thread(self._clusters)
                if clusters is None:
                    self.state = "waiting for clusters"
                    delay = 0.5
                else:
                    delay = await self._round(clusters)
                await asyncio.sleep(delay)
        finally:
            self.state = "stopped"

    def _clusters(self) -> list[str] | None:
        """Current cluster ids, or None while the Clusters stream has not completed its snapshot."""
        with self._engine.connect() as conn:
            ready = conn.execute(
                sa.select(streams.c.bootstrapped).where(
                    streams.c.namespace == CLUSTERS.namespace, streams.c.type == CLUSTERS.type)
            ).scalar()
            if not ready:
                return None
            return list(conn.execute(
                sa.select(resources.c.id).where(
                    resources.c.namespace == CLUSTERS.namespace, resources.c.type == CLUSTERS.type)
                .order_by(resources.c.id)
            ).scalars())

    async def _round(self, clusters: list[str]) -> float:
        """List every cluster's resources and hand the result over; the delay until the next round."""
        self.state = "polling"
        snapshot = PollSnapshot(self.key)
        errors = []
        for cluster in clusters:
            try:
                await self._list(cluster, snapshot)
            except grpc.RpcError as exc:
                errors.append(f"{cluster}: {describe(exc)}")
        snapshot.complete = not errors
        await self._inbox.put(snapshot)
        self.snapshot_count = len(snapshot.resources)
        if errors:
            message = f"list failed for {len(errors)} of {len(clusters)} clusters: {'; '.join(errors[:3])}"
            log.warning("poll %s: %s", self.kind.name, message)
            await self._inbox.put(StreamNote(self.key, error=message))
            self.state = "backoff"
            return min(self._interval, self._backoff.next_delay())
        self._backoff.reset()
        self.state = "live"
        return self._interval

    async def _list(self, cluster: str, snapshot: PollSnapshot) -> None:
        term = resource_pb2.LabelTerm(key=catalog.LABEL_CLUSTER, op=resource_pb2.LabelTerm.EQUAL, value=[cluster])
        request = state_pb2.ListRequest(namespace=self.key[0], type=self.key[1])
        request.options.label_query.add().terms.append(term)
        found, bad, listed = [], [], []
        async for response in self._stub.List(request, timeout=LIST_TIMEOUT):
            md = response.resource.metadata
            listed.append(md.id)
            try:
                found.append(self._decoder.decode(response.resource))
            except Exception as exc:  # noqa: BLE001 - any undecodable spec is poison, never fatal
                # Recorded once per undecodable version, not on every round.
                if self._poisoned.get(md.id) != md.version:
                    self._poisoned[md.id] = md.version
                    bad.append(Poison(self.key, md.id, md.version, "updated", str(exc),
                                      response.resource.spec.proto_spec, None))
        snapshot.resources.extend(found)
        snapshot.poison.extend(bad)
        snapshot.listed.update(listed)
