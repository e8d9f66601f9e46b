"""``ailayer deploy`` and ``ailayer rollout``: an endpoint's traffic policy from a shell.

They act on a running deployment, so they go through its API with the key (the tenant is
the key's): ``deploy`` builds the policy from its options and sends it; ``rollout``
reads it, promotes a canary, rolls it back, or lists its revisions.
"""

from __future__ import annotations

from typing import Any

import click

from ailayer.cli import context
from ailayer.cli.output import print_json, print_table, wide_option


def model_version(text: str, option: str) -> tuple[str, int]:
    """``MODEL:VERSION`` → (model, version)."""
    model, _, version = text.rpartition(":")
    if not model or not version.isdigit() or int(version) < 1:
        raise click.BadParameter(
            f"{text!r} is not MODEL:VERSION (a version is a whole number from 1)",
            param_hint=option,
        )
    return model, int(version)


def ab_variant(text: str) -> dict[str, Any]:
    """``NAME=MODEL:VERSION:SHARE`` → a live variant."""
    name, _, rest = text.partition("=")
    where, _, share = rest.rpartition(":")
    if not name or where.count(":") < 1 or not share.isdigit():
        raise click.BadParameter(f"{text!r} is not NAME=MODEL:VERSION:SHARE", param_hint="--ab")
    model, version = model_version(where, "--ab")
    return {"name": name, "model": model, "version": version, "share": int(share)}


def steps(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a comma-separated list of percents, e.g. 5,25,50,100",
            param_hint="--steps",
        ) from None


def policy_of(
    target: str | None,
    canary: str | None,
    ab: tuple[str, ...],
    shadows: tuple[str, ...],
    sticky_key: str | None,
    plan: dict[str, Any],
) -> dict[str, Any]:
    """The policy the options describe (the server checks the rest, naming the field)."""
    given = {k: v for k, v in plan.items() if v is not None}
    if given and canary is None:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise click.UsageError(f"{flags} only go with --canary")
    if ab:
        if target is not None or canary is not None:
            raise click.UsageError(
                "--ab names every live variant: give no MODEL:VERSION or --canary"
            )
        policy: dict[str, Any] = {"kind": "ab", "variants": [ab_variant(item) for item in ab]}
    else:
        if target is None:
            raise click.UsageError("give MODEL:VERSION (or --ab NAME=MODEL:VERSION:SHARE ...)")
        model, version = model_version(target, "MODEL:VERSION")
        stable = {"name": "stable", "model": model, "version": version}
        if canary is None:
            policy = {"kind": "single", "variants": [{**stable, "share": 100}]}
        else:
            model, version = model_version(canary, "--canary")
            candidate = {"name": "canary", "model": model, "version": version}
            policy = {"kind": "canary", "variants": [stable, candidate], "canary": given}
    for index, item in enumerate(shadows, start=1):
        model, version = model_version(item, "--shadow")
        name = "shadow" if len(shadows) == 1 else f"shadow-{index}"
        policy["variants"].append(
            {"name": name, "model": model, "version": version, "share": 0, "shadow": True}
        )
    if sticky_key is not None:
        policy["sticky_key"] = sticky_key
    return policy


