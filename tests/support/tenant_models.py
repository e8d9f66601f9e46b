"""Many small, real, distinct models, as a SaaS with one model per customer has them.

A per-tenant model here is a scikit-learn ``LogisticRegression`` whose coefficients are
set from its number rather than fitted (fitting a thousand costs seconds; the saved skops
file and its predictions are those of any fitted one), registered through the registry
service so a thousand register in seconds.
"""

from __future__ import annotations

import numpy as np

from ailayer.bootstrap import Services
from ailayer.models.service import NewVersion
from tests.support.services import SIGNATURE, TinyModel

RECORD = {"amount": 500.0, "card_age_days": 30.0}


def tenant_model(number: int) -> TinyModel:
    """Model ``number``: P(fraud) = sigmoid(w·x + b) with weights that differ per number."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    estimator = LogisticRegression()
    estimator.classes_ = np.array([0, 1])
    estimator.coef_ = np.array([[0.001 * (number % 97), -0.01 * (number % 13)]])
    estimator.intercept_ = np.array([0.01 * (number % 7) - 0.5])
    estimator.n_features_in_ = 2
    estimator.n_iter_ = np.array([1])
    return TinyModel(sio.dumps(estimator), SIGNATURE, estimator)


def expected_score(model: TinyModel, record: dict = RECORD) -> float:
    row = np.array([[record["amount"], record["card_age_days"]]])
    return float(model.estimator.predict_proba(row)[0, 1])  # type: ignore[attr-defined]


def register(services: Services, tenant_id: str, name: str, model: TinyModel) -> None:
    """Register ``model`` as version 1 of ``name`` with the ``champion`` alias."""
    new = NewVersion(
        model=name,
        flavor="sklearn",
        artifact=model.artifact,
        signature=model.signature,
        aliases=["champion"],
        compile=False,  # the cache tests size scikit-learn objects; compiling has its tests
    )
    services.registry.register(tenant_id, "tests", new)
