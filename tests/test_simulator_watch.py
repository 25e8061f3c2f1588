"""Conformance of the simulator's ``/cosi.resource.State/Watch`` with Omni (omni-wire.md §2), checked
message by message over a real 127.0.0.1 socket with a plain grpcio client."""

from __future__ import annotations

import queue

import grpc
import pytest

from omni_client.wire import resource_pb2, specs_pb2, state_pb2, state_pb2_grpc
from simulator.resource import TEARING_DOWN
from tests.simulator_fixtures import (
    START_NS,
    SimulatorThread,
    StreamReader,
    channel_options,
    fake_clock,
    watch_request,
)

MS = "MachineStatuses.omni.sidero.dev"
CLUSTER_LABEL = "omni.sidero.dev/cluster"
CREATED, UPDATED, DESTROYED = state_pb2.CREATED, state_pb2.UPDATED, state_pb2.DESTROYED
BOOTSTRAPPED, ERRORED, NOOP = state_pb2.BOOTSTRAPPED, state_pb2.ERRORED, state_pb2.NOOP



def store(sim: SimulatorThread):
    return sim.simulator.store


def ids_of(sim: SimulatorThread, type_: str, namespace: str = "default") -> list[str]:
    return sim.call(lambda: sorted(r.id for r in store(sim).items(namespace, type_)))


def open_watch(stub, request) -> StreamReader:
    reader = StreamReader(stub.Watch(request))
    handshake = reader.next()
    assert handshake.ByteSize() == 0 and len(handshake.event) == 0
    return reader


def one(reader: StreamReader) -> state_pb2.Event:
    message = reader.next()
    assert len(message.event) == 1
    return message.event[0]


def bootstrap(stub, type_: str, namespace: str = "default", **options) -> tuple[StreamReader, list, bytes]:
    """Open a kind watch with bootstrap_contents; return (reader, CREATED events, BOOTSTRAPPED bookmark)."""
    reader = open_watch(stub, watch_request(type_, namespace, bootstrap_contents=True, **options))
    created = []
    while True:
        event = one(reader)
        if event.event_type == BOOTSTRAPPED:
            return reader, created, event.bookmark
        assert event.event_type == CREATED
        created.append(event)


def refused(stub, request) -> grpc.RpcError:
    """The call fails before the handshake; return the error."""
    reader = StreamReader(stub.Watch(request))
    with pytest.raises(grpc.RpcError) as info:
        reader.next()
    return info.value


def assert_tombstone(resource: resource_pb2.Resource, namespace: str, type_: str, id_: str) -> None:
    md = resource.metadata
    assert (md.namespace, md.type, md.id, md.version, md.phase) == (namespace, type_, id_, "undefined", "running")
    assert md.HasField("created") and md.HasField("updated")
    assert resource.HasField("spec") and resource.spec.ByteSize() == 0


def test_handshake_bootstrap_order_and_tombstone(sim, state_stub):
    expected = ids_of(sim, MS)
    reader, created, bookmark = bootstrap(state_stub, MS)
    assert [e.resource.metadata.id for e in created] == expected
    for event in created:
        assert not event.HasField("bookmark") and not event.HasField("old") and not event.HasField("error")
        assert event.resource.HasField("spec") and event.resource.spec.yaml_spec
        spec = specs_pb2.MachineStatusSpec.FromString(event.resource.spec.proto_spec)
        assert spec.network.hostname
    assert len(bookmark) == 16
    reader.cancel()
    # the BOOTSTRAPPED event itself
    reader = open_watch(state_stub, watch_request(MS, bootstrap_contents=True))
    for _ in expected:
        one(reader)
    event = one(reader)
    assert event.event_type == BOOTSTRAPPED and event.HasField("bookmark") and not event.HasField("old")
    assert_tombstone(event.resource, "default", MS, "")
    reader.cancel()