@click.command("deploy")
@click.argument("endpoint")
@click.argument("target", metavar="MODEL:VERSION", required=False)
@click.option("--canary", default=None, metavar="MODEL:VERSION", help="Roll this out as a canary.")
@click.option("--steps", "steps_text", default=None, help="Canary steps in percent (5,25,50,100).")
@click.option("--step-seconds", type=float, default=None, help="Least time at each step.")
@click.option("--min-requests", type=int, default=None, help="Least canary requests per step.")
@click.option("--max-error-rate-increase", type=float, default=None, help="e.g. 0.01")
@click.option("--max-p99-ratio", type=float, default=None, help="Canary p99 / stable p99.")
@click.option(
    "--max-quality-drop",
    type=float,
    default=None,
    help="Stable quality - canary quality on labelled predictions, e.g. 0.05 (default: "
    "quality not judged).",
)
@click.option(
    "--ab", multiple=True, metavar="NAME=MODEL:VERSION:SHARE", help="A/B variant (repeat)."
)
@click.option("--shadow", multiple=True, metavar="MODEL:VERSION", help="Shadow copy (repeat).")
@click.option("--sticky-key", default=None, help="Record field that keeps a key on one variant.")
@context.url_option
@context.key_option
@context.json_option
def deploy(
    endpoint: str,
    target: str | None,
    canary: str | None,
    steps_text: str | None,
    step_seconds: float | None,
    min_requests: int | None,
    max_error_rate_increase: float | None,
    max_p99_ratio: float | None,
    max_quality_drop: float | None,
    ab: tuple[str, ...],
    shadow: tuple[str, ...],
    sticky_key: str | None,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Deploy MODEL:VERSION behind ENDPOINT, as one version, a canary, or an A/B split,
    with optional shadows. Every model is loaded by the server before the policy is
    stored; a refusal leaves the current policy serving.

    Uses the API at --url with --api-key.
    """
    plan = {
        "steps": steps(steps_text),
        "step_seconds": step_seconds,
        "min_requests": min_requests,
        "max_error_rate_increase": max_error_rate_increase,
        "max_p99_ratio": max_p99_ratio,
        "max_quality_drop": max_quality_drop,
    }
    policy = policy_of(target, canary, ab, shadow, sticky_key, plan)
    with context.client(url, api_key) as client:
        status = client.deploy(endpoint, policy)
    if as_json:
        print_json(status)
    else:
        click.echo(summary(status["policy"]))


def summary(policy: dict[str, Any]) -> str:
    """One line: the endpoint, revision, kind and state, then each variant."""
    parts = []
    for v in policy["variants"]:
        share = "shadow" if v["shadow"] else f"{v['share']}%"
        parts.append(f"{v['name']} {v['model']} v{v['version']} {share}")
    state = "" if policy["state"] == "active" else f" ({policy['state']}: {policy['reason']})"
    head = f"{policy['endpoint']}: revision {policy['revision']}, {policy['kind']}{state}"
    return f"{head} — " + ", ".join(parts)


@click.group("rollout")
def rollout_group() -> None:
    """An endpoint's deployment: status, promote, rollback, history."""


@rollout_group.command("status")
@click.argument("endpoint")
@context.url_option
@context.key_option
@context.json_option
@wide_option
def status(endpoint: str, url: str | None, api_key: str | None, as_json: bool, wide: bool) -> None:
    """ENDPOINT's policy and the server's shadow counters.

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        body = client.deployment(endpoint)
    if as_json:
        print_json(body)
        return
    click.echo(summary(body["policy"]))
    rows = [{"shadow": name, **counts} for name, counts in body["shadow"].items()]
    if rows:
        columns = ["shadow", "sent", "dropped", "failed", "agreed", "disagreed"]
        print_table(rows, columns, wide=wide)


@rollout_group.command("promote")
@click.argument("endpoint")
@click.option("--to", type=click.IntRange(1, 100), default=None, help="Percent; 100: full.")
@context.url_option
@context.key_option
@context.json_option
def promote(
    endpoint: str, to: int | None, url: str | None, api_key: str | None, as_json: bool
) -> None:
    """Move ENDPOINT's canary to its next step (or to --to percent; 100 promotes it).

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        body = client.promote(endpoint, to)
    _print(body, as_json)


@rollout_group.command("rollback")
@click.argument("endpoint")
@click.option("--reason", default="", help="Kept in the history.")
@context.url_option
@context.key_option
@context.json_option
def rollback(
    endpoint: str, reason: str, url: str | None, api_key: str | None, as_json: bool
) -> None:
    """Send ENDPOINT's canary to 0% now (every server within 2 s).

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        body = client.rollback(endpoint, reason)
    _print(body, as_json)


@rollout_group.command("history")
@click.argument("endpoint")
@context.url_option
@context.key_option
@context.json_option
@wide_option
def history(endpoint: str, url: str | None, api_key: str | None, as_json: bool, wide: bool) -> None:
    """Every revision of ENDPOINT's policy, newest first.

    Uses the API at --url with --api-key.
    """
    with context.client(url, api_key) as client:
        rows = client.deployment_history(endpoint)
    if as_json:
        print_json(rows)
        return
    table = [
        {
            "revision": r["revision"],
            "at": r["at"],
            "actor": r["actor"],
            "kind": r["policy"]["kind"],
            "state": r["policy"]["state"],
            "shares": {v["name"]: v["share"] for v in r["policy"]["variants"] if not v["shadow"]},
            "reason": r["reason"],
        }
        for r in rows
    ]
    columns = ["revision", "at", "actor", "kind", "state", "shares", "reason"]
    print_table(table, columns, title=f"{endpoint} deployments", wide=wide)


def _print(body: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(body)
    else:
        click.echo(summary(body["policy"]))
