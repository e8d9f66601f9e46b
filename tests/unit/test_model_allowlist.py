"""Model files: every allowed estimator loads and predicts; every hostile file is refused
before skops builds anything from it."""

from __future__ import annotations

import builtins
import functools
import importlib
import io
import json
import operator
import os
import shutil
import subprocess
import warnings
import zipfile

import numpy as np
import pytest
import scipy.io
import skops.io as sio
from sklearn import (
    compose,
    discriminant_analysis,
    dummy,
    ensemble,
    feature_selection,
    impute,
    linear_model,
    naive_bayes,
    neighbors,
    neural_network,
    pipeline,
    preprocessing,
    svm,
    tree,
)
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.multiclass import OneVsRestClassifier

from ailayer.core.errors import UnsafeArtifact
from ailayer.models.flavors import get_flavor
from ailayer.models.flavors.skops_allowlist import CLASSES, PURE_FUNCTIONS, VALUE_TYPES

RNG = np.random.default_rng(3)
X = np.abs(RNG.normal(size=(120, 4)))
Y = (X[:, 0] > X[:, 1]).astype(int)
REAL = X @ np.array([1.0, -2.0, 0.5, 0.25])


def _fitted() -> dict[str, object]:
    classifiers = {
        "logistic": linear_model.LogisticRegression(),
        "sgd": linear_model.SGDClassifier(random_state=0),
        "ridge-classifier": linear_model.RidgeClassifier(),
        "linear-svc": svm.LinearSVC(),
        "lda": discriminant_analysis.LinearDiscriminantAnalysis(),
        "gaussian-nb": naive_bayes.GaussianNB(),
        "multinomial-nb": naive_bayes.MultinomialNB(),
        "nearest-centroid": neighbors.NearestCentroid(),
        "mlp": neural_network.MLPClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0),
        "dummy": dummy.DummyClassifier(),
        "decision-tree": tree.DecisionTreeClassifier(max_depth=3),
        "random-forest": ensemble.RandomForestClassifier(n_estimators=3, random_state=0),
        "extra-trees": ensemble.ExtraTreesClassifier(n_estimators=3, random_state=0),
        "gradient-boosting": ensemble.GradientBoostingClassifier(n_estimators=3),
        "adaboost": ensemble.AdaBoostClassifier(n_estimators=3),
        "bagging": ensemble.BaggingClassifier(n_estimators=3, random_state=0),
        "one-vs-rest": OneVsRestClassifier(linear_model.LogisticRegression()),
        "log1p-pipeline": pipeline.make_pipeline(
            preprocessing.FunctionTransformer(np.log1p),
            impute.SimpleImputer(),
            preprocessing.StandardScaler(),
            feature_selection.SelectKBest(feature_selection.f_classif, k=3),
            linear_model.LogisticRegression(),
        ),
        "column-transformer": pipeline.make_pipeline(
            compose.ColumnTransformer(
                [
                    ("scaled", preprocessing.MinMaxScaler(), [0, 1]),
                    ("bins", preprocessing.KBinsDiscretizer(n_bins=3), [2]),
                ],
                remainder="passthrough",
            ),
            PCA(n_components=3),
            ensemble.VotingClassifier(
                [("lr", linear_model.LogisticRegression()), ("nb", naive_bayes.GaussianNB())],
                voting="soft",
            ),
        ),
    }
    regressors = {
        "linear": linear_model.LinearRegression(),
        "tree-regressor": tree.DecisionTreeRegressor(max_depth=3),
        "transformed-target": compose.TransformedTargetRegressor(
            linear_model.Ridge(), func=np.log1p, inverse_func=np.expm1
        ),
        "svd-pipeline": pipeline.make_pipeline(
            preprocessing.PolynomialFeatures(2), TruncatedSVD(3), linear_model.Lasso()
        ),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = {name: model.fit(X, Y) for name, model in classifiers.items()}
        fitted |= {name: model.fit(X, np.abs(REAL)) for name, model in regressors.items()}
    return fitted


FITTED = _fitted()


@pytest.mark.parametrize("name", sorted(FITTED))
def test_allowed_models_load_and_predict_like_the_original(name: str) -> None:
    model = FITTED[name]
    flavor = get_flavor("sklearn")
    artifact = sio.dumps(model)

    flavor.check(artifact)
    predictions = flavor.load(artifact).predict(X)

    if hasattr(model, "predict_proba"):  # the flavor answers the most probable class
        expected = model.classes_[model.predict_proba(X).argmax(axis=1)].tolist()
    else:
        expected = model.predict(X).tolist()
    assert predictions.values == expected


def test_a_text_model_inside_a_column_transformer_loads() -> None:
    texts = np.array([["good film"], ["bad film"], ["great"], ["awful plot"]], dtype=object)
    model = pipeline.make_pipeline(
        compose.ColumnTransformer([("text", TfidfVectorizer(ngram_range=(1, 2)), 0)]),
        linear_model.LogisticRegression(),
    ).fit(texts, [1, 0, 1, 0])

    predictions = get_flavor("sklearn").load(sio.dumps(model)).predict(texts)

    assert predictions.values == [1, 0, 1, 0]


def test_every_allowed_name_resolves_to_what_was_listed() -> None:
    for name in CLASSES | VALUE_TYPES | PURE_FUNCTIONS:
        module, _, attr = name.rpartition(".")
        assert callable(getattr(importlib.import_module(module), attr)), name


# --- the hostile corpus ------------------------------------------------------------


def _inside_a_pipeline(func) -> object:  # type: ignore[no-untyped-def]
    return pipeline.make_pipeline(preprocessing.FunctionTransformer(func), FITTED["logistic"])


def _nested_deep(func) -> object:  # type: ignore[no-untyped-def]
    inner = pipeline.make_pipeline(
        preprocessing.StandardScaler(), preprocessing.FunctionTransformer(func)
    )
    union = pipeline.FeatureUnion([("plain", "passthrough"), ("hostile", inner)])
    columns = compose.ColumnTransformer([("all", union, [0, 1, 2, 3])])
    return pipeline.make_pipeline(columns, FITTED["logistic"])


HOSTILE_CALLABLES = {
    "file: builtins.open": builtins.open,
    "eval: builtins.eval": builtins.eval,
    "eval: builtins.exec": builtins.exec,
    "eval: builtins.compile": builtins.compile,
    "import: builtins.__import__": builtins.__import__,
    "import: importlib.import_module": importlib.import_module,
    "builtins.getattr": builtins.getattr,
    "builtins.setattr": builtins.setattr,
    "process: os.system": os.system,
    "process: subprocess.Popen": subprocess.Popen,
    "process: subprocess.run": subprocess.run,
    "file: os.remove": os.remove,
    "file: shutil.rmtree": shutil.rmtree,
    "memmap: numpy.memmap": np.memmap,
    "memmap: open_memmap": np.lib.format.open_memmap,
    "numpy.load": np.load,
    "numpy.save": np.save,
    "numpy.savetxt": np.savetxt,
    "numpy.fromfile": np.fromfile,
    "numpy.frompyfunc": np.frompyfunc,
    "scipy.io.savemat": scipy.io.savemat,
    "scipy.io.loadmat": scipy.io.loadmat,
    "scipy.io.mmwrite": scipy.io.mmwrite,
    "operator.methodcaller": operator.methodcaller("tofile", "pwned"),
    "operator.attrgetter": operator.attrgetter("tofile"),
    "functools.partial of numpy.save": functools.partial(np.save, "pwned"),
    "bound method ndarray.tofile": np.zeros(1).tofile,
}


def _hostile_models() -> dict[str, object]:
    models: dict[str, object] = {}
    for label, func in HOSTILE_CALLABLES.items():
        models[f"{label} in a pipeline"] = _inside_a_pipeline(func)
        models[f"{label} nested in a column transformer"] = _nested_deep(func)
    models["numpy.save as a target transform"] = compose.TransformedTargetRegressor(
        linear_model.Ridge(), func=np.save, inverse_func=np.load
    )
    return models


HOSTILE = _hostile_models()


@pytest.fixture
def loads_never_called(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a hostile file reached skops.io.loads")

    monkeypatch.setattr(sio, "loads", refuse)


def _dumps(model: object) -> bytes:
    try:
        return sio.dumps(model)
    except TypeError as exc:  # skops cannot even write some callables
        pytest.skip(f"skops cannot save this: {exc}")


@pytest.mark.parametrize("label", sorted(HOSTILE))
def test_hostile_artifacts_are_refused_before_any_load(label: str, loads_never_called) -> None:  # type: ignore[no-untyped-def]
    artifact = _dumps(HOSTILE[label])
    flavor = get_flavor("sklearn")

    for action in (flavor.check, flavor.load):
        with pytest.raises(UnsafeArtifact, match="not allowed") as excinfo:
            action(artifact)
        assert excinfo.value.field == "artifact"


def test_the_refusal_names_the_type() -> None:
    artifact = sio.dumps(_nested_deep(np.memmap))

    with pytest.raises(UnsafeArtifact, match=r"numpy\.memmap"):
        get_flavor("sklearn").check(artifact)


def _edit_schema(artifact: bytes, edit) -> bytes:  # type: ignore[no-untyped-def]
    """The same file with ``edit(schema)`` applied to its schema.json."""
    source = zipfile.ZipFile(io.BytesIO(artifact))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            body = source.read(item.filename)
            if item.filename == "schema.json":
                schema = json.loads(body)
                edit(schema)
                body = json.dumps(schema).encode()
            target.writestr(item, body)
    return buffer.getvalue()


def _first(schema, loader: str) -> dict:  # type: ignore[no-untyped-def]
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("__loader__") == loader:
                return item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    raise LookupError(loader)


def _retype(loader: str, module: str, name: str):  # type: ignore[no-untyped-def]
    def edit(schema) -> None:  # type: ignore[no-untyped-def]
        node = _first(schema, loader)
        node["__module__"], node["__class__"] = module, name

    return edit


def _unknown_loader(schema) -> None:  # type: ignore[no-untyped-def]
    _first(schema, "ObjectNode")["__loader__"] = "EvilNode"


def _no_names(schema) -> None:  # type: ignore[no-untyped-def]
    del _first(schema, "ObjectNode")["__module__"]


CRAFTED = {
    # A tuple node builds its class with the tuple's items: memmap would create a file.
    "tuple built as numpy.memmap": _retype("TupleNode", "numpy", "memmap"),
    "tuple built as os.system": _retype("TupleNode", "os", "system"),
    "dict built as collections.Counter": _retype("DictNode", "collections", "Counter"),
    "list built as builtins.eval": _retype("ListNode", "builtins", "eval"),
    "array built as numpy.memmap": _retype("NdArrayNode", "numpy", "memmap"),
    "object of a numpy class that opens files": _retype(
        "ObjectNode", "numpy.lib._datasource", "DataSource"
    ),
    "object of an sklearn class off the list": _retype(
        "ObjectNode", "sklearn.utils._testing", "TempMemmap"
    ),
    "an unknown loader": _unknown_loader,
    "a node without a module": _no_names,
}


@pytest.mark.parametrize("label", sorted(CRAFTED))
def test_crafted_files_are_refused_before_any_load(label: str, loads_never_called) -> None:  # type: ignore[no-untyped-def]
    artifact = _edit_schema(sio.dumps(FITTED["log1p-pipeline"]), CRAFTED[label])

    with pytest.raises(UnsafeArtifact):
        get_flavor("sklearn").check(artifact)


def _tree_with(edit) -> bytes:  # type: ignore[no-untyped-def]
    """A fitted decision tree whose node array was changed by ``edit(nodes)``."""
    model = tree.DecisionTreeClassifier(max_depth=3).fit(X, Y)
    state = model.tree_.__getstate__()
    nodes = state["nodes"].copy()
    edit(nodes)
    crafted = type(model.tree_)(model.n_features_in_, np.array([2], dtype=np.intp), 1)
    crafted.__setstate__({**state, "nodes": nodes})
    model.tree_ = crafted
    return sio.dumps(model)


def _child_outside(nodes) -> None:  # type: ignore[no-untyped-def]
    nodes["left_child"][0] = 10_000_000


def _child_loop(nodes) -> None:  # type: ignore[no-untyped-def]
    nodes["right_child"][0] = 0


def _feature_outside(nodes) -> None:  # type: ignore[no-untyped-def]
    nodes["feature"][0] = 4096


@pytest.mark.parametrize(
    "edit", [_child_outside, _child_loop, _feature_outside], ids=["outside", "loop", "feature"]
)
def test_a_tree_with_a_crafted_node_is_refused_before_it_runs(edit) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnsafeArtifact, match="malformed decision tree"):
        get_flavor("sklearn").check(_tree_with(edit))


# --- over HTTP, as the reported attack ran ---------------------------------------------


def test_a_developer_cannot_register_a_file_writing_pipeline(api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.services import SIGNATURE, TinyModel, tiny_sklearn_model

    fitted = tiny_sklearn_model().estimator
    writer = pipeline.make_pipeline(
        preprocessing.FunctionTransformer(np.str_),
        preprocessing.FunctionTransformer(np.memmap, kw_args={"mode": "w+", "shape": (1,)}),
        fitted,
    )
    hostile = TinyModel(sio.dumps(writer), SIGNATURE, writer)

    response = api.register("fraud", hostile, role="developer")

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("unsafe_artifact", "artifact")
    assert "numpy.memmap" in error["message"]
    assert api.client.get("/v1/models", headers=api.headers()).json() == []
    stored = api.services.settings.home / "artifacts"
    assert not stored.exists() or not [p for p in stored.rglob("*") if p.is_file()]


def test_an_onnx_model_reading_a_server_file_as_weights_is_refused(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from onnx import TensorProto, helper, numpy_helper

    from ailayer.core.errors import InvalidInput

    monkeypatch.chdir(tmp_path)
    (tmp_path / "secret.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    weights = numpy_helper.from_array(np.zeros(4, dtype=np.float32), "w")
    weights.ClearField("raw_data")
    weights.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "secret.bin"), ("offset", "0"), ("length", "16")):
        entry = weights.external_data.add()
        entry.key, entry.value = key, value
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [weights]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8

    with pytest.raises(InvalidInput) as excinfo:
        get_flavor("onnx").check(model.SerializeToString())
    assert excinfo.value.field == "artifact"
