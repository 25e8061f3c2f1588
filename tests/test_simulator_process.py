"""``python -m simulator`` as a subprocess: start-up line, control surface, clean exit on SIGTERM."""

from __future__ import annotations

import subprocess
import sys
import urllib.error

import grpc
import pytest

from omni_client.wire import state_pb2, state_pb2_grpc
from tests.simulator_fixtures import (
    REPO,
    StreamReader,
    channel_options,
    watch_request,
)

MS = "MachineStatuses.omni.sidero.dev"



def test_refuses_to_start_without_an_auth_choice():
    result = subprocess.run([sys.executable, "-m", "simulator", "--listen", "127.0.0.1:0"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--service-account-public-key" in result.stderr and "--no-auth" in result.stderr


def test_control_surface_and_watch(sim_process):
    state = sim_process.control("GET", "/state")
    assert state["machines"] == 150 and state["clusters"] == 6 and state["revision"] == 0
    assert sim_process.control("GET", "/healthz") == {"ok": True}
    channel = grpc.insecure_channel(sim_process.address, options=channel_options())
    stub = state_pb2_grpc.StateStub(channel)
    try:
        reader = StreamReader(stub.Watch(watch_request(MS, bootstrap_contents=True)))
        assert reader.next().ByteSize() == 0
        for _ in range(state["counts"][f"default/{MS}"]):
            assert reader.next().event[0].event_type == state_pb2.CREATED
        bookmark = reader.next().event[0].bookmark
        applied = sim_process.control("POST", "/churn/apply?events=300")
        assert applied["produced"] >= 300 and applied["revision"] >= 300
        assert sim_process.control("POST", "/faults/drop-streams")["dropped"] == 1
        with pytest.raises(grpc.RpcError) as info:
            while True:
                reader.next()
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        resumed = StreamReader(stub.Watch(watch_request(MS, start_from_bookmark=bookmark)))
        assert resumed.next().ByteSize() == 0
        resumed.cancel()
        sim_process.control("POST", "/faults/restart")
        refused = StreamReader(stub.Watch(watch_request(MS, start_from_bookmark=bookmark)))
        with pytest.raises(grpc.RpcError) as info:
            refused.next()
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        exported = sim_process.control("GET", "/export")
        assert len(exported) == sim_process.control("GET", "/state")["resources"] - _uncatalogued(sim_process)
        assert {"namespace", "type", "id", "version", "phase", "labels", "annotations", "spec"} == set(exported[0])
        assert sim_process.control("POST", "/churn?rate=50") == {"rate": 50.0}
    finally:
        channel.close()
    assert sim_process.terminate() == 0


def _uncatalogued(sim_process) -> int:
    counts = sim_process.control("GET", "/state")["counts"]
    return sum(n for key, n in counts.items() if key.startswith("meta/"))


def test_control_errors(sim_process):
    with pytest.raises(urllib.error.HTTPError) as info:
        sim_process.control("GET", "/nope")
    assert info.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as info:
        sim_process.control("GET", "/faults/restart")
    assert info.value.code == 405
