"""``Client`` (sync) and ``AsyncClient``: the same operations, matched pair by pair.

    client = ailayer.Client("http://127.0.0.1:8000", api_key="ail_…")
    client.predict("fraud", {"amount": 120.0, ...})

Errors arrive as the ``ailayer.errors`` class the server raised (``InvalidInput``,
``NotFound``, ``Forbidden``, ...) carrying the server's message and ``field``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from ailayer.sdk import calls
from ailayer.sdk import deployments as deployment_calls
from ailayer.sdk import features as feature_calls
from ailayer.sdk import monitoring as monitoring_calls
from ailayer.sdk import teams as team_calls
from ailayer.sdk.calls import Call, seg

DEFAULT_TIMEOUT = 30.0


def _headers(api_key: str) -> dict[str, str]:
    """No ``Authorization`` for an empty key: the server then answers 401 (a bare
    ``Bearer `` is an illegal header that would surface as "cannot reach ailayer")."""
    headers = {"User-Agent": "ailayer-sdk"}
    key = (api_key or "").strip()
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


class _Operations:
    """Every operation as a ``Call``; subclasses define how a call is sent."""

    def _send(self, call: Call) -> Any:
        raise NotImplementedError

    def predict(
        self,
        endpoint: str,
        records: dict | list[dict],
        *,
        explain_features: bool = False,
        columns: bool = False,
    ) -> Any:
        """``explain_features=True`` adds the feature values each prediction used;
        ``columns=True`` answers with ``columns`` (each field's values in order) instead
        of an object per record."""
        return self._send(calls.predict(endpoint, records, explain_features, columns))

    def emit(self, topic: str, events: Any) -> Any:
        """Publish one event or a list to ``topic``; returns the accepted ids. The tenant is
        the key's. Events are ``ailayer.events.Event`` objects or CloudEvents dicts."""
        return self._send(calls.emit(topic, events))

    def list_models(self) -> Any:
        return self._send(Call("GET", "/v1/models"))

    def get_model(self, model: str) -> Any:
        return self._send(Call("GET", f"/v1/models/{seg(model)}"))

    def get_version(self, model: str, version: int) -> Any:
        return self._send(Call("GET", f"/v1/models/{seg(model)}/versions/{seg(version)}"))

    def register_model(
        self,
        model: str,
        artifact: bytes | str | Path,
        *,
        flavor: str,
        signature: dict,
        **metadata: Any,
    ) -> Any:
        """Upload a model file as a new version. ``metadata``: params, metrics, tags,
        description, dataset_version, feature_refs, code_version, pipeline_run, aliases."""
        return self._send(calls.register(model, artifact, flavor, signature, **metadata))

    def set_alias(self, model: str, alias: str, version: int) -> Any:
        return self._send(calls.set_alias(model, alias, version))

    def alias_history(self, model: str) -> Any:
        return self._send(Call("GET", f"/v1/models/{seg(model)}/alias-history"))

    def archive_version(self, model: str, version: int) -> Any:
        path = f"/v1/models/{seg(model)}/versions/{seg(version)}/archive"
        return self._send(Call("POST", path))

    def set_serving(self, model: str, version: int, compiled: bool) -> Any:
        """Serve the version's compiled (ONNX) form, or its original with ``False``."""
        path = f"/v1/models/{seg(model)}/versions/{seg(version)}/serving"
        return self._send(Call("POST", path, json={"compiled": compiled}))

    def quantize(
        self, model: str, version: int, holdout: list[dict] | None = None, label: str | None = None
    ) -> Any:
        """Register the version's int8-quantized variant; the new version and its measured
        deltas (with ``holdout`` records and their ``label`` field, accuracies too)."""
        path = f"/v1/models/{seg(model)}/versions/{seg(version)}/quantize"
        return self._send(Call("POST", path, json={"holdout": holdout, "label": label}))

    def put_endpoint(self, name: str, model: str, alias: str = "champion") -> Any:
        body = {"model": model, "alias": alias}
        return self._send(Call("PUT", f"/v1/endpoints/{seg(name)}", json=body))

    def list_endpoints(self) -> Any:
        return self._send(Call("GET", "/v1/endpoints"))

    # deployments ---------------------------------------------------------------------------
    def deploy(self, endpoint: str, policy: dict[str, Any]) -> Any:
        """Deploy a traffic policy (``kind``, ``variants``, ``sticky_key``, ``canary``);
        returns ``{"endpoint", "policy", "shadow"}`` with the stored revision."""
        return self._send(deployment_calls.deploy(endpoint, policy))

    def deployment(self, endpoint: str) -> Any:
        """The endpoint's policy and the server's shadow counters."""
        return self._send(deployment_calls.deployment(endpoint))

    def promote(self, endpoint: str, to: int | None = None) -> Any:
        """A canary to its next step, or to ``to`` percent (100: promoted to full)."""
        return self._send(deployment_calls.promote(endpoint, to))

    def rollback(self, endpoint: str, reason: str = "") -> Any:
        """The canary to 0% at once, the stable version to 100%."""
        return self._send(deployment_calls.rollback(endpoint, reason))

    def deployment_history(self, endpoint: str) -> Any:
        """Every revision of the endpoint's policy, newest first."""
        return self._send(deployment_calls.history(endpoint))

    # monitoring ---------------------------------------------------------------------------
    def drift(
        self,
        endpoint: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        reference_start: datetime | None = None,
        reference_end: datetime | None = None,
    ) -> Any:
        """Drift per model version in ``[start, end)`` (default: the last day), against each
        version's stored reference or the log between ``reference_start`` and ``_end``."""
        call = monitoring_calls.drift(endpoint, start, end, reference_start, reference_end)
        return self._send(call)

    def report(
        self, endpoint: str, start: datetime | None = None, end: datetime | None = None
    ) -> Any:
        """The endpoint's self-contained HTML monitoring report, as text."""
        return self._send(monitoring_calls.report(endpoint, start, end))

    def upload_reference(
        self, model: str, version: int, rows: bytes | str | Path, *, format: str | None = None
    ) -> Any:
        """Store a version's drift reference from a Parquet, CSV or JSON file (bytes or
        path); ``format`` is needed for bytes, else it comes from the file's extension."""
        return self._send(monitoring_calls.upload_reference(model, version, rows, format))

    def fairness(
        self,
        endpoint: str,
        attribute: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Any:
        """Group fairness of the endpoint's logged decisions by ``attribute``, per version."""
        return self._send(monitoring_calls.fairness(endpoint, attribute, start, end))

    def experiment(
        self,
        endpoint: str,
        metric: str,
        effect: float,
        *,
        alpha: float = 0.05,
        power: float = 0.8,
        control: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Any:
        """The endpoint's A/B result: each variant against ``control`` on ``metric``
        (conversion, accuracy, mean, or a recommender's ndcg@K, precision@K, recall@K),
        with a verdict once the sample for ``effect`` is in."""
        call = monitoring_calls.experiment(
            endpoint,
            metric,
            effect,
            alpha=alpha,
            power=power,
            control=control,
            start=start,
            end=end,
        )
        return self._send(call)

    def send_feedback(self, items: dict[str, Any] | list[dict[str, Any]]) -> Any:
        """Labels for logged predictions: ``{"prediction_id", "label", "time"?}`` or a list;
        returns ``{"accepted", "unknown", "unknown_ids"}`` (retry unknown ids a second later:
        the log trails predictions by up to a second)."""
        return self._send(monitoring_calls.feedback(items))

    def ranking(
        self,
        endpoint: str,
        k: int = 10,
        *,
        window: str = "day",
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Any:
        """A recommender endpoint's precision, recall, NDCG at ``k`` and coverage, per
        model version and ``window`` (hour or day), from its clicks and purchases."""
        return self._send(monitoring_calls.ranking(endpoint, k, window, start, end))

    def cost(self, since: datetime | None = None, until: datetime | None = None) -> Any:
        """The key's tenant's usage and cost per endpoint and model version, events and
        storage, priced by the server's price table (default: the last 30 days)."""
        return self._send(monitoring_calls.cost(since, until))

    def cost_advice(
        self,
        endpoint: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        p99_ms: float = 250.0,
    ) -> Any:
        """Dedicated, autoscaled, spot or serverless for ``endpoint``: each priced for a
        month from a day of its traffic, and the cheapest that meets ``p99_ms``."""
        return self._send(monitoring_calls.cost_advice(endpoint, start, end, p99_ms))

    def list_alert_rules(self) -> Any:
        return self._send(Call("GET", "/v1/alerts/rules"))

    def get_alert_rule(self, name: str) -> Any:
        return self._send(monitoring_calls.alert_rule(name))

    def add_alert_rule(self, rule: dict[str, Any]) -> Any:
        """Declare a rule (``name``, ``kind``, ``metric``, ``op``, ``threshold``, ...)."""
        return self._send(monitoring_calls.add_alert_rule(rule))

    def remove_alert_rule(self, name: str) -> Any:
        return self._send(monitoring_calls.remove_alert_rule(name))

    def alerts(self, limit: int = 100) -> Any:
        """What fires now, and the latest notifications with their delivery outcome."""
        return self._send(monitoring_calls.alerts(limit))

    def create_key(
        self,
        name: str,
        role: str,
        *,
        expires_at: datetime | None = None,
        endpoints: list[str] | None = None,
        team: str | None = None,
    ) -> Any:
        """A new key, shown once; ``expires_at`` (aware) ends it, ``endpoints`` narrows it,
        ``team`` (an existing team) is what it may change (docs/governance.md)."""
        body: dict[str, Any] = {"name": name, "role": role}
        if team is not None:
            body["team"] = team
        if expires_at is not None:
            body["expires_at"] = expires_at.isoformat()
        if endpoints is not None:
            body["endpoints"] = list(endpoints)
        return self._send(Call("POST", "/v1/keys", json=body))

    def rotate_key(self, name: str, overlap_seconds: float = 3600) -> Any:
        """A new secret for the key ``name`` (or prefix); the old one works for the overlap."""
        body = {"overlap_seconds": overlap_seconds}
        return self._send(Call("POST", f"/v1/keys/{seg(name)}/rotate", json=body))

    def set_key_expiry(self, prefix: str, expires_at: datetime | None) -> Any:
        """Give a key an expiry, or none with ``None``."""
        body = {"expires_at": expires_at.isoformat() if expires_at is not None else None}
        return self._send(Call("PUT", f"/v1/keys/{seg(prefix)}/expiry", json=body))

    def list_keys(self) -> Any:
        return self._send(Call("GET", "/v1/keys"))

    def revoke_key(self, prefix: str) -> Any:
        return self._send(Call("DELETE", f"/v1/keys/{seg(prefix)}"))

    def audit(self, target: str = "", limit: int = 100) -> Any:
        return self._send(Call("GET", "/v1/audit", params={"target": target, "limit": limit}))

    def verify_audit(self) -> Any:
        """The tenant's audit chain checked end to end: ``ok`` and the first ``broken``
        link (``seq``, ``entry_id``, ``field``, ``expected``, ``found``), or None."""
        return self._send(Call("GET", "/v1/audit/verify"))

    def export_audit(self, since: datetime | None = None) -> Any:
        """The tenant's audit entries (at or after ``since``) as JSON lines, with hashes."""
        params = {"format": "jsonl"} | ({"since": since.isoformat()} if since else {})
        return self._send(Call("GET", "/v1/audit/export", params=params, text=True))

    # privacy (admin) ----------------------------------------------------------------------
    def export_subject(self, subject: str) -> Any:
        """Every record ailayer holds about ``subject`` (``"customer_id=42"``), per store."""
        return self._send(Call("POST", "/v1/privacy/export", json={"subject": subject}))

    def delete_subject(self, subject: str) -> Any:
        """Erase ``subject`` everywhere ailayer keeps it; the deletion receipt."""
        return self._send(Call("POST", "/v1/privacy/delete", json={"subject": subject}))

    # teams and ownership -------------------------------------------------------------------
    def create_team(self, name: str) -> Any:
        return self._send(team_calls.create(name))

    def list_teams(self) -> Any:
        """Each team with its active keys and the objects it owns (counts)."""
        return self._send(team_calls.listed())

    def delete_team(self, name: str) -> Any:
        """Delete a team no active key names and that owns nothing (else a Conflict)."""
        return self._send(team_calls.delete(name))

    def owners(self, kind: str | None = None, team: str | None = None) -> Any:
        """Owned objects (kind: model, endpoint, feature_view, pipeline), optionally of one team."""
        return self._send(team_calls.owners(kind, team))

    def owner(self, kind: str, name: str) -> Any:
        """``{"kind", "name", "team"}``; ``team`` is None when nobody owns it."""
        return self._send(team_calls.owner(kind, name))

    def set_owner(self, kind: str, name: str, team: str | None) -> Any:
        """Give an object to ``team``, or to no team with None (admin; audited)."""
        return self._send(team_calls.set_owner(kind, name, team))

    # feature store ------------------------------------------------------------------------
    def plan_features(self, definitions: Iterable[Any]) -> Any:
        """What ``apply_features`` would add, change and remove; changes nothing.
        ``definitions``: objects with ``to_spec()`` or spec dicts — the tenant's whole repo."""
        return self._send(feature_calls.plan(definitions))

    def apply_features(self, definitions: Iterable[Any]) -> Any:
        """Register the definitions (the tenant's whole repo); returns the applied plan."""
        return self._send(feature_calls.apply(definitions))

    def list_features(self, kind: str | None = None) -> Any:
        """Active definitions; ``kind``: entity, feature_view, on_demand_view, feature_service."""
        return self._send(feature_calls.list_definitions(kind))

    def get_feature(self, kind: str, name: str) -> Any:
        return self._send(feature_calls.get_definition(kind, name))

    def feature_versions(self, kind: str, name: str) -> Any:
        """Every revision of one definition, oldest first, each with its full spec."""
        return self._send(feature_calls.versions(kind, name))

    def get_online_features(
        self,
        features: str | list[str],
        entity_rows: list[dict[str, Any]],
        request_data: list[dict[str, Any]] | dict[str, Any] | None = None,
        full_names: bool = False,
    ) -> Any:
        """One row per entity row: its keys plus the features (a service name or refs)."""
        return self._send(feature_calls.online(features, entity_rows, request_data, full_names))

    def get_training_set(
        self,
        features: str | list[str],
        entity_rows_or_dataframe: Any,
        timestamp_column: str = "event_timestamp",
        full_names: bool = False,
    ) -> Any:
        """A point-in-time correct training set and its dataset version (a dict whose ``id``
        a model version keeps as ``dataset_version``): ``(DataFrame, dataset)`` for a pandas
        DataFrame, ``(rows, dataset)`` for a list of row dicts."""
        call = feature_calls.training_set(
            features, entity_rows_or_dataframe, timestamp_column, full_names
        )
        return self._send(call)

    def get_dataset(self, dataset_id: str) -> Any:
        return self._send(feature_calls.dataset(dataset_id))

    def start_pipeline_run(self, pipeline: str) -> Any:
        """Start a run of a pipeline declared in the server's feature repo (it works in
        the server's background); the run as it starts."""
        return self._send(Call("POST", f"/v1/pipelines/{seg(pipeline)}/runs"))

    def pipeline_run(self, run_id: str) -> Any:
        return self._send(Call("GET", f"/v1/pipelines/runs/{seg(run_id)}"))

    def resume_pipeline_run(self, run_id: str) -> Any:
        """Carry a failed or interrupted run on (in the server's background)."""
        return self._send(Call("POST", f"/v1/pipelines/runs/{seg(run_id)}/resume"))

    def model_card(self, model: str, version: int, *, html: bool = False) -> Any:
        """The version's model card: a dict, or with ``html=True`` one HTML page (text)."""
        path = f"/v1/models/{seg(model)}/versions/{seg(version)}/card"
        params = {"format": "html" if html else "json"}
        return self._send(Call("GET", path, params=params, text=html))

    def lineage(self, model: str, version: int) -> Any:
        """Sources → feature views → dataset → run → this version → its deployments."""
        return self._send(Call("GET", f"/v1/lineage/{seg(model)}/{seg(version)}"))


class Client(_Operations):
    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url, headers=_headers(api_key), timeout=timeout, transport=transport
        )

    def _send(self, call: Call) -> Any:
        try:
            response = self._http.request(call.method, call.path, **call.kwargs())
        except httpx.TransportError as exc:
            raise calls.unreachable(self.url, exc) from exc
        return calls.answer(call, response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class AsyncClient(_Operations):
    """The async twin of ``Client``: every operation is awaited."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=_headers(api_key), timeout=timeout, transport=transport
        )

    async def _send(self, call: Call) -> Any:  # type: ignore[override]
        try:
            response = await self._http.request(call.method, call.path, **call.kwargs())
        except httpx.TransportError as exc:
            raise calls.unreachable(self.url, exc) from exc
        return calls.answer(call, response)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
