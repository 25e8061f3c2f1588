"""Omni's ``external`` namespace: EtcdBackups generated on the fly from backup storage (omni-wire.md §2.4).

They are listable only for one cluster at a time (a single label term ``omni.sidero.dev/cluster EQUAL
<c>``), a kind watch needs ``bootstrap_contents`` and sends the list and a BOOTSTRAPPED event without a
resource, then nothing, and a single-resource watch is unsupported. Omni builds each one fresh per call,
so its version is ``undefined`` and created/updated are the time of the call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from models.catalog import LABEL_CLUSTER
from omni_client.wire import resource_pb2, state_pb2
from simulator import wire
from simulator.errors import Abort
from simulator.resource import Res
from simulator.store import Store
from simulator.watch import Watcher

NAMESPACE = "external"
ETCD_BACKUP_TYPE = "EtcdBackups.omni.sidero.dev"

_EQUAL = resource_pb2.LabelTerm.Operation.Value("EQUAL")


def _unsupported(what: str) -> Abort:
    return Abort("UNIMPLEMENTED", f"unsupported resource type: {what}")


def _invalid(what: str) -> Abort:
    return Abort("INVALID_ARGUMENT", f"failed to validate: {what}")


def cluster_from_queries(label_queries: Iterable[resource_pb2.LabelQuery]) -> str:
    """The one cluster a query asks for; Abort(INVALID_ARGUMENT) for anything else."""
    clusters: list[str] = []
    for query in label_queries:
        for term in query.terms:
            if term.key != LABEL_CLUSTER or term.op != _EQUAL:
                raise _invalid(f"unsupported label query term {{{term.key} {term.op}}}")
            if term.invert:
                raise _invalid(f"inverted value for {term.key!r} is not supported")
            if not term.value:
                raise _invalid("cluster ID must be specified in query")
            clusters.append(term.value[0])
    if not clusters or not clusters[0]:
        raise _invalid("cluster ID must be specified in query")
    if any(cluster != clusters[0] for cluster in clusters):
        raise _invalid(f"conflicting values for label {LABEL_CLUSTER!r}")
    return clusters[0]


def fresh_wire(res: Res, now_ns: int) -> bytes:
    """The resource as Omni builds it for this call: undefined version, timestamps of now."""
    proto = res.to_proto()
    proto.metadata.version = "undefined"
    for stamp in (proto.metadata.created, proto.metadata.updated):
        stamp.seconds, stamp.nanos = divmod(now_ns, 1_000_000_000)
    return proto.SerializeToString()


def backups(store: Store, cluster: str) -> list[Res]:
    items = [res for res in store.items(NAMESPACE, ETCD_BACKUP_TYPE) if res.labels.get(LABEL_CLUSTER) == cluster]
    items.sort(key=lambda res: res.id)
    return items


def list_wire(store: Store, options: state_pb2.ListOptions) -> list[bytes]:
    if options.id_query.regexp:
        raise _invalid("ID query is not supported")
    cluster = cluster_from_queries(options.label_query)
    now = store.clock()
    return [fresh_wire(res, now) for res in backups(store, cluster)]


def get_wire(store: Store, id_: str) -> bytes | None:
    """None when the backup does not exist; Abort for an id that cannot name one."""
    cluster, _, stamp = id_.rpartition("-")
    if not cluster or not stamp.isdigit():
        raise _invalid(f"invalid ID {id_!r}")
    res = store.get(NAMESPACE, ETCD_BACKUP_TYPE, id_)
    return None if res is None else fresh_wire(res, store.clock())


async def watch(store: Store, request: state_pb2.WatchRequest, watcher: Watcher) -> AsyncIterator[bytes]:
    """The pseudo-watch: list + BOOTSTRAPPED (no resource, no bookmark), then silence."""
    options = request.options
    if request.HasField("id"):
        raise _unsupported("watch is not supported")
    if options.aggregated:
        raise _unsupported("watch kind aggregated is not supported")
    if not options.bootstrap_contents:
        raise _unsupported("should pass WithBootstrapContents option")
    if options.tail_events:
        raise _unsupported("tail events is not supported")
    if options.id_query.regexp:
        raise _unsupported("ID query is not supported")
    try:
        cluster = cluster_from_queries(options.label_query)
    except Abort as exc:
        raise _unsupported(exc.message) from None
    now = store.clock()
    items = [fresh_wire(res, now) for res in backups(store, cluster)]
    yield b""
    for item in items:
        yield wire.watch_response(wire.event(item, wire.CREATED))
    if request.api_version >= 1:
        yield wire.watch_response(wire.event(None, wire.BOOTSTRAPPED))
    while not watcher.dropped:
        await watcher.wait()
    raise Abort("UNAVAILABLE", "stream dropped by the simulator")
