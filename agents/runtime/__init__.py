"""The stream runtime: the faust app, the router, the deadline watcher, tables, telemetry."""
