"""Airflow 3 listener plugin exporting OpenTelemetry traces and metrics.

Importing this package is cheap on purpose (it runs in every task process): the
OpenTelemetry SDK and exporters are imported by the sink threads when first needed.
"""

__version__ = "0.1.0"
