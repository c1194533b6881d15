"""Alerting: rules evaluated on listener events, delivered to Slack, PagerDuty and email.

``rules.py`` (config model, matching), ``state.py`` (shared store across processes),
``engine.py`` (conditions, windows, dedup, aggregation, rate limits, quiet hours),
``destinations/`` (message formats and delivery), ``sink.py`` (the dispatcher sink: all of it
runs on the sink's own thread, never on the task's path).
"""
