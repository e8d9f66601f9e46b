"""Teams and ownership over the API with real keys: a developer of team risk may not
change what team growth owns (403 naming growth) — models, endpoints, feature views,
pipelines — while growth's developers and any admin may; unowned objects stay open to
every developer; new objects belong to their creator's team; every change of owner is
in the audit trail; an SSO token's team claim counts like a key's team."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ailayer.bootstrap import build
from ailayer.features.loader import load_definitions
from tests.support.api import Api, make_api
from tests.support.deployments import variant
from tests.support.feature_repo import REPO
from tests.support.oidc import AUDIENCE, ISSUER, local_issuer
from tests.support.pipelines import write_data, write_repo
from tests.support.services import tiny_sklearn_model, upload_form

FINISH_TIMEOUT = 120


class Teams:
    """The API, plus a developer key in team risk and one in team growth."""

    def __init__(self, api: Api) -> None:
        self.api = api
        for team in ("risk", "growth"):
            created = self.post("/v1/teams", {"name": team})
            assert created.status_code == 201, created.text
            key = self.post("/v1/keys", {"name": f"dev-{team}", "role": "developer", "team": team})
            assert key.status_code == 201 and key.json()["team"] == team, key.text
            api.keys[team] = key.json()["key"]

    def post(self, path: str, body: dict | None = None, who: str = "admin"):  # type: ignore[no-untyped-def]
        return self.api.client.post(path, json=body, headers=self.api.headers(who))

    def put(self, path: str, body: dict, who: str = "admin"):  # type: ignore[no-untyped-def]
        return self.api.client.put(path, json=body, headers=self.api.headers(who))

    def own(self, kind: str, name: str, team: str | None) -> None:
        given = self.put(f"/v1/owners/{kind}/{name}", {"team": team})
        assert given.status_code == 200 and given.json()["team"] == team, given.text

    def owner(self, kind: str, name: str) -> str | None:
        return self.api.client.get(
            f"/v1/owners/{kind}/{name}", headers=self.api.headers("viewer")
        ).json()["team"]

    def register(self, model: str, who: str, **metadata):  # type: ignore[no-untyped-def]
        return self.api.register(model, tiny_sklearn_model(), role=who, **metadata)


def refused_for(response, owner: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 403, response.text
    message = response.json()["error"]["message"]
    assert f"owned by team {owner!r}" in message and "'risk'" in message, message


@pytest.fixture
def teams(api: Api) -> Teams:
    return Teams(api)


def test_a_model_of_another_team_is_refused_and_its_owners_and_admins_may_change_it(
    teams: Teams,
) -> None:
    assert teams.register("fraud", "admin", aliases=["champion"]).status_code == 201
    teams.own("model", "fraud", "growth")

    refused_for(teams.register("fraud", "risk"), "growth")
    refused_for(teams.put("/v1/models/fraud/aliases/champion", {"version": 1}, "risk"), "growth")
    refused_for(teams.post("/v1/models/fraud/versions/1/archive", who="risk"), "growth")

    assert teams.register("fraud", "growth").status_code == 201
    assert teams.register("fraud", "admin").status_code == 201
    moved = teams.put("/v1/models/fraud/aliases/champion", {"version": 2}, "growth")
    assert moved.status_code == 200, moved.text
    # reading stays open to every role and team
    shown = teams.api.client.get("/v1/models/fraud", headers=teams.api.headers("risk"))
    assert shown.status_code == 200


def test_an_endpoint_of_another_team_is_refused(teams: Teams) -> None:
    assert teams.register("fraud", "admin", aliases=["champion"]).status_code == 201
    assert teams.put("/v1/endpoints/scoring", {"model": "fraud"}).status_code == 200
    teams.own("endpoint", "scoring", "growth")

    refused_for(teams.put("/v1/endpoints/scoring", {"model": "fraud"}, "risk"), "growth")
    policy = {"variants": [variant("stable", 1, 100)]}
    refused_for(teams.put("/v1/endpoints/scoring/deployment", policy, "risk"), "growth")
    refused_for(teams.post("/v1/endpoints/scoring/deployment/rollback", {}, "risk"), "growth")

    deployed = teams.put("/v1/endpoints/scoring/deployment", policy, "growth")
    assert deployed.status_code == 200, deployed.text
    assert teams.put("/v1/endpoints/scoring", {"model": "fraud"}).status_code == 200


def test_a_feature_view_of_another_team_may_be_neither_changed_nor_removed(
    teams: Teams,
) -> None:
    specs = [obj.to_spec() for obj in REPO]
    applied = teams.post("/v1/features/apply", {"definitions": specs})
    assert applied.status_code == 200, applied.text
    teams.own("feature_view", "merchant_risk", "growth")

    changed = [
        {**spec, "description": "risk of the merchant"} if spec["name"] == "merchant_risk" else spec
        for spec in specs
    ]
    refused_for(teams.post("/v1/features/apply", {"definitions": changed}, "risk"), "growth")
    without = [s for s in specs if s["name"] not in ("merchant_risk", "fraud")]
    refused_for(teams.post("/v1/features/apply", {"definitions": without}, "risk"), "growth")
    view = teams.api.client.get(
        "/v1/features/feature_view/merchant_risk", headers=teams.api.headers("viewer")
    )
    assert view.json()["spec"]["description"] == ""  # nothing of the refused apply stored

    # a view nobody owns stays open: risk's developer changes customer_stats
    stats = [
        {**spec, "description": "per customer"} if spec["name"] == "customer_stats" else spec
        for spec in specs
    ]
    assert teams.post("/v1/features/apply", {"definitions": stats}, "risk").status_code == 200
    assert teams.post("/v1/features/apply", {"definitions": changed}, "growth").status_code == 200


def test_new_objects_belong_to_their_creators_team_and_unowned_ones_stay_open(
    teams: Teams,
) -> None:
    assert teams.register("churn", "risk", aliases=["champion"]).status_code == 201
    assert teams.owner("model", "churn") == "risk"
    assert teams.put("/v1/endpoints/churn", {"model": "churn"}, "risk").status_code == 200
    assert teams.owner("endpoint", "churn") == "risk"
    answer = teams.register("churn", "growth")
    assert answer.status_code == 403 and "owned by team 'risk'" in answer.text

    # a developer key without a team creates unowned objects, which any developer changes
    assert teams.register("legacy", "developer").status_code == 201
    assert teams.owner("model", "legacy") is None
    assert teams.register("legacy", "growth").status_code == 201
    assert teams.owner("model", "legacy") is None  # a later version claims nothing


def test_ownership_changes_are_audited_and_admin_only(teams: Teams) -> None:
    assert teams.register("fraud", "growth").status_code == 201  # claimed by growth
    refused = teams.put("/v1/owners/model/fraud", {"team": "risk"}, "growth")
    assert refused.status_code == 403 and "teams:manage" in refused.text
    teams.own("model", "fraud", "risk")
    teams.own("model", "fraud", None)

    entries = teams.api.client.get(
        "/v1/audit", params={"target": "model/fraud"}, headers=teams.api.headers()
    ).json()
    owned = [e for e in entries[::-1] if e["action"] == "owner.set"]  # oldest first
    changes = [(e["detail"]["previous"], e["detail"]["team"]) for e in owned]
    assert changes == [(None, "growth"), ("growth", "risk"), ("risk", None)]
    assert owned[0]["actor"].startswith("dev-growth") and owned[0]["detail"]["reason"] == "created"
    assert owned[1]["actor"].startswith("admin-key")

    missing = teams.put("/v1/owners/model/nope", {"team": "risk"})
    assert missing.status_code == 404
    no_team = teams.put("/v1/owners/model/fraud", {"team": "nobody"})
    assert no_team.status_code == 404 and no_team.json()["error"]["field"] == "team"
    bad_kind = teams.put("/v1/owners/dataset/fraud", {"team": "risk"})
    assert bad_kind.status_code == 422


def test_teams_keys_and_deletion(teams: Teams) -> None:
    unknown = teams.post("/v1/keys", {"name": "k", "role": "developer", "team": "nobody"})
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "team"
    listed = teams.api.client.get("/v1/teams", headers=teams.api.headers("viewer")).json()
    assert [(t["name"], t["keys"], t["owns"]) for t in listed] == [
        ("growth", 1, 0),
        ("risk", 1, 0),
    ]
    in_use = teams.api.client.delete("/v1/teams/risk", headers=teams.api.headers())
    assert in_use.status_code == 409 and "1 active key" in in_use.text
    assert teams.post("/v1/teams", {"name": "spare"}).status_code == 201
    assert teams.post("/v1/teams", {"name": "spare"}).status_code == 409
    gone = teams.api.client.delete("/v1/teams/spare", headers=teams.api.headers())
    assert gone.status_code == 204
    keys = teams.api.client.get("/v1/keys", headers=teams.api.headers()).json()
    assert {k["name"]: k["team"] for k in keys}["dev-risk"] == "risk"
    scoped = teams.post("/v1/keys", {"name": "s", "role": "admin", "endpoints": ["x"]})
    teams.api.keys["scoped"] = scoped.json()["key"]
    denied = teams.post("/v1/teams", {"name": "other"}, "scoped")
    assert denied.status_code == 403 and "may not manage teams" in denied.text


def test_an_sso_tokens_team_claim_is_honoured(make_settings) -> None:  # type: ignore[no-untyped-def]
    with local_issuer() as issuer:
        services = build(
            make_settings(
                oidc_issuer=ISSUER,
                oidc_audience=AUDIENCE,
                oidc_jwks_url=issuer.jwks_url,
                oidc_jwks_refresh_seconds=0,
            )
        )
        api = make_api(services)
        try:
            teams = Teams(api)
            assert teams.register("fraud", "admin").status_code == 201
            teams.own("model", "fraud", "growth")
            for team, status in (("risk", 403), ("growth", 201)):
                headers = {"Authorization": f"Bearer {issuer.token(team=team)}"}
                answer = api.client.post(
                    "/v1/models/fraud/versions",
                    headers=headers,
                    **upload_form(tiny_sklearn_model()),
                )
                assert answer.status_code == status, answer.text
            teamless = api.client.post(
                "/v1/models/fraud/versions",
                headers={"Authorization": f"Bearer {issuer.token(team=None)}"},
                **upload_form(tiny_sklearn_model()),
            )
            assert teamless.status_code == 403 and "no team" in teamless.text
            # a team named only by the identity provider is made when it first owns something
            headers = {"Authorization": f"Bearer {issuer.token(team='payments')}"}
            made = api.client.post(
                "/v1/models/payouts/versions", headers=headers, **upload_form(tiny_sklearn_model())
            )
            assert made.status_code == 201 and teams.owner("model", "payouts") == "payments"
        finally:
            api.client.close()
            services.close()


@pytest.fixture
def pipeline_api(make_settings, tmp_path: Path) -> Iterator[Teams]:  # type: ignore[no-untyped-def]
    repo = write_repo(tmp_path / "repo")
    services = build(make_settings(feature_repo=str(repo)))
    api = make_api(services)
    services.features.apply(api.tenant_id, "alice", load_definitions(repo))
    write_data(services.settings.home / "offline" / api.tenant_id)
    try:
        yield Teams(api)
    finally:
        api.client.close()
        services.close()


def test_a_pipeline_of_another_team_is_refused(pipeline_api: Teams) -> None:
    teams = pipeline_api
    teams.own("pipeline", "fraud-weekly", "growth")
    refused_for(teams.post("/v1/pipelines/fraud-weekly/runs", who="risk"), "growth")
    # the run registers the pipeline's model: a model of another team refuses it too
    assert teams.register("fraud", "admin").status_code == 201
    teams.own("model", "fraud", "risk")
    answer = teams.post("/v1/pipelines/fraud-weekly/runs", who="growth")
    assert answer.status_code == 403 and "model 'fraud' is owned by team 'risk'" in answer.text

    started = teams.post("/v1/pipelines/fraud-weekly/runs")  # an admin may
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + FINISH_TIMEOUT
    run_id = started.json()["id"]
    while True:
        run = teams.api.client.get(f"/v1/pipelines/runs/{run_id}", headers=teams.api.headers())
        if run.json()["status"] != "running":
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert run.json()["status"] == "succeeded", run.json()["error"]


def test_teams_and_owners_on_both_metadata_databases(make_settings, metadata_url: str) -> None:  # type: ignore[no-untyped-def]
    services = build(make_settings(metadata_url=metadata_url))
    api = make_api(services)
    try:
        teams = Teams(api)
        assert teams.register("fraud", "risk").status_code == 201
        assert teams.owner("model", "fraud") == "risk"
        answer = teams.register("fraud", "growth")
        assert answer.status_code == 403 and "owned by team 'risk'" in answer.text
        teams.own("model", "fraud", "growth")
        assert teams.register("fraud", "growth").status_code == 201
        gone = api.client.delete("/v1/teams/risk", headers=api.headers())
        assert gone.status_code == 409  # its developer key is still active
        verdict = api.client.get("/v1/audit/verify", headers=api.headers()).json()
        assert verdict["ok"], verdict
    finally:
        api.client.close()
        services.close()
