"""The simulator logs a watch response it could not send to a departed client at DEBUG, not as an ERROR."""

from __future__ import annotations

import logging
import sys

import pytest

from simulator.cli import _ClientGone


def _record(message: str) -> logging.LogRecord:
    try:
        raise RuntimeError("Failed \"execute_batch\"")
    except RuntimeError:
        exc_info = sys.exc_info()
    return logging.LogRecord("grpc._cython.cygrpc", logging.ERROR, __file__, 1, message, (), exc_info)


@pytest.mark.parametrize("root_level, shown", [(logging.WARNING, False), (logging.DEBUG, True)])
def test_a_write_to_a_departed_client_is_demoted_to_debug(root_level, shown):
    root = logging.getLogger()
    before = root.level
    root.setLevel(root_level)
    try:
        record = _record("ExecuteBatchError raised in core by servicer method [/cosi.resource.State/Watch]")
        assert _ClientGone().filter(record) is shown
        assert record.levelno == logging.DEBUG and record.exc_info is None
    finally:
        root.setLevel(before)


def test_other_grpc_errors_keep_their_level_and_traceback():
    record = _record("Unexpected error in the servicer")
    assert _ClientGone().filter(record) is True
    assert record.levelno == logging.ERROR and record.exc_info is not None
