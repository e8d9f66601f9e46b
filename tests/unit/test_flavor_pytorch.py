"""PyTorch models served as ONNX: predictions equal torch's; TorchScript and torch.save are refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from ailayer.core.errors import UnsafeArtifact
from ailayer.models.flavors import get_flavor
from tests.support.services import TinyModel, upload_form

SIGNATURE = {"inputs": [{"name": f"x{i}", "type": "double"} for i in range(4)]}


class Classifier(torch.nn.Module):
    """Three classes; answers (label, probabilities), the two outputs a classifier gives."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        proba = torch.softmax(self.net(x), dim=1)
        return proba.argmax(dim=1), proba


def regressor() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1))


def exported(module: torch.nn.Module, outputs: list[str]) -> bytes:
    buffer = io.BytesIO()
    torch.onnx.export(
        module.eval(),
        (torch.zeros(2, 4),),
        buffer,
        dynamo=False,
        input_names=["x"],
        output_names=outputs,
        dynamic_axes={"x": {0: "rows"}, **{name: {0: "rows"} for name in outputs}},
    )
    return buffer.getvalue()


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(5).normal(size=(50, 4))


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    torch.manual_seed(0)
    return Classifier().eval()


def test_exported_classifier_gives_torchs_labels_and_probabilities(classifier, x) -> None:  # type: ignore[no-untyped-def]
    flavor = get_flavor("pytorch")
    artifact = exported(classifier, ["label", "probabilities"])
    flavor.check(artifact)
    pred = flavor.load(artifact).predict(x)
    with torch.no_grad():
        labels, proba = classifier(torch.tensor(x, dtype=torch.float32))
    assert pred.values == labels.tolist()
    got = np.array([[row[str(k)] for k in range(3)] for row in pred.probabilities])
    np.testing.assert_allclose(got, proba.numpy(), atol=1e-5)
    np.testing.assert_allclose(pred.scores, proba.max(dim=1).values.numpy(), atol=1e-5)


def test_exported_regressor_serves_through_the_app_as_torch_predicts(api, x) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(1)
    module = regressor().eval()
    tiny = TinyModel(exported(module, ["y"]), SIGNATURE, module)
    registered = api.client.post(
        "/v1/models/torchy/versions",
        headers=api.headers(),
        **upload_form(tiny, flavor="pytorch", aliases=["champion"]),
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["flavor"] == "pytorch"
    records = [{f"x{i}": float(v) for i, v in enumerate(row)} for row in x[:5]]
    response = api.client.post("/v1/predict/torchy", headers=api.headers("service"), json=records)
    assert response.status_code == 200, response.text
    with torch.no_grad():
        expected = module(torch.tensor(x[:5], dtype=torch.float32)).numpy()[:, 0]
    got = [item["prediction"] for item in response.json()["predictions"]]
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("save", ["torchscript", "state_dict"])
def test_torch_archives_are_refused_as_unsafe(classifier, save: str) -> None:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    if save == "torchscript":
        torch.jit.save(torch.jit.trace(classifier, torch.zeros(1, 4)), buffer)
    else:
        torch.save(classifier.state_dict(), buffer)
    with pytest.raises(UnsafeArtifact, match=r"torch\.onnx\.export") as caught:
        get_flavor("pytorch").check(buffer.getvalue())
    assert caught.value.field == "artifact"
