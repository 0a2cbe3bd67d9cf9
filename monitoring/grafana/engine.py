"""Dashboard "engine health": workers, router throughput and latency, dead letters, delivery, lag."""

from __future__ import annotations

from monitoring.grafana.panels import (
    WORKER_JOB,
    Board,
    Query,
    Row,
    ratio,
    stat_panel,
    sum_by,
    table_panel,
    thresholds,
    trend_panel,
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

JOB = f'job="{WORKER_JOB}"'
RATE_INTERVAL = "$__rate_interval"


def rate(series: str) -> str:
    return f"rate({series}[{RATE_INTERVAL}])"


def batch_latency(quantile: str, name: str) -> Query:
    return Query(
        f"histogram_quantile({quantile}, sum by (le) (rate({ROUTER_BATCH_SECONDS}_bucket[{RATE_INTERVAL}])))",
        name,
    )


def engine_health() -> Board:
    return Board(
        uid="dossierflow-engine",
        title="Dossierflow: engine health",
        description="Workers, router throughput and batch latency, dead letters, alert delivery, deadline index.",
        time_from="now-6h",
        panels=(
            Row("Workers"),
            stat_panel(
                "Workers up",
                "Workers Prometheus scraped successfully last time.",
                Query(f"sum(up{{{JOB}}})"),
                width=4,
                configure=lambda p: p.thresholds(thresholds((None, "red"), (1, "green"))),
            ),
            stat_panel(
                "Workers down",
                "Workers discovered but not answering /metrics.",
                Query(f"count(up{{{JOB}}} == 0) or vector(0)"),
                width=4,
                configure=zero_is_good,
            ),
            trend_panel(
                "Scrape status by worker",
                "1 = answering, 0 = down.",
                Query(f"up{{{JOB}}}", "{{instance}}"),
                width=8,
            ),
            table_panel(
                "Firing engine alerts",
                "Prometheus alerts from monitoring/prometheus/rules.yml that fire now.",
                Query('ALERTS{alertstate="firing", alertname=~"Dossierflow.*"}'),
                unit=None,
                width=8,
            ),
            Row("Router"),
            trend_panel(
                "Router throughput",
                "Records the router reads per second: agencies' events and the watcher's deadline ticks.",
                sum_by("kind", rate(ROUTER_RECORDS)),
                unit="rps",
                width=8,
            ),
            trend_panel(
                "Router throughput by worker",
                "Events read per second by each worker: uneven numbers mean uneven partitions.",
                sum_by("instance", rate(f'{ROUTER_RECORDS}{{kind="events"}}')),
                unit="rps",
                width=8,
            ),
            trend_panel(
                "Records per batch",
                "Average records per router batch: batching is what makes the router fast.",
                Query(
                    ratio(
                        f"sum(rate({ROUTER_RECORDS}[{RATE_INTERVAL}]))",
                        f"sum(rate({ROUTER_BATCH_SECONDS}_count[{RATE_INTERVAL}]))",
                    ),
                    "records per batch",
                ),
                width=8,
            ),
            trend_panel(
                "Batch latency",
                "Wall time of one router batch, outputs and changelog included: median, p90, p99.",
                batch_latency("0.5", "p50"),
                batch_latency("0.9", "p90"),
                batch_latency("0.99", "p99"),
                unit="s",
                width=8,
            ),
            trend_panel(
                "Dead letters by reason",
                "Records sent to the dead-letter topic per second, by reason kind.",
                sum_by("reason", rate(DEAD_LETTERS)),
                unit="cps",
                width=8,
            ),
            table_panel(
                "Dead letters since the workers started",
                "Counted by the running workers, by reason: processing_error is a bug of ours.",
                Query(f"sum by (reason) ({DEAD_LETTERS})"),
                width=8,
            ),
            trend_panel(
                "Consumer lag by topic",
                "Records not yet committed by the workers' group, end offset minus committed, "
                "measured every 2 s: a backlog drains to 0; a line that only grows is a stuck worker.",
                sum_by("topic", CONSUMER_LAG),
                width=8,
            ),
            trend_panel(
                "Consumer lag by partition",
                "The same per topic and partition (partitions x 3 topics): one partition that "
                "stays up while the others drain is a hot dossier or a stuck owner.",
                sum_by("topic, partition", CONSUMER_LAG),
                width=8,
            ),
            trend_panel(
                "Consumer lag by worker",
                "The same by worker: after a restart the restarted worker's lag falls as it catches up.",
                sum_by("worker", CONSUMER_LAG),
                width=8,
            ),
            Row("Alert delivery and deadline index"),
            trend_panel(
                "Alert deliveries by channel and result",
                "Deliveries to supervisors per second: delivered, failed (after retries).",
                sum_by("channel, result", rate(ALERT_DELIVERIES)),
                unit="cps",
                width=10,
            ),
            stat_panel(
                "Failed deliveries (selected period)",
                "Alerts that did not reach a supervisor after every retry.",
                Query(
                    f'sum(increase({ALERT_DELIVERIES}{{result="failed"}}[$__range])) or vector(0)'
                ),
                width=4,
                height=8,
                configure=zero_is_good,
            ),
            trend_panel(
                "Watched dossiers by worker",
                "Dossiers in each worker's deadline index.",
                sum_by("worker", WATCHED_DOSSIERS),
                width=10,
            ),
            trend_panel(
                "Open dossiers by worker",
                "Open dossiers on each worker's partitions: they move with a rebalance.",
                sum_by("worker", OPEN_DOSSIERS),
                width=24,
            ),
        ),
    )
