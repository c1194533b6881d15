"""Helpers for testing with real Airflow: a throw-away Airflow home and a local cluster."""