def test_live_events_carry_bookmarks_old_and_last_state(sim, state_stub):
    reader, _, boot_bookmark = bootstrap(state_stub, MS)

    def change():
        st = store(sim)
        first = st.get("default", MS, ids_of_sync(st)[0])
        updated = st.update(first, labels={**first.labels, "test": "yes"})
        st.create("default", MS, "zz-new", specs_pb2.MachineStatusSpec(talos_version="v1.11.3"), owner="MachineStatusController")
        st.remove("default", MS, "zz-new")
        return first.id, first.version, updated.version

    id_, old_version, new_version = sim.call(change)
    events = [one(reader) for _ in range(4)]
    assert [e.event_type for e in events] == [UPDATED, CREATED, UPDATED, DESTROYED]
    update = events[0]
    assert update.resource.metadata.id == id_ and update.resource.metadata.version == str(new_version)
    assert update.old.metadata.version == str(old_version) and "test" not in update.old.metadata.labels
    assert events[1].resource.metadata.version == "1" and not events[1].HasField("old")
    assert events[2].resource.metadata.phase == TEARING_DOWN and events[2].old.metadata.phase == "running"
    destroyed = events[3]
    assert destroyed.resource.metadata.id == "zz-new" and destroyed.resource.metadata.phase == TEARING_DOWN
    assert specs_pb2.MachineStatusSpec.FromString(destroyed.resource.spec.proto_spec).talos_version == "v1.11.3"
    assert not destroyed.HasField("old")
    bookmarks = [boot_bookmark] + [e.bookmark for e in events]
    assert all(e.HasField("bookmark") for e in events)
    assert len(set(bookmarks)) == 5 and sorted(bookmarks) == bookmarks  # positions grow
    reader.cancel()


def ids_of_sync(st) -> list[str]:
    return sorted(r.id for r in st.items("default", MS))


def _read_until(reader: StreamReader, bookmark: bytes, into: list) -> None:
    while True:
        event = one(reader)
        into.append((event.event_type, event.resource.metadata.id, event.resource.metadata.version))
        if event.bookmark == bookmark:
            return


def test_resume_after_drop_has_no_duplicates_and_no_gaps(sim):
    reference_channel = grpc.insecure_channel(sim.address, options=channel_options())
    test_channel = grpc.insecure_channel(sim.address, options=channel_options())
    reference_stub = state_pb2_grpc.StateStub(reference_channel)
    test_stub = state_pb2_grpc.StateStub(test_channel)
    types = ("ClusterMachineStatuses.omni.sidero.dev", "ClusterStatuses.omni.sidero.dev")
    try:
        for type_ in types:
            reference, _, _ = bootstrap(reference_stub, type_)
            before = sim.call(lambda: set(store(sim).watchers))
            tested, _, last = bootstrap(test_stub, type_)
            mine = sim.call(lambda known=before: set(store(sim).watchers) - known)
            assert len(mine) == 1
            seen: list = []
            sim.call(sim.simulator.apply_churn, 400)
            # read part of what is there, then drop this stream only
            for _ in range(3):
                event = one(tested)
                seen.append((event.event_type, event.resource.metadata.id, event.resource.metadata.version))
                last = event.bookmark
            sim.call(lambda dropped=mine: [w.drop() for w in dropped])
            with pytest.raises(grpc.RpcError) as info:
                while True:
                    event = one(tested)
                    seen.append((event.event_type, event.resource.metadata.id, event.resource.metadata.version))
                    last = event.bookmark
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            sim.call(sim.simulator.apply_churn, 400)
            resumed = open_watch(test_stub, watch_request(type_, start_from_bookmark=last))
            sim.call(sim.simulator.apply_churn, 400)
            final = sim.call(lambda t=type_: store(sim).collection("default", t).log[-1].bookmark)
            _read_until(resumed, final, seen)
            expected: list = []
            _read_until(reference, final, expected)
            assert seen == expected and len(expected) > 10
            reference.cancel()
            resumed.cancel()
    finally:
        reference_channel.close()
        test_channel.close()


def test_bad_bookmarks_fail_before_the_handshake(sim, state_stub):
    _, _, bookmark = bootstrap(state_stub, MS)
    for bad in (b"", b"\x00" * 8, b"\x01" * 16, bookmark[:8] + b"\xff" * 8):
        error = refused(state_stub, watch_request(MS, start_from_bookmark=bad))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    # a good one works, until the simulated restart
    open_watch(state_stub, watch_request(MS, start_from_bookmark=bookmark)).cancel()
    sim.call(sim.simulator.restart)
    error = refused(state_stub, watch_request(MS, start_from_bookmark=bookmark))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_restart_drops_streams():
    thread = SimulatorThread(seed=1, clusters=2, machines=10, now=START_NS, clock=fake_clock()).start()
    channel = grpc.insecure_channel(thread.address)
    try:
        reader, _, bookmark = bootstrap(state_pb2_grpc.StateStub(channel), MS)
        thread.call(thread.simulator.restart)
        with pytest.raises(grpc.RpcError) as info:
            reader.next()
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        error = refused(state_pb2_grpc.StateStub(channel), watch_request(MS, start_from_bookmark=bookmark))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        channel.close()
        thread.stop()


