"""Event consumers. Each runs on its own background thread behind the dispatcher."""
