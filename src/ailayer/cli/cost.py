"""``ailayer cost``: usage and its cost per endpoint and model version; ``ailayer cost
advise ENDPOINT``: how to run an endpoint for less, from its traffic."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from ailayer.cli import context
from ailayer.cli.output import make_console, print_json, print_table, wide_option
from ailayer.cli.window import end_option, parse_time, start_option

RELATIVE = re.compile(r"^(\d+)([dhm])$")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_since(text: str | None) -> datetime | None:
    """``--since``: ISO 8601, or a span before now such as ``7d``, ``12h``, ``30m``."""
    if text is None:
        return None
    match = RELATIVE.match(text.strip())
    if match:
        return datetime.now(UTC) - timedelta(**{UNITS[match[2]]: int(match[1])})
    return parse_time(text, "--since")


@click.group("cost", invoke_without_command=True)
@click.option("--since", default=None, help="From when: ISO 8601 or 7d, 12h, 30m (default: 30d).")
@click.option("--until", default=None, help="Until when, ISO 8601 (default: now).")
@click.option(
    "--tenant",
    default=None,
    help="Operator: this tenant by name (or `all`), read here on the configured stores "
    "instead of through the API.",
)
@context.url_option
@context.key_option
@context.json_option
@wide_option
@click.pass_context
def cost_group(
    ctx: click.Context,
    since: str | None,
    until: str | None,
    tenant: str | None,
    url: str | None,
    api_key: str | None,
    as_json: bool,
    wide: bool,
) -> None:
    """Predictions, CPU seconds, model memory, events and stored bytes of the key's
    tenant per endpoint and model version, priced by the settings' price table.

    Uses the API at --url with --api-key. Operator: with --tenant, runs here on the
    configured stores for that tenant (or every tenant with --tenant all).
    """
    if ctx.invoked_subcommand is not None:
        return
    window = parse_since(since), parse_time(until, "--until")
    if tenant is None:
        with context.client(url, api_key) as client:
            reports = [client.cost(*window)]
    else:
        with context.local_services() as services:
            keys = services.keys
            ids = keys.tenant_ids() if tenant == "all" else [keys.tenant_id(tenant)]
            reports = [services.cost.report(tenant_id, *window) for tenant_id in ids]
    if as_json:
        print_json(reports if tenant == "all" else reports[0])
        return
    for report in reports:
        show_report(report, wide)


def show_report(report: dict[str, Any], wide: bool) -> None:
    start, end = str(report["start"])[:16], str(report["end"])[:16]
    rows = [
        {
            "endpoint": line["endpoint"] or "(no predictions logged)",
            "model": f"{line['model']} v{line['version']}",
            "predictions": f"{line['predictions']:,}",
            "CPU s": line["cpu_seconds"],
            "CPU ms/pred": line["cpu_ms_per_prediction"],
            "memory GiB·h": line["memory_gib_hours"],
            "cost": line["cost"]["total"],
        }
        for line in report["endpoints"]
    ]
    title = f"tenant {report['tenant_id']}: {start} to {end}"
    columns = ["endpoint", "model", "predictions", "CPU s", "CPU ms/pred", "memory GiB·h", "cost"]
    print_table(rows, columns, title=title, wide=wide)
    events = report["events"]
    console = make_console(wide)
    console.print(
        f"events: {events['events_in']:,} in, {events['events_out']:,} out, cost {events['cost']:.4g}"
    )
    for store in report["storage"]:
        console.print(
            f"stored in {store['store']}: {store['bytes']:,} bytes, cost {store['cost']:.4g}"
        )
    console.print(f"total: {report['total']:.4g} (price table: the settings' `prices`)")


@cost_group.command("advise")
@click.argument("endpoint")
@start_option
@end_option
@click.option(
    "--p99-ms",
    default=250.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="The latency target an option must meet.",
)
@context.url_option
@context.key_option
@context.json_option
@wide_option
def advise(
    endpoint: str,
    start: str | None,
    end: str | None,
    p99_ms: float,
    url: str | None,
    api_key: str | None,
    as_json: bool,
    wide: bool,
) -> None:
    """Dedicated, autoscaled, spot-backed or serverless: ENDPOINT's day of traffic (requests
    per minute, burstiness, p99) priced each way for a month, replicas right-sized from
    the measured CPU per prediction, and the cheapest way that meets --p99-ms.

    Uses the API at --url with --api-key.
    """
    window = parse_time(start, "--start"), parse_time(end, "--end")
    with context.client(url, api_key) as client:
        advice = client.cost_advice(endpoint, start=window[0], end=window[1], p99_ms=p99_ms)
    if as_json:
        print_json(advice)
        return
    show_advice(advice, wide)


def show_advice(advice: dict[str, Any], wide: bool) -> None:
    shape, sizing = advice["traffic"], advice["sizing"]
    console = make_console(wide)
    console.print(
        f"{advice['endpoint']}: {shape['requests']:,} requests in {shape['minutes']:,} minutes; "
        f"per minute mean {shape['rpm_mean']:.3g}, p95 {shape['rpm_p95']:.3g}, peak "
        f"{shape['rpm_peak']:.3g} (burstiness {shape['burstiness']:.3g}); "
        f"p99 {_ms(shape['p99_ms'])}"
    )
    measured = "measured" if sizing["cpu_measured"] else "not measured yet: p50 latency used"
    console.print(
        f"CPU per prediction {sizing['cpu_per_prediction_ms']:.3g} ms ({measured}); "
        f"replica {sizing['replica_cpu']:g} vCPU / {sizing['replica_memory_gib']:g} GiB"
    )
    rows = [
        {
            "option": o["name"] + (" *" if o["name"] == advice["recommended"] else ""),
            "per month": o["monthly_cost"],
            "p99": _ms(o["p99_ms"]),
            "meets target": "yes" if o["meets_target"] else "no",
            "how": o["detail"],
            "latency risk": o["risk"],
        }
        for o in advice["options"]
    ]
    columns = ["option", "per month", "p99", "meets target", "how", "latency risk"]
    print_table(rows, columns, wide=wide)
    console.print(f"recommended: {advice['recommended']} ({advice['reason']})")


def _ms(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.3g} ms"