def test_bookmark_older_than_history_is_refused():
    thread = SimulatorThread(seed=1, clusters=2, machines=10, now=START_NS, clock=fake_clock(), history=50).start()
    channel = grpc.insecure_channel(thread.address)
    stub = state_pb2_grpc.StateStub(channel)
    try:
        reader, _, bookmark = bootstrap(stub, MS)
        reader.cancel()

        def touch(n: int) -> bytes:
            st = thread.simulator.store
            for i in range(n):
                res = st.get("default", MS, ids_of_sync(st)[0])
                st.update(res, labels={**res.labels, "n": str(i)})
            return st.collection("default", MS).log[-1].bookmark

        thread.call(touch, 10)
        open_watch(stub, watch_request(MS, start_from_bookmark=bookmark)).cancel()  # still retained
        thread.call(touch, 200)
        assert refused(stub, watch_request(MS, start_from_bookmark=bookmark)).code() == \
            grpc.StatusCode.FAILED_PRECONDITION
    finally:
        channel.close()
        thread.stop()


def test_errored_keeps_the_stream_open_and_silent(sim, state_stub):
    errored, _, _ = bootstrap(state_stub, MS)
    assert sim.call(sim.simulator.inject_errored, MS, "boom") == 1
    event = one(errored)
    assert event.event_type == ERRORED and event.error == "boom"
    assert not event.HasField("resource") and not event.HasField("bookmark")
    # a second stream opened now sees the changes; the errored one must stay silent
    barrier, _, _ = bootstrap(state_stub, MS)
    sim.call(_touch_first, sim, 3)
    for _ in range(3):
        assert one(barrier).event_type == UPDATED
    sim.call(sim.simulator.drop_streams)
    with pytest.raises(grpc.RpcError) as info:
        errored.next()
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE  # nothing came between ERRORED and the drop


def _touch_first(sim: SimulatorThread, n: int) -> None:
    st = store(sim)
    for i in range(n):
        res = st.get("default", MS, ids_of_sync(st)[0])
        st.update(res, labels={**res.labels, "touch": str(i)})


def test_api_version_0_drops_bootstrapped_and_errored(sim, state_stub):
    expected = ids_of(sim, MS)
    reader = open_watch(state_stub, watch_request(MS, bootstrap_contents=True, api_version=0))
    for id_ in expected:
        event = one(reader)
        assert (event.event_type, event.resource.metadata.id) == (CREATED, id_)
    sim.call(_touch_first, sim, 1)
    assert one(reader).event_type == UPDATED  # no BOOTSTRAPPED in between
    sim.call(sim.simulator.inject_errored, MS)
    barrier, _, _ = bootstrap(state_stub, MS)
    sim.call(sim.simulator.drop_streams)
    with pytest.raises(grpc.RpcError) as info:
        reader.next()
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE  # the ERRORED event was dropped
    barrier.cancel()


def test_bootstrap_bookmark_sends_one_noop(sim, state_stub):
    reader = open_watch(state_stub, watch_request(MS, bootstrap_bookmark=True))
    noop = one(reader)
    assert noop.event_type == NOOP and noop.HasField("bookmark")
    assert_tombstone(noop.resource, "default", MS, "")
    sim.call(_touch_first, sim, 1)
    live = one(reader)
    assert live.event_type == UPDATED
    resumed = open_watch(state_stub, watch_request(MS, start_from_bookmark=noop.bookmark))
    again = one(resumed)
    assert again == live
    reader.cancel()
    resumed.cancel()


@pytest.mark.parametrize(("request_", "code"), [
    (watch_request(MS, bootstrap_contents=True, start_from_bookmark=b"x" * 16), grpc.StatusCode.UNIMPLEMENTED),
    (watch_request(MS, bootstrap_contents=True, tail_events=3), grpc.StatusCode.UNIMPLEMENTED),
    (watch_request(MS, tail_events=3, start_from_bookmark=b"x" * 16), grpc.StatusCode.UNIMPLEMENTED),
    (watch_request(MS, id="x", bootstrap_contents=True), grpc.StatusCode.UNIMPLEMENTED),
    (watch_request(MS, id="x", label_query=[resource_pb2.LabelQuery(terms=[resource_pb2.LabelTerm(key="a")])]),
     grpc.StatusCode.UNIMPLEMENTED),
    (watch_request(MS, tail_events=3), grpc.StatusCode.UNKNOWN),
    (watch_request("Kubeconfigs.omni.sidero.dev", bootstrap_contents=True), grpc.StatusCode.PERMISSION_DENIED),
    (watch_request("ClusterMachineConfigs.omni.sidero.dev"), grpc.StatusCode.PERMISSION_DENIED),
    (watch_request(MS, bootstrap_contents=True, label_query=[resource_pb2.LabelQuery(
        terms=[resource_pb2.LabelTerm(key="a", op=resource_pb2.LabelTerm.EQUAL)])]), grpc.StatusCode.INTERNAL),
])
def test_refused_requests(state_stub, request_, code):
    error = refused(state_stub, request_)
    assert error.code() == code
    if code == grpc.StatusCode.PERMISSION_DENIED:
        assert error.details() == "no access is permitted"


