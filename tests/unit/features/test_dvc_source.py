"""A DVC-tracked file as a feature view's source, by path and revision.

Each test builds a real git + DVC repository in its tmp_path with a local DVC remote, two
revisions of the data pushed to it, and the local cache and working copy removed, so a
read can only come from the remote through the revision's ``.dvc`` file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from ailayer.core.errors import InvalidInput
from ailayer.features import DvcSource, Feature, FeatureRegistry, FeatureView, OfflineStore
from ailayer.features.definitions import source_from_spec
from ailayer.features.dvc_source import resolve_commit
from tests.support.feature_repo import customer, database, ts

DATA = "data/customer_stats.parquet"
CSV = "data/customer_stats.csv"


@dataclass
class DvcRepo:
    path: Path
    first: str  # commit of revision 1
    second: str  # commit of revision 2


def run(cwd: Path, *args: str) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout.strip()


def dvc(cwd: Path, *args: str) -> str:
    return run(cwd, sys.executable, "-m", "dvc", *args)


def write_stats(repo: Path, rows: list[tuple[int, float, float]]) -> None:
    """The same rows as Parquet and as CSV."""
    frame = pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "ts": [ts(r[1]) for r in rows],
            "avg_amount": [r[2] for r in rows],
        }
    )
    frame.to_parquet(repo / DATA, index=False)
    frame.to_csv(repo / CSV, index=False)


def commit(repo: Path, message: str) -> str:
    dvc(repo, "add", DATA, CSV)
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-q", "-m", message)
    dvc(repo, "push")
    return run(repo, "git", "rev-parse", "HEAD")


@pytest.fixture(scope="module", autouse=True)
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """DVC's and git's state, configuration and temporary clones stay in a test folder."""
    from dvc.repo.open_repo import clean_repos

    root = tmp_path_factory.mktemp("dvc")
    (root / "tmp").mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DVC_NO_ANALYTICS", "1")
        for name in ("SITE_CACHE", "GLOBAL_CONFIG", "SYSTEM_CONFIG"):
            env.setenv(f"DVC_{name}_DIR", str(root / name.lower()))
        for who in ("AUTHOR", "COMMITTER"):
            env.setenv(f"GIT_{who}_NAME", "ailayer tests")
            env.setenv(f"GIT_{who}_EMAIL", "tests@ailayer.invalid")
        env.setattr(tempfile, "tempdir", str(root / "tmp"))
        yield root
        clean_repos()


@pytest.fixture(scope="module")
def built_repo(sandbox: Path) -> DvcRepo:
    """Revision 1 (tag v1): customer 1 at 10.0; revision 2 (tag v2): 15.0, customer 2;
    tag unpushed: committed, never pushed."""
    repo = sandbox / "repo"
    (repo / "data").mkdir(parents=True)
    run(repo, "git", "init", "-q")
    dvc(repo, "init", "-q")
    dvc(repo, "remote", "add", "-d", "local", str(sandbox / "remote"))
    write_stats(repo, [(1, 0, 10.0)])
    first = commit(repo, "customer stats, first cut")
    run(repo, "git", "tag", "v1")
    write_stats(repo, [(1, 0, 10.0), (1, 2, 15.0), (2, 1, 7.0)])
    second = commit(repo, "customer stats, second cut")
    run(repo, "git", "tag", "v2")
    write_stats(repo, [(3, 0, 1.0)])
    dvc(repo, "add", DATA, CSV)
    run(repo, "git", "commit", "-q", "-am", "customer stats, never pushed")
    run(repo, "git", "tag", "unpushed")
    (repo / DATA).unlink()
    (repo / CSV).unlink()
    return DvcRepo(repo, first, second)


@pytest.fixture
def dvc_repo(built_repo: DvcRepo) -> DvcRepo:
    """The repository with an empty local cache: every read comes from the remote."""
    shutil.rmtree(built_repo.path / ".dvc" / "cache", ignore_errors=True)
    return built_repo


def stats_view(repo: DvcRepo, rev: str, path: str = DATA) -> FeatureView:
    return FeatureView(
        "customer_stats",
        entities=[customer],
        features=[Feature("avg_amount", float)],
        source=DvcSource(str(repo.path), path, rev=rev, timestamp_field="ts"),
        ttl=timedelta(days=1),
    )


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    db, tenant = database(f"sqlite:///{tmp_path / 'meta.db'}")
    registry = FeatureRegistry(db)
    offline = OfflineStore(
        f"file://{tmp_path / 'offline'}", db, registry, allow_external_paths=True
    )
    yield offline, registry, tenant
    db.dispose()


def training_set(store, view: FeatureView) -> list[float | None]:  # type: ignore[no-untyped-def]
    offline, registry, tenant = store
    registry.apply(tenant, "alice", [customer, view])
    entities = pd.DataFrame(
        {"customer_id": [1, 1, 2], "event_timestamp": [ts(1), ts(3), ts(3)], "label": [0, 1, 0]}
    )
    frame, _ = offline.get_training_set(tenant, entities, ["customer_stats:avg_amount"])
    return [None if pd.isna(v) else v for v in frame["avg_amount"]]


def test_each_revision_reads_its_own_data_from_the_remote(dvc_repo: DvcRepo, store) -> None:  # type: ignore[no-untyped-def]
    assert training_set(store, stats_view(dvc_repo, "v1")) == [10.0, 10.0, None]
    assert training_set(store, stats_view(dvc_repo, "v2")) == [10.0, 15.0, 7.0]
    assert training_set(store, stats_view(dvc_repo, dvc_repo.first)) == [10.0, 10.0, None]
    assert training_set(store, stats_view(dvc_repo, dvc_repo.second[:12])) == [10.0, 15.0, 7.0]
    assert not (dvc_repo.path / DATA).exists()  # read from the remote, not a working copy


def test_a_revision_resolves_to_the_commit_a_run_records(dvc_repo: DvcRepo) -> None:
    for rev, commit in (
        ("v1", dvc_repo.first),
        ("v2", dvc_repo.second),
        (dvc_repo.first[:10], dvc_repo.first),
    ):
        source = stats_view(dvc_repo, rev).source
        assert resolve_commit(source, "customer_stats", allow_external_paths=True) == commit
    with pytest.raises(InvalidInput) as error:
        resolve_commit(
            stats_view(dvc_repo, "v9").source, "customer_stats", allow_external_paths=True
        )
    assert error.value.field == "source.rev" and "'v9'" in error.value.message
    with pytest.raises(InvalidInput) as error:
        resolve_commit(
            stats_view(dvc_repo, "v1").source, "customer_stats", allow_external_paths=False
        )
    assert error.value.field == "source.repo"


def test_a_csv_file_reads_like_parquet(dvc_repo: DvcRepo, store) -> None:  # type: ignore[no-untyped-def]
    assert training_set(store, stats_view(dvc_repo, "v2", path=CSV)) == [10.0, 15.0, 7.0]


def test_data_that_was_never_pushed_is_named(dvc_repo: DvcRepo, store) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as error:
        training_set(store, stats_view(dvc_repo, "unpushed"))
    assert error.value.field == "source.path"
    assert "'unpushed'" in error.value.message and "dvc push" in error.value.message


def test_a_revision_that_does_not_exist_is_named(dvc_repo: DvcRepo, store) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as error:
        training_set(store, stats_view(dvc_repo, "v3"))
    assert error.value.field == "source.rev"
    assert "revision 'v3' does not exist" in error.value.message
    assert "customer_stats" in error.value.message


def test_a_path_missing_at_the_revision_is_named(dvc_repo: DvcRepo, store) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as error:
        training_set(store, stats_view(dvc_repo, "v1", path="data/other.parquet"))
    assert error.value.field == "source.path" and "data/other.parquet" in error.value.message


def test_a_directory_that_is_no_repository_is_named(tmp_path: Path, store) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "plain").mkdir()
    with pytest.raises(InvalidInput) as error:
        training_set(store, stats_view(DvcRepo(tmp_path / "plain", "", ""), "v1"))
    assert error.value.field == "source.repo"


def test_a_server_that_keeps_tenants_in_their_folders_refuses_it(
    dvc_repo: DvcRepo, tmp_path: Path
) -> None:
    db, tenant = database(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        registry = FeatureRegistry(db)
        offline = OfflineStore(f"file://{tmp_path / 'shared'}", db, registry)
        with pytest.raises(InvalidInput) as error:
            training_set((offline, registry, tenant), stats_view(dvc_repo, "v1"))
        assert error.value.field == "source.repo"
        assert "allow_external_feature_paths" in error.value.message
    finally:
        db.dispose()


def test_the_source_round_trips_through_its_spec() -> None:
    source = DvcSource("https://example.com/data.git", "a/b.csv", rev="v1", timestamp_field="ts")
    assert source_from_spec(source.to_spec()) == source
    assert source.to_spec()["type"] == "dvc"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"repo": "", "path": "a.parquet", "rev": "v1"}, "source.repo"),
        ({"repo": "r", "path": "/etc/a.parquet", "rev": "v1"}, "source.path"),
        ({"repo": "r", "path": "../a.parquet", "rev": "v1"}, "source.path"),
        ({"repo": "r", "path": "a.txt", "rev": "v1"}, "source.path"),
        ({"repo": "r", "path": 3, "rev": "v1"}, "source.path"),
        ({"repo": "r", "path": "a.parquet", "rev": ""}, "source.rev"),
        ({"repo": "r", "path": "a.parquet", "rev": "--upload-pack=x"}, "source.rev"),
        ({"repo": "r", "path": "a.parquet", "rev": "v1 v2"}, "source.rev"),
    ],
)
def test_a_bad_declaration_is_refused(args: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        DvcSource(**args)
    assert error.value.field == field


def test_the_cli_describes_it_by_path_revision_and_repository() -> None:
    from ailayer.cli.features import _describe

    spec = DvcSource("../data-repo", "a/b.parquet", rev="v2", timestamp_field="ts").to_spec()
    assert _describe("source", spec) == "dvc a/b.parquet@v2 in ../data-repo (time: ts)"
