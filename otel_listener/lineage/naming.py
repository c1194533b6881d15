"""Airflow asset URIs -> OpenLineage dataset ``(namespace, name)``.

Follows the OpenLineage dataset naming conventions, so the same table or file seen by another
integration (Spark, dbt, the official Airflow provider) lands on the same dataset node:

| scheme | namespace | name |
|---|---|---|
| ``file`` | ``file`` | absolute path |
| ``s3``/``s3a``/``gs``/``gcs`` | ``s3://bucket`` / ``gs://bucket`` | object key |
| ``abfss``/``wasbs`` | ``abfss://container@account.dfs.core.windows.net`` | path |
| ``hdfs`` | ``hdfs://namenode:port`` | path |
| ``postgres``/``postgresql`` | ``postgres://host:5432`` | ``database.schema.table`` |
| ``mysql`` | ``mysql://host:3306`` | ``database.table`` |
| ``redshift`` | ``redshift://cluster.region:5439`` | ``database.schema.table`` |
| ``trino`` | ``trino://host:8080`` | ``catalog.schema.table`` |
| ``bigquery`` | ``bigquery`` | ``project.dataset.table`` |
| ``snowflake`` | ``snowflake://account`` | ``database.schema.table`` |
| ``kafka`` | ``kafka://host:9092`` | topic |
| anything else | ``scheme://authority`` | path |

An asset without a URI scheme (``Asset("name")``) is named ``airflow-asset`` / its URI.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306, "redshift": 5439, "trino": 8080, "kafka": 9092}
SCHEMELESS_NAMESPACE = "airflow-asset"

_ALIASES = {"postgresql": "postgres", "gcs": "gs", "s3a": "s3", "s3n": "s3"}


def _parts(path: str) -> list[str]:
    return [unquote(p) for p in path.split("/") if p]


def _host_port(scheme: str, host: str, port: int | None) -> str:
    port = port or DEFAULT_PORTS.get(scheme)
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def dataset_name(uri: str) -> tuple[str, str]:
    """The OpenLineage ``(namespace, name)`` of an asset URI."""
    uri = uri.strip()
    if "://" not in uri:
        return SCHEMELESS_NAMESPACE, uri
    try:
        split = urlsplit(uri)
        port = split.port
    except ValueError:
        return SCHEMELESS_NAMESPACE, uri
    scheme = _ALIASES.get(split.scheme.lower(), split.scheme.lower())
    host = (split.hostname or "").lower()
    parts = _parts(split.path)
    if scheme == "file":
        return "file", unquote(split.path) or "/"
    if scheme in ("s3", "gs"):
        return f"{scheme}://{split.netloc}", "/".join(parts) or "/"
    if scheme in ("abfss", "wasbs", "abfs", "wasb"):
        return f"{scheme}://{split.netloc}", "/".join(parts) or "/"
    if scheme in ("postgres", "redshift", "trino") and len(parts) >= 3:
        return _host_port(scheme, host, port), ".".join(parts[:3])
    if scheme == "mysql" and len(parts) >= 2:
        return _host_port(scheme, host, port), ".".join(parts[:2])
    if scheme == "bigquery":
        return "bigquery", ".".join([split.netloc, *parts]) if split.netloc else ".".join(parts)
    if scheme == "snowflake" and len(parts) >= 3:
        return f"snowflake://{host}", ".".join(parts[:3])
    if scheme == "kafka" and parts:
        return _host_port(scheme, host, port), parts[0]
    return f"{scheme}://{split.netloc}", unquote(split.path) or "/"
