"""52.2.6 Data lineage events: OpenLineage from the same listener, linked to the traces.

``otel_listener`` turns the same hook calls that make spans and metrics into OpenLineage
RunEvents (``otel_listener/sinks/lineage.py``), with nothing in the DAG but ordinary
``inlets``/``outlets``:

* **Capture inlet/outlet assets.** Every task try emits START and COMPLETE/FAIL/ABORT; its
  ``inlets``/``outlets`` (Airflow ``Asset`` objects) become the event's ``inputs``/``outputs``,
  named by the OpenLineage naming conventions (``otel_listener/lineage/naming.py``):
  ``s3://acme-raw/orders/2026.csv`` -> namespace ``s3://acme-raw``, name ``orders/2026.csv``;
  ``postgres://warehouse/analytics/public/orders_daily`` -> ``postgres://warehouse:5432`` /
  ``analytics.public.orders_daily``; ``file:///tmp/...`` -> ``file`` / the path. The DAG run
  emits START and COMPLETE/FAIL as the job ``<dag_id>``; tasks are ``<dag_id>.<task_id>``.
* **Send to the lineage system.** The transport is configured the standard OpenLineage way
  (``OPENLINEAGE_URL`` for Marquez, ``openlineage.yml``, ``OPENLINEAGE__TRANSPORT__*``; the
  test runs this DAG with the ``file`` transport), or ``lineage_transport=otlp`` to ship events
  as OTLP log records through the Collector. Events are written to an on-disk spool first and
  removed after a confirmed send: a dead backend loses nothing (``otel-listener lineage replay``).
* **Enrich with task metadata.** Facets carry the parent DAG run, owner, tags, nominal time,
  Airflow/listener versions, the error with its stack trace, and ``otelListener``: the trace id
  and span id of the same try plus operator, pool, queue, map index and try number.
* **Cross-DAG lineage.** ``publish`` writes the asset ``orders_daily_csv``; a DAG scheduled on it
  lists it as an input of its run, so producer -> asset -> consumer is one connected graph.

``lineage_preview`` computes, inside the task, what the listener will put in its own events
(run id, trace id, dataset names) with ``otel_listener.lineage``; the example's test compares
that with the events the file transport wrote.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, Asset, get_current_context, task

RAW_ORDERS = Asset(name="raw_orders", uri="s3://acme-raw/orders/2026.csv")
STAGED_ORDERS = Asset(name="staged_orders", uri="file:///tmp/52_02_06/staging/orders.json")
ORDERS_DAILY = Asset(name="orders_daily", uri="postgres://warehouse/analytics/public/orders_daily")
ORDERS_CSV = Asset(name="orders_daily_csv", uri="file:///tmp/52_02_06/published/orders_daily.csv")

with DAG(
    dag_id="52_02_06_data_lineage_events",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["reference", "patterns", "advanced", "success"],
    default_args={"owner": "data-platform"},
):

    @task(inlets=[RAW_ORDERS], outlets=[STAGED_ORDERS])
    def extract() -> dict:
        """Pretend to read raw orders from S3; really stage a small file."""
        rows = [{"order": i, "amount": 10 * i} for i in range(1, 6)]
        path = Path("/tmp/52_02_06/staging/orders.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows))
        return {"rows": len(rows)}

    @task(inlets=[STAGED_ORDERS], outlets=[ORDERS_DAILY])
    def transform() -> dict:
        """Aggregate the staged file (the warehouse write is simulated)."""
        rows = json.loads(Path("/tmp/52_02_06/staging/orders.json").read_text())
        return {"total": sum(r["amount"] for r in rows)}

    @task(inlets=[ORDERS_DAILY], outlets=[ORDERS_CSV])
    def publish(summary: dict) -> str:
        path = Path("/tmp/52_02_06/published/orders_daily.csv")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"total\n{summary['total']}\n")
        return str(path)

    @task
    def lineage_preview() -> dict:
        """What otel_listener will emit for ``publish`` and for this run, computed in the task."""
        from otel_listener import ids
        from otel_listener.events import RunRef
        from otel_listener.lineage import naming, runids

        dag_run = get_current_context()["dag_run"]
        run = RunRef(dag_run.dag_id, dag_run.run_id, int(getattr(dag_run, "clear_number", 0) or 0))
        return {
            "dag_run_id": runids.dag_run_uuid(run),
            "publish_run_id": runids.task_try_uuid(run, "publish", -1, 1),
            "trace_id": f"{ids.trace_id_for(run):032x}",
            "datasets": {
                a.name: list(naming.dataset_name(a.uri)) for a in (RAW_ORDERS, STAGED_ORDERS, ORDERS_DAILY, ORDERS_CSV)
            },
        }

    staged = extract()
    total = transform()
    staged >> total
    publish(total) >> lineage_preview()
