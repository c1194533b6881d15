from __future__ import annotations

from pathlib import Path

import pytest

from otel_listener.testing.cluster import AirflowHome

DAGS = Path(__file__).resolve().parents[1] / "dags"


@pytest.fixture
def make_home(tmp_path_factory):
    """A migrated Airflow home using the test DAGs, with extra environment."""

    def make(**env: str) -> AirflowHome:
        home = AirflowHome(tmp_path_factory.mktemp("airflow"), DAGS, extra_env=env)
        home.migrate()
        return home

    return make
