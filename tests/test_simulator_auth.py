"""Signature checking: with a service account's public key configured, the simulator answers unsigned or
badly signed calls with UNAUTHENTICATED, as Omni does, and serves correctly signed ones."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest

from omni_client.signing import ServiceAccountKey, new_service_account
from omni_client.wire import state_pb2, state_pb2_grpc
from simulator.auth import AioSignatureInterceptor, SignatureVerifier
from tests.simulator_fixtures import START_NS, SimulatorThread, StreamReader, fake_clock, watch_request

GET = "/cosi.resource.State/Get"
WATCH = "/cosi.resource.State/Watch"


@pytest.fixture(scope="module")
def account() -> tuple[ServiceAccountKey, str]:
    value, public = new_service_account("simulator-test", timedelta(hours=1))
    return ServiceAccountKey.from_value(value), public


@pytest.fixture
def signed_sim(account):
    _, public = account
    verifier = SignatureVerifier([public])
    thread = SimulatorThread(seed=2, clusters=2, machines=10, now=START_NS, clock=fake_clock(),
                             interceptors=[AioSignatureInterceptor(verifier)]).start()
    channel = grpc.insecure_channel(thread.address)
    try:
        yield state_pb2_grpc.StateStub(channel)
    finally:
        channel.close()
        thread.stop()


PROBE = state_pb2.GetRequest(namespace="ephemeral", type="SysVersions.system.sidero.dev", id="current")


def test_unsigned_calls_are_unauthenticated(signed_sim):
    with pytest.raises(grpc.RpcError, match="invalid signature") as info:
        signed_sim.Get(PROBE)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert info.value.details() == "invalid signature"
    reader = StreamReader(signed_sim.Watch(watch_request("Clusters.omni.sidero.dev", bootstrap_contents=True)))
    with pytest.raises(grpc.RpcError, match="invalid signature") as info:
        reader.next()
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_signed_calls_pass(signed_sim, account):
    key, _ = account
    reply = signed_sim.Get(PROBE, metadata=key.signed_metadata(GET))
    assert reply.resource.metadata.id == "current"
    reader = StreamReader(signed_sim.Watch(watch_request("Clusters.omni.sidero.dev", bootstrap_contents=True),
                                           metadata=key.signed_metadata(WATCH)))
    assert reader.next().ByteSize() == 0
    reader.cancel()


def test_signature_for_another_method_is_refused(signed_sim, account):
    key, _ = account
    with pytest.raises(grpc.RpcError, match="invalid signature") as info:
        signed_sim.Get(PROBE, metadata=key.signed_metadata(WATCH))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_unknown_key_is_refused(signed_sim):
    value, _ = new_service_account("stranger", timedelta(hours=1))
    stranger = ServiceAccountKey.from_value(value)
    with pytest.raises(grpc.RpcError, match="invalid signature") as info:
        signed_sim.Get(PROBE, metadata=stranger.signed_metadata(GET))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
