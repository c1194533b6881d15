"""OpenLineage run ids: UUIDs every process derives alike.

The START of a task try is emitted by its task process, its COMPLETE/FAIL by the same process
moments later, and its ABORT (killed, upstream_failed) by the scheduler: they agree on the runId
because it is a name-based UUID (version 5) of what identifies the try -- DAG id, run id, the
run's clear number, task id, map index and try number. A retry or a cleared run therefore gets
a new runId, exactly like it gets a new span id.
"""

from __future__ import annotations

import uuid

from otel_listener.events import RunRef

NAMESPACE = uuid.UUID("6f0b8d2e-4c1a-5e7b-9a3d-0e1f2a3b4c5d")


def dag_run_uuid(run: RunRef) -> str:
    """The runId of a DAG-run attempt (a cleared run is a new attempt)."""
    return str(uuid.uuid5(NAMESPACE, f"dag_run\x1f{run.dag_id}\x1f{run.run_id}\x1f{run.clear_number}"))


def task_try_uuid(run: RunRef, task_id: str, map_index: int, try_number: int) -> str:
    """The runId of one task try."""
    name = f"task\x1f{run.dag_id}\x1f{run.run_id}\x1f{run.clear_number}\x1f{task_id}\x1f{map_index}\x1f{try_number}"
    return str(uuid.uuid5(NAMESPACE, name))
