"""OpenLineage events from the listener's records: identity, facets, dataset names, the spool."""