def test_tail_events_in_ephemeral(sim, state_stub):
    type_ = "MachineStatusMetrics.omni.sidero.dev"
    sim.call(sim.simulator.apply_churn, 3000)
    history = sim.call(lambda: [c.bookmark for c in store(sim).collection("ephemeral", type_).log])
    assert len(history) >= 2
    reader = open_watch(state_stub, watch_request(type_, "ephemeral", tail_events=2))
    tail = [one(reader), one(reader)]
    assert [e.bookmark for e in tail] == history[-2:]
    reader.cancel()


def test_single_resource_watch(sim, state_stub):
    target = ids_of(sim, MS)[0]
    reader = open_watch(state_stub, watch_request(MS, id=target))
    first = one(reader)
    assert first.event_type == CREATED and first.resource.metadata.id == target
    assert first.HasField("bookmark")  # default namespace: etcd-backed in Omni
    sim.call(_touch_first, sim, 1)
    update = one(reader)
    assert update.event_type == UPDATED and update.old.metadata.id == target
    reader.cancel()

    missing = open_watch(state_stub, watch_request(MS, id="nope"))
    event = one(missing)
    assert event.event_type == DESTROYED
    assert_tombstone(event.resource, "default", MS, "nope")
    sim.call(lambda: store(sim).create("default", MS, "nope", specs_pb2.MachineStatusSpec()))
    assert one(missing).event_type == CREATED
    missing.cancel()

    ephemeral = open_watch(state_stub, watch_request("SysVersions.system.sidero.dev", "ephemeral", id="current"))
    event = one(ephemeral)
    assert event.event_type == CREATED and not event.HasField("bookmark")  # in-memory backend
    ephemeral.cancel()


def test_aggregated_bootstrap_is_one_message(sim, state_stub):
    expected = ids_of(sim, MS)
    reader = open_watch(state_stub, watch_request(MS, bootstrap_contents=True, aggregated=True))
    message = reader.next()
    assert [e.event_type for e in message.event] == [CREATED] * len(expected) + [BOOTSTRAPPED]
    assert [e.resource.metadata.id for e in message.event[:-1]] == expected
    sim.call(_touch_first, sim, 3)
    live = reader.next()
    assert 1 <= len(live.event) <= 3 and all(e.event_type == UPDATED for e in live.event)
    reader.cancel()


def _term(key: str, op: str = "EXISTS", values=(), invert: bool = False) -> resource_pb2.LabelTerm:
    return resource_pb2.LabelTerm(key=key, op=resource_pb2.LabelTerm.Operation.Value(op), value=list(values),
                                  invert=invert)


def test_label_queries_match_lists_and_bootstraps(sim, state_stub):
    everything = sim.call(lambda: {r.id: dict(r.labels) for r in store(sim).items("default", MS)})
    clusters = sorted({labels[CLUSTER_LABEL] for labels in everything.values() if CLUSTER_LABEL in labels})
    role_cp = "omni.sidero.dev/role-controlplane"
    cases = [
        ([[_term(CLUSTER_LABEL, "EQUAL", [clusters[0]])]], lambda labels: labels.get(CLUSTER_LABEL) == clusters[0]),
        ([[_term(role_cp)]], lambda labels: role_cp in labels),
        ([[_term(CLUSTER_LABEL, "IN", clusters[:2])]], lambda labels: labels.get(CLUSTER_LABEL) in clusters[:2]),
        ([[_term(CLUSTER_LABEL, "EQUAL", [clusters[0]], invert=True)]], lambda labels: labels.get(CLUSTER_LABEL) != clusters[0]),
        ([[_term(CLUSTER_LABEL, "NOT_EXISTS")]], lambda labels: CLUSTER_LABEL not in labels),
        ([[_term(CLUSTER_LABEL, "EQUAL", [clusters[0]]), _term(role_cp)]],
         lambda labels: labels.get(CLUSTER_LABEL) == clusters[0] and role_cp in labels),
        ([[_term(CLUSTER_LABEL, "EQUAL", [clusters[0]])], [_term(CLUSTER_LABEL, "EQUAL", [clusters[1]])]],
         lambda labels: labels.get(CLUSTER_LABEL) in clusters[:2]),
        ([[_term("omni.sidero.dev/cores", "LT_NUMERIC", ["10"])]],
         lambda labels: int(labels.get("omni.sidero.dev/cores", "999")) < 10),
    ]
    for queries, predicate in cases:
        label_query = [resource_pb2.LabelQuery(terms=terms) for terms in queries]
        expected = sorted(id_ for id_, labels in everything.items() if predicate(labels))
        request = state_pb2.ListRequest(namespace="default", type=MS)
        request.options.label_query.extend(label_query)
        listed = [r.resource.metadata.id for r in state_stub.List(request)]
        assert listed == expected, queries
        reader, created, _ = bootstrap(state_stub, MS, label_query=label_query)
        assert [e.resource.metadata.id for e in created] == expected
        reader.cancel()
    assert 0 < len([1 for labels in everything.values() if labels.get(CLUSTER_LABEL) == clusters[0]]) < len(everything)


