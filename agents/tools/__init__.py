"""Operator tools: the `dossierflow` command line, the event publisher, and the read-only
views (inbox, alerts, province report) over the engine's topics and tables."""
