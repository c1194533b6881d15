"""Fixtures of the stack tests: the real servers, built and started here, stopped at the end.

The fixtures live in ``stack/pytest_plugin.py`` so that other suites (Airflow end to end) can
share the same session stack; see its docstring.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

if "stack.pytest_plugin" not in sys.modules:  # not already loaded as a plugin by a parent conftest
    from stack.pytest_plugin import stack, stack_binaries, webhook  # noqa: F401
