"""Definitions check themselves and name the field; specs round-trip; files load safely."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.features import (
    Entity,
    Feature,
    FeatureService,
    FeatureView,
    OnDemandView,
    ParquetSource,
    PostgresSource,
    load_definitions,
)
from tests.support.feature_repo import REPO, amount_ratio, customer, customer_stats

SOURCE = ParquetSource("x.parquet")


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Entity("customer", {"id": float}), "join_keys.id"),
        (lambda: Entity("customer", {}), "join_keys"),
        (lambda: Entity("bad name", {"id": int}), "entity.name"),
        (lambda: Feature("x", "decimal"), "features.x.dtype"),
        (lambda: Feature("x", int, default="zero"), "features.x.default"),
        (lambda: FeatureView("v", [customer], [], SOURCE), "features"),
        (lambda: FeatureView("v", [], [Feature("x", int)], SOURCE), "entities"),
        (
            lambda: FeatureView("v", [customer], [Feature("x", int)], SOURCE, ttl=timedelta(0)),
            "ttl",
        ),
        (lambda: FeatureView("v", [customer], [Feature("x", int)], SOURCE, version=0), "version"),
        (lambda: FeatureView("v", [customer], [Feature("customer_id", int)], SOURCE), "features"),
        (lambda: FeatureView("v", [customer], [Feature("x", int)], "data.parquet"), "source"),
        (lambda: PostgresSource("postgresql://u:secret@h/db", "t"), "source.url"),
        (lambda: PostgresSource("env:PG", "t; drop table x"), "source.table"),
        (lambda: OnDemandView("o", [Feature("y", float)], inputs=["no_colon"]), "inputs"),
        (
            lambda: OnDemandView("o", [Feature("y", float)], inputs=["v:a"], request={"a": int}),
            "inputs",
        ),
        (lambda: FeatureService("s", []), "features"),
    ],
)
def test_bad_definitions_name_the_field(build, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as caught:
        build()
    assert caught.value.field == field, caught.value.message


def test_specs_round_trip() -> None:
    assert FeatureView.from_spec(customer_stats.to_spec()) == customer_stats
    rebuilt = OnDemandView.from_spec(amount_ratio.to_spec())
    assert rebuilt.function is None
    assert rebuilt.code_sha256 == amount_ratio.code_sha256 != ""
    assert "avg_amount" in rebuilt.source_code


def test_a_feature_service_expands_views_to_refs() -> None:
    service = FeatureService("s", [customer_stats, "customer_stats:avg_amount"])
    assert service.features == ("customer_stats:avg_amount", "customer_stats:txn_count")


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


GOOD = """
from datetime import timedelta
from ailayer.features import Entity, Feature, FeatureView, ParquetSource

user = Entity("user", {"user_id": int})
stats = FeatureView("stats", [user], [Feature("n", int)], ParquetSource("s.parquet"), ttl=timedelta(hours=1))
"""


def test_load_definitions_from_file_directory_and_module(tmp_path: Path) -> None:
    loaded = load_definitions(write(tmp_path / "repo.py", GOOD))
    assert sorted(type(o).__name__ for o in loaded) == ["Entity", "FeatureView"]
    write(tmp_path / "_private.py", "raise RuntimeError('not loaded')")
    assert len(load_definitions(tmp_path)) == 2
    assert {o.name for o in load_definitions("tests.support.feature_repo")} == {
        o.name for o in REPO
    }


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("x = 1\ndef broken(:\n", 2, "invalid syntax"),
        ("import os\n\nraise RuntimeError('boom')\n", 3, "RuntimeError: boom"),
        (
            "from ailayer.features import Feature\nx = 1\nf = Feature('x', 'decimal')\n",
            3,
            "features.x.dtype must be one of",
        ),
        ("import sys\nsys.exit(3)\n", 2, "SystemExit"),
    ],
)
def test_a_file_that_fails_names_file_and_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    path = write(tmp_path / "defs.py", text)
    with pytest.raises(InvalidInput) as caught:
        load_definitions(path)
    assert caught.value.field == "path"
    assert f"{path}:{line}:" in caught.value.message
    assert words in caught.value.message


def test_missing_file_or_module(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        load_definitions(tmp_path / "nope.py")
    with pytest.raises(InvalidInput, match="no definitions file or module"):
        load_definitions("no_such_module_xyz")


def test_a_catalog_takes_subclasses_of_definitions_and_refuses_other_objects() -> None:
    from dataclasses import fields

    from ailayer.features.catalog import Catalog

    class TeamView(FeatureView):
        """A team's own FeatureView subclass, as a base class for its views."""

    view = TeamView(**{f.name: getattr(customer_stats, f.name) for f in fields(FeatureView)})
    catalog = Catalog.of([customer, view])
    assert catalog.views == {view.name: view} and catalog.entities == {"customer": customer}
    with pytest.raises(InvalidInput) as refused:
        Catalog.of([customer, "not a definition"])
    assert refused.value.field == "definitions"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({}, "kind"),
        ({"kind": "nonsense"}, "kind"),
        ("not an object", "definitions"),
        ({"kind": "entity"}, "name"),
        ({"kind": "feature_view", "name": "v"}, "entities"),
        ({"kind": "entity", "name": "e", "join_keys": 7}, "join_keys"),
    ],
)
def test_a_malformed_spec_is_invalid_input_naming_the_field(spec, field: str) -> None:  # type: ignore[no-untyped-def]
    from ailayer.features.definitions import from_spec

    with pytest.raises(InvalidInput) as excinfo:
        from_spec(spec)
    assert excinfo.value.field == field


def test_plan_and_apply_answer_422_for_a_definition_without_kind(api) -> None:  # type: ignore[no-untyped-def]
    for route in ("/v1/features/plan", "/v1/features/apply"):
        response = api.client.post(route, headers=api.headers(), json={"definitions": [{}]})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == "definitions.0.kind"
