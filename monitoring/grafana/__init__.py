"""Grafana dashboards and provisioning; ``build`` generates the dashboard JSON."""
