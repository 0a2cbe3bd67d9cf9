"""Dashboard "engine health": workers, router throughput and latency, dead letters, delivery, lag."""

from __future__ import annotations

from grafana_foundation_sdk.builders import table, timeseries

from monitoring.grafana.panels import (
    WORKER_JOB,
    Board,
    Query,
    ratio,
    stat_panel,
    thresholds,
    zero_is_good,
)
from monitoring.metrics import (
    ALERT_DELIVERIES,
    CONSUMER_LAG,
    DEAD_LETTERS,
    OPEN_DOSSIERS,
    ROUTER_BATCH_SECONDS,
    ROUTER_RECORDS,
    WATCHED_DOSSIERS,
)


def engine_health() -> Board:
    job = f'job="{WORKER_JOB}"'
    b = Board(
        uid="dossierflow-engine",
        title="Dossierflow: engine health",
        description="Workers, router throughput and batch latency, dead letters, alert delivery, deadline index.",
        time_from="now-6h",
    )
    b.row("Workers")
    b.add(
        stat_panel,
        "Workers up",
        "Workers Prometheus scraped successfully last time.",
        Query(f"sum(up{{{job}}})", instant=True),
        unit="short",
        width=4,
        configure=lambda p: p.thresholds(thresholds((None, "red"), (1, "green"))),
    )
    b.add(
        stat_panel,
        "Workers down",
        "Workers discovered but not answering /metrics.",
        Query(f"count(up{{{job}}} == 0) or vector(0)", instant=True),
        unit="short",
        width=4,
        configure=zero_is_good,
    )
    b.add(
        timeseries.Panel,
        "Scrape status by worker",
        "1 = answering, 0 = down.",
        Query(f"up{{{job}}}", "{{instance}}"),
        unit="short",
        width=8,
    )
    b.add(
        table.Panel,
        "Firing engine alerts",
        "Prometheus alerts from monitoring/prometheus/rules.yml that fire now.",
        Query('ALERTS{alertstate="firing", alertname=~"Dossierflow.*"}', instant=True, table=True),
        width=8,
    )

    b.row("Router")
    rate_interval = "$__rate_interval"
    b.add(
        timeseries.Panel,
        "Router throughput",
        "Records the router reads per second: agencies' events and the watcher's deadline ticks.",
        Query(f"sum by (kind) (rate({ROUTER_RECORDS}[{rate_interval}]))", "{{kind}}"),
        unit="rps",
        width=8,
    )
    b.add(
        timeseries.Panel,
        "Router throughput by worker",
        "Events read per second by each worker: uneven numbers mean uneven partitions.",
        Query(
            f'sum by (instance) (rate({ROUTER_RECORDS}{{kind="events"}}[{rate_interval}]))',
            "{{instance}}",
        ),
        unit="rps",
        width=8,
    )
    b.add(
        timeseries.Panel,
        "Records per batch",
        "Average records per router batch: batching is what makes the router fast.",
        Query(
            ratio(
                f"sum(rate({ROUTER_RECORDS}[{rate_interval}]))",
                f"sum(rate({ROUTER_BATCH_SECONDS}_count[{rate_interval}]))",
            ),
            "records per batch",
        ),
        unit="short",
        width=8,
    )
    b.add(
        timeseries.Panel,
        "Batch latency",
        "Wall time of one router batch, outputs and changelog included: median, p90, p99.",
        *(
            Query(
                f"histogram_quantile({q}, sum by (le) (rate({ROUTER_BATCH_SECONDS}_bucket[{rate_interval}])))",
                name,
            )
            for q, name in (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99"))
        ),
        unit="s",
        width=8,
    )
    b.add(
        timeseries.Panel,
        "Dead letters by reason",
        "Records sent to the dead-letter topic per second, by reason kind.",
        Query(f"sum by (reason) (rate({DEAD_LETTERS}[{rate_interval}]))", "{{reason}}"),
        unit="cps",
        width=8,
    )
    b.add(
        table.Panel,
        "Dead letters since the workers started",
        "Counted by the running workers, by reason: processing_error is a bug of ours.",
        Query(f"sum by (reason) ({DEAD_LETTERS})", instant=True, table=True),
        unit="short",
        width=8,
    )
    b.add(
        timeseries.Panel,
        "Consumer lag by topic",
        "Records not yet committed by the workers' group, end offset minus committed, set "
        "at each scrape: a backlog drains to 0; a line that only grows is a stuck worker.",
        Query(f"sum by (topic) ({CONSUMER_LAG})", "{{topic}}"),
        unit="short",
        width=12,
    )
    b.add(
        timeseries.Panel,
        "Consumer lag by worker",
        "The same by worker: after a restart the restarted worker's lag falls as it catches up.",
        Query(f"sum by (worker) ({CONSUMER_LAG})", "{{worker}}"),
        unit="short",
        width=12,
    )

    b.row("Alert delivery and deadline index")
    b.add(
        timeseries.Panel,
        "Alert deliveries by channel and result",
        "Deliveries to supervisors per second: delivered, failed (after retries).",
        Query(
            f"sum by (channel, result) (rate({ALERT_DELIVERIES}[{rate_interval}]))",
            "{{channel}} {{result}}",
        ),
        unit="cps",
        width=10,
    )
    b.add(
        stat_panel,
        "Failed deliveries (selected period)",
        "Alerts that did not reach a supervisor after every retry.",
        Query(
            f'sum(increase({ALERT_DELIVERIES}{{result="failed"}}[$__range])) or vector(0)',
            instant=True,
        ),
        unit="short",
        width=4,
        height=8,
        configure=zero_is_good,
    )
    b.add(
        timeseries.Panel,
        "Watched dossiers by worker",
        "Dossiers in each worker's deadline index.",
        Query(f"sum by (worker) ({WATCHED_DOSSIERS})", "{{worker}}"),
        unit="short",
        width=10,
    )
    b.add(
        timeseries.Panel,
        "Open dossiers by worker",
        "Open dossiers on each worker's partitions: they move with a rebalance.",
        Query(f"sum by (worker) ({OPEN_DOSSIERS})", "{{worker}}"),
        unit="short",
        width=24,
    )
    return b
