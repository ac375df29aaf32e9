"""Pytest fixtures that run the Copernica sandbox in a separate process over real HTTP.

Use from any conftest: ``from tests.sandbox_plugin import sandbox_url, sandbox  # noqa: F401``.

- ``sandbox_url`` (session): the base URL of a ``python -m api_client.sandbox --port 0``
  subprocess, terminated at the end of the session.
- ``sandbox`` (function): a :class:`~api_client.sandbox.control.SandboxControl` on that
  sandbox, reset to the start state (no accounts, faults or counts) before the test.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from api_client.sandbox.control import SandboxControl

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SANDBOX_SEED = 7


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    """The base URL of a sandbox subprocess shared by the whole test session."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api_client.sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--seed",
            str(SANDBOX_SEED),
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"(http://\S+)", line)
        if match is None:
            raise RuntimeError(f"The sandbox did not start: {line!r} (exit {process.poll()})")
        yield match.group(1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def sandbox(sandbox_url: str) -> Iterator[SandboxControl]:
    """A control client on the session's sandbox, reset to the start state for this test."""
    control = SandboxControl(sandbox_url)
    control.reset()
    control.clear_faults()
    try:
        yield control
    finally:
        control.close()
