"""Checkpoints inside the train step: a trainer that saves its progress continues from
the last saved iteration when its run is resumed, instead of training from the start.

A trainer gets a ``Checkpoint`` when it takes a ``checkpoint`` keyword argument. Saved
models go to the artifact store (by content, for the tenant) and the run's record points
at the latest, so a run resumed on another machine finds it too. The helpers cover
LightGBM and XGBoost, whose boosters continue from an initial model:

    def train(X, y, params, seed, checkpoint):
        init, done = checkpoint.lightgbm_start()
        return lightgbm.train(params, lightgbm.Dataset(X.to_numpy(), y.to_numpy()),
                              num_boost_round=params["rounds"] - done, init_model=init,
                              callbacks=[checkpoint.lightgbm(every=10)])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

CHECKPOINT = "checkpoint"


class RunArtifacts(Protocol):
    """What a checkpoint needs of the run in progress (the train step's ``Work``)."""

    def latest_checkpoint(self) -> dict[str, Any] | None: ...

    def save_checkpoint(self, data: bytes, iteration: int) -> None: ...

    def load(self, ref: dict[str, Any]) -> bytes: ...


class Checkpoint:
    def __init__(self, run: RunArtifacts) -> None:
        self.run = run
        self.resumed_from: int | None = None  # the iteration a resumed attempt began at

    def latest(self) -> tuple[bytes, int] | None:
        """The last saved model and its iteration count, from an earlier attempt."""
        ref = self.run.latest_checkpoint()
        if ref is None:
            return None
        self.resumed_from = int(ref["iteration"])
        return self.run.load(ref), self.resumed_from

    def save(self, data: bytes, iteration: int) -> None:
        """Keep ``data`` (the model after ``iteration`` iterations) as the latest."""
        self.run.save_checkpoint(data, iteration)

    # LightGBM ------------------------------------------------------------------------------
    def lightgbm_start(self) -> tuple[Any, int]:
        """(a Booster to continue from or None, the iterations it holds)."""
        found = self.latest()
        if found is None:
            return None, 0
        import lightgbm

        data, iteration = found
        return lightgbm.Booster(model_str=data.decode()), iteration

    def lightgbm(self, every: int = 10) -> Callable[[Any], None]:
        """A ``lightgbm.train`` callback saving the booster every ``every`` iterations."""
        _check_every(every)

        def save(env: Any) -> None:
            done = env.iteration + 1  # counts the initial model's iterations too
            if done % every == 0:
                self.save(env.model.model_to_string().encode(), done)

        save.order = 100  # type: ignore[attr-defined]  # after LightGBM's own callbacks
        return save

    # XGBoost -------------------------------------------------------------------------------
    def xgboost_start(self) -> tuple[Any, int]:
        """(a Booster to continue from, as ``xgb_model=``, or None; its iterations)."""
        found = self.latest()
        if found is None:
            return None, 0
        import xgboost

        data, iteration = found
        booster = xgboost.Booster()
        booster.load_model(bytearray(data))
        return booster, iteration

    def xgboost(self, every: int = 10) -> Any:
        """An ``xgboost.train`` callback saving the booster every ``every`` rounds."""
        _check_every(every)
        import xgboost

        checkpoint = self

        class Save(xgboost.callback.TrainingCallback):
            def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
                done = model.num_boosted_rounds()
                if done % every == 0:
                    checkpoint.save(bytes(model.save_raw("json")), done)
                return False

        return Save()


def _check_every(every: int) -> None:
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        from ailayer.core.errors import InvalidInput

        raise InvalidInput("every must be a whole number of iterations, 1 or more", field="every")
