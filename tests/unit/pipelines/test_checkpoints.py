"""Trainers that checkpoint continue from their last saved iteration when a run resumes:
LightGBM and XGBoost boosters end with every round, the earlier ones not trained again."""

from __future__ import annotations

from pathlib import Path

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.pipelines.checkpoint import Checkpoint
from tests.support.pipelines import stack

BOOSTERS = """

ROUNDS = 50


def _fail_once(done):
    if done == 25 and (HERE / "train-raise").exists():
        raise RuntimeError("taken back at round 25")
    with open(HERE / "rounds.log", "a") as log:
        log.write(f"{done}\\n")


def lgb_train(X, y, params, seed, checkpoint):
    import lightgbm

    init, done = checkpoint.lightgbm_start()
    data = lightgbm.Dataset(X.to_numpy(), y.to_numpy())
    options = {"objective": "binary", "seed": seed, "verbose": -1, "num_leaves": 4}
    return lightgbm.train(
        options, data, num_boost_round=ROUNDS - done, init_model=init,
        callbacks=[checkpoint.lightgbm(every=10), lambda env: _fail_once(env.iteration + 1)],
    )


def xgb_train(X, y, params, seed, checkpoint):
    import xgboost

    class Rounds(xgboost.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log):
            _fail_once(model.num_boosted_rounds())
            return False

    init, done = checkpoint.xgboost_start()
    data = xgboost.DMatrix(X.to_numpy(), label=y.to_numpy())
    options = {"objective": "binary:logistic", "seed": seed, "max_depth": 2}
    return xgboost.train(
        options, data, num_boost_round=ROUNDS - done, xgb_model=init,
        callbacks=[checkpoint.xgboost(every=10), Rounds()],
    )


lgb_pipeline = Pipeline(
    "lgb", model="fraud-lgb", features="fraud_features", entities="labels.parquet",
    label="is_fraud", trainer=lgb_train, flavor="lightgbm", compile=False,
)
xgb_pipeline = Pipeline(
    "xgb", model="fraud-xgb", features="fraud_features", entities="labels.parquet",
    label="is_fraud", trainer=xgb_train, flavor="xgboost", compile=False,
)
"""


@pytest.mark.parametrize("pipeline", ["lgb", "xgb"])
def test_a_resumed_run_trains_on_from_the_last_checkpoint(tmp_path: Path, pipeline: str) -> None:
    made = stack(tmp_path, f"sqlite:///{tmp_path / 'meta.db'}", extra=BOOSTERS)
    markers = made.repo.parent
    try:
        (markers / "train-raise").write_text("")
        failed = made.service.run(made.tenant, pipeline, actor="alice")
        assert failed.status == "failed" and "taken back at round 25" in failed.error
        assert failed.artifacts["checkpoint"]["iteration"] == 20
        (markers / "train-raise").unlink()
        (markers / "rounds.log").unlink()

        resumed = made.service.resume(made.tenant, failed.id, actor="alice")
        assert resumed.status == "succeeded", resumed.error
        assert resumed.step("train").outputs["resumed_from_iteration"] == 20
        rounds = [int(line) for line in (markers / "rounds.log").read_text().split()]
        assert rounds == list(range(21, 51))  # rounds 1-20 were not trained again
        version = made.tools.registry.get_version(made.tenant, resumed.model, 1)
        artifact = made.tools.registry.load_artifact(made.tenant, version)
        assert _rounds(pipeline, artifact) == 50
    finally:
        made.close()


def _rounds(pipeline: str, artifact: bytes) -> int:
    if pipeline == "lgb":
        import lightgbm

        return lightgbm.Booster(model_str=artifact.decode()).current_iteration()
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(bytearray(artifact))
    return booster.num_boosted_rounds()


def test_a_fresh_run_starts_from_nothing_and_every_is_checked() -> None:
    class NoRun:
        def latest_checkpoint(self) -> None:
            return None

    checkpoint = Checkpoint(NoRun())  # type: ignore[arg-type]
    assert checkpoint.lightgbm_start() == (None, 0) and checkpoint.resumed_from is None
    with pytest.raises(InvalidInput) as raised:
        checkpoint.lightgbm(every=0)
    assert raised.value.field == "every"