def test_id_query(sim, state_stub):
    target = ids_of(sim, MS)[3]
    reader, created, _ = bootstrap(state_stub, MS, id_query=resource_pb2.IDQuery(regexp=target[:8]))
    assert target in [e.resource.metadata.id for e in created]
    assert all(e.resource.metadata.id.startswith(target[:8]) for e in created)
    reader.cancel()


def test_membership_rewriting_on_filtered_watch(sim, state_stub):
    query = [resource_pb2.LabelQuery(terms=[_term("rack", "EQUAL", ["r99"])])]
    reader, created, _ = bootstrap(state_stub, MS, label_query=query)
    assert created == []
    target = ids_of(sim, MS)[0]

    def relabel(**changes):
        st = store(sim)
        res = st.get("default", MS, target)
        labels = dict(res.labels)
        for key, value in changes.items():
            if value is None:
                labels.pop(key, None)
            else:
                labels[key] = value
        return st.update(res, labels=labels).version

    v1 = sim.call(relabel, rack="r99")
    entered = one(reader)
    assert entered.event_type == CREATED and entered.resource.metadata.version == str(v1)
    assert not entered.HasField("old") and entered.HasField("bookmark")
    v2 = sim.call(relabel, extra="1")
    stayed = one(reader)
    assert stayed.event_type == UPDATED and stayed.old.metadata.version == str(v1)
    v3 = sim.call(relabel, rack="r01")
    left = one(reader)
    assert left.event_type == DESTROYED and not left.HasField("old")
    assert left.resource.metadata.version == str(v3) and left.resource.metadata.labels["rack"] == "r01"
    sim.call(relabel, extra="2")  # outside the set before and after: not sent
    v5 = sim.call(relabel, rack="r99")
    again = one(reader)
    assert again.event_type == CREATED and again.resource.metadata.version == str(v5)
    assert v2 == v1 + 1
    reader.cancel()


def test_slow_consumer_gets_buffer_overrun(sim, state_stub):
    reader, _, _ = bootstrap(state_stub, MS)
    sim.call(sim.simulator.set_slow_consumer, MS, 5)
    sim.call(_touch_first, sim, 20)  # 20 events committed in one go: the stream is 20 behind
    event = one(reader)
    assert event.event_type == ERRORED and event.error.startswith("buffer overrun")
    sim.call(sim.simulator.clear_faults)
    reader.cancel()


def test_a_quiet_watch_survives_a_clients_keepalive_pings(sim):
    """Omni does not police pings (Go's net/http serves its gRPC): a watch with nothing to send, whose
    client pings as often as it may, is not closed with GOAWAY too_many_pings."""
    pinging = [*channel_options(), ("grpc.keepalive_time_ms", 100), ("grpc.keepalive_timeout_ms", 5_000),
               ("grpc.http2.max_pings_without_data", 0), ("grpc.keepalive_permit_without_calls", 1),
               ("grpc.http2.min_sent_ping_interval_without_data_ms", 100),
               ("grpc.http2.min_time_between_pings_ms", 100)]
    channel = grpc.insecure_channel(sim.address, options=pinging)
    try:
        reader = open_watch(state_pb2_grpc.StateStub(channel), watch_request(MS))
        with pytest.raises(queue.Empty):
            reader.next(timeout=6)  # a ping a second (gRPC core spaces them so) and no data: GOAWAY by now
        target = ids_of(sim, MS)[0]
        sim.call(lambda: store(sim).update(store(sim).get("default", MS, target), labels={"touched": "yes"}))
        assert reader.next().event[0].resource.metadata.id == target
        reader.cancel()
    finally:
        channel.close()
