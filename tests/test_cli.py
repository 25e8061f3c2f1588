"""The command line: every subcommand is listed and has its own --help."""

from __future__ import annotations

import subprocess
import sys

import pytest

from omni_readmodel.cli import SUBCOMMANDS


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "omni_readmodel", *args], capture_output=True, text=True,
                          timeout=60)


def test_help_lists_every_subcommand() -> None:
    result = _cli("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert f"    {name} " in result.stdout


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_each_subcommand_has_its_own_help(name: str) -> None:
    result = _cli(name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: omni-readmodel {name}")


def test_unknown_subcommand_is_an_error() -> None:
    result = _cli("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
