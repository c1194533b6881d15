"""Shared fixtures: an OTLP receiver, typed fakes, and a clean listener runtime per test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent))

from otlp_receiver import Receiver  # noqa: E402

from otel_listener import runtime  # noqa: E402

# One real stack per session for every suite that needs it (tests/stack, Airflow end to end).
from stack.pytest_plugin import stack, stack_binaries, webhook  # noqa: E402, F401


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    recv = Receiver().start()
    yield recv
    recv.stop()


@pytest.fixture(autouse=True)
def _fresh_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no listener runtime and no inherited OTEL_/listener settings."""
    import os

    for key in list(os.environ):
        if key.startswith(("OTEL_", "AIRFLOW__OTEL_LISTENER__")):
            monkeypatch.delenv(key)
    runtime.install(None)
    runtime.set_role("unknown")
    yield
    runtime.install(None)
