"""``ailayer score``: a file through the endpoint's model on DuckDB and on Spark (local),
with the same scores; bad input as one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from tests.support.batch_score import Scoring, payments, scoring_home
from tests.support.cli import assert_one_clear_error, ok, run

pytestmark = pytest.mark.integration

ROWS = 3000


@pytest.fixture
def scoring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scoring:
    monkeypatch.chdir(tmp_path)
    home = tmp_path / ".ailayer"
    monkeypatch.setenv("AILAYER_HOME", str(home))
    return scoring_home(home)


def expected_scores(scoring: Scoring, table: pa.Table) -> np.ndarray:
    x = np.column_stack([table["amount"].to_numpy(), table["card_age_days"].to_numpy()])
    return scoring.model.estimator.predict_proba(x.astype(np.float64))[:, 1]


def test_scores_a_parquet_file_in_batches(scoring: Scoring, tmp_path: Path) -> None:
    table = payments(ROWS)
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=500)
    result = ok(
        "score", "fraud", "--input", "in.parquet", "--output", "out.parquet",
        "--api-key", scoring.key, "--json",
    )  # fmt: skip
    summary = json.loads(result.stdout)
    assert summary | {"output": None} == {
        "endpoint": "fraud", "model": "fraud", "version": 1, "rows": ROWS,
        "engine": "duckdb", "output": None,
    }  # fmt: skip
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column_names == [*table.column_names, "prediction", "score"]
    assert out.select(table.column_names).equals(table)  # every row, in order, untouched
    np.testing.assert_allclose(out["score"].to_numpy(), expected_scores(scoring, table), atol=1e-6)
    assert set(out["prediction"].to_pylist()) <= {0, 1}


def test_scores_csv_to_csv_with_a_progress_bar(scoring: Scoring, tmp_path: Path) -> None:
    table = payments(200)
    pa_csv.write_csv(table, tmp_path / "in.csv")
    result = ok(
        "score", "fraud", "--input", "in.csv", "--output", "out.csv", "--api-key", scoring.key
    )
    assert "scoring (rows)" in result.stdout and "200/200" in result.stdout
    assert result.stdout.strip().endswith("Scored 200 rows with fraud v1 on duckdb into out.csv")
    out = pa_csv.read_csv(tmp_path / "out.csv")
    np.testing.assert_allclose(out["score"].to_numpy(), expected_scores(scoring, table), atol=1e-6)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"drop": "amount"}, "no column for the model's inputs: amount (double)"),
        ({"add": "score"}, "already has a column 'score'"),
        ({"null": "card_age_days"}, "column 'card_age_days' is empty at row 3"),
        ({"output": "exists"}, "--output 'out.parquet' already exists"),
        ({"output": "out.json"}, "--output must name a .parquet, .pq or .csv file"),
        ({"endpoint": "nope"}, "nope"),
    ],
)
def test_bad_input_is_one_clear_line(scoring: Scoring, tmp_path: Path, change, words) -> None:  # type: ignore[no-untyped-def]
    table = payments(10)
    if "drop" in change:
        table = table.drop_columns([change["drop"]])
    if "add" in change:
        table = table.append_column(change["add"], pa.array([0.5] * 10))
    if "null" in change:
        values = table[change["null"]].to_pylist()
        values[3] = None
        table = table.set_column(2, change["null"], pa.array(values, pa.int64()))
    pq.write_table(table, tmp_path / "in.parquet")
    output = change.get("output", "out.parquet")
    if output == "exists":
        output = "out.parquet"
        (tmp_path / output).write_bytes(b"mine")
    endpoint = change.get("endpoint", "fraud")
    result = run(
        "score", endpoint, "--input", "in.parquet", "--output", output, "--api-key", scoring.key
    )
    assert_one_clear_error(result, 1, words)
    if output == "out.parquet" and "exists" not in change.get("output", ""):
        assert not (tmp_path / "out.parquet").exists()  # nothing half-written is left


def test_spark_scores_the_same(
    spark: object, scoring: Scoring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = payments(ROWS, seed=3)
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=700)
    ok(
        "score",
        "fraud",
        "--input",
        "in.parquet",
        "--output",
        "duck.parquet",
        "--api-key",
        scoring.key,
    )
    monkeypatch.setenv("AILAYER_BATCH_ENGINE", "spark")
    monkeypatch.setenv("AILAYER_SPARK_MASTER", "local[2]")
    result = ok(
        "score", "fraud", "--input", "in.parquet", "--output", "spark.parquet",
        "--api-key", scoring.key,
    )  # fmt: skip
    assert "scoring (tasks)" in result.stdout  # the bar counts Spark's tasks
    assert f"Scored {ROWS} rows with fraud v1 on spark into spark.parquet" in result.stdout

    duck = pq.read_table(tmp_path / "duck.parquet")
    on_spark = ds.dataset(tmp_path / "spark.parquet").to_table().sort_by("id")
    assert on_spark.column_names == duck.column_names
    assert on_spark.select(["id", "prediction"]).equals(duck.select(["id", "prediction"]))
    np.testing.assert_array_equal(on_spark["score"].to_numpy(), duck["score"].to_numpy())


def test_a_bad_value_on_spark_is_one_clear_line(
    spark: object, scoring: Scoring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = payments(50)
    values = table["amount"].to_pylist()
    values[40] = float("inf")
    pq.write_table(
        table.set_column(1, "amount", pa.array(values)), tmp_path / "in.parquet", row_group_size=20
    )
    monkeypatch.setenv("AILAYER_BATCH_ENGINE", "spark")
    result = run(
        "score", "fraud", "--input", "in.parquet", "--output", "out.parquet",
        "--api-key", scoring.key, "--json",
    )  # fmt: skip
    assert_one_clear_error(result, 1, "column 'amount' is not finite")


def test_an_unreachable_master_is_one_clear_line(
    scoring: Scoring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pyspark")
    pq.write_table(payments(10), tmp_path / "in.parquet")
    monkeypatch.setenv("AILAYER_BATCH_ENGINE", "spark")
    monkeypatch.setenv("AILAYER_SPARK_MASTER", "spark://127.0.0.1:1")
    monkeypatch.setenv("AILAYER_SPARK_TIMEOUT_SECONDS", "2")
    result = run(
        "score", "fraud", "--input", "in.parquet", "--output", "out.parquet",
        "--api-key", scoring.key,
    )  # fmt: skip
    assert_one_clear_error(result, 1, "spark_master 'spark://127.0.0.1:1'")
