"""Verify an XGBoost model document before XGBoost loads it.

XGBoost's predictor follows ``left_children``/``right_children`` and reads the column
``split_indices`` names without bounds checks, so a crafted file could send it outside a
tree (a crash) or round a cycle (an endless loop). Trees XGBoost writes number children
after their parent, so we require exactly that, as ``tree_check`` does for scikit-learn.
Only tree boosters with the objectives the flavor serves pass; categorical splits and
vector leaves are refused (their extra arrays would need checks of their own).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ailayer.core.errors import InvalidInput, UnsafeArtifact

BINARY = ("binary:logistic", "binary:logitraw", "binary:hinge")
MULTICLASS = ("multi:softprob", "multi:softmax")
REGRESSION = (
    "reg:squarederror",
    "reg:squaredlogerror",
    "reg:absoluteerror",
    "reg:pseudohubererror",
    "reg:logistic",
    "reg:gamma",
    "reg:tweedie",
    "count:poisson",
)
OBJECTIVES = BINARY + MULTICLASS + REGRESSION
BOOSTERS = ("gbtree", "dart")
MAX_FEATURES = 1_000_000
NODE_ARRAYS = ("left_children", "right_children", "split_indices")


def check_document(document: Any, max_depth: int) -> None:
    """Raise ``InvalidInput`` unless ``document`` is an XGBoost tree model we serve, and
    ``UnsafeArtifact`` if one of its trees is malformed."""
    _check_depth(document, max_depth)
    learner = _get(document, "learner", dict, "the document")
    objective = _get(_get(learner, "objective", dict, "learner"), "name", str, "objective")
    if objective not in OBJECTIVES:
        raise InvalidInput(
            f"XGBoost objective {objective!r} is not served; served: {', '.join(OBJECTIVES)}",
            field="artifact",
        )
    params = _get(learner, "learner_model_param", dict, "learner")
    features = _int(params.get("num_feature"), "learner_model_param.num_feature")
    if not 0 < features <= MAX_FEATURES:
        raise InvalidInput(
            f"num_feature must be 1..{MAX_FEATURES}; got {features}", field="artifact"
        )
    booster = _get(learner, "gradient_booster", dict, "learner")
    name = booster.get("name")
    if name not in BOOSTERS:
        raise InvalidInput(
            f"only tree boosters ({', '.join(BOOSTERS)}) are served; got {name!r}",
            field="artifact",
        )
    model = booster.get("gbtree") if name == "dart" else booster
    trees = _get(_get(model, "model", dict, "gradient_booster"), "trees", list, "model")
    for index, tree in enumerate(trees):
        problem = tree_problem(tree, features)
        if problem:
            raise UnsafeArtifact(
                f"the model file holds a malformed tree (trees[{index}]): {problem}",
                field="artifact",
            )


def tree_problem(tree: Any, n_features: int) -> str | None:
    """What is wrong with one tree of the document, or None if every node is sound."""
    if not isinstance(tree, dict):
        return "a tree is not an object"
    try:
        count = int(tree["tree_param"]["num_nodes"])
        left, right, feature = (np.asarray(tree[name], dtype=np.int64) for name in NODE_ARRAYS)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        return f"missing or non-integer node arrays ({exc})"
    if not (left.shape == right.shape == feature.shape == (count,)) or count < 1:
        return f"node arrays disagree with num_nodes {count}"
    vector_leaf = str(tree["tree_param"].get("size_leaf_vector", "1")) not in ("0", "1")
    if len(tree.get("categories_nodes", [])) or vector_leaf:
        return "categorical splits and vector leaves are not served"
    index = np.arange(count)
    leaf = (left == -1) & (right == -1)
    split = ~leaf
    bad_child = split & ~((left > index) & (left < count) & (right > index) & (right < count))
    if bad_child.any():
        return f"node {int(index[bad_child][0])} has a child outside the tree or before it"
    bad_feature = split & ~((feature >= 0) & (feature < n_features))
    if bad_feature.any():
        node = int(index[bad_feature][0])
        return f"node {node} splits on feature {int(feature[node])} of {n_features}"
    return None


def _check_depth(document: Any, max_depth: int) -> None:
    stack: list[tuple[Any, int]] = [(document, 0)] if isinstance(document, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise InvalidInput(
                f"the XGBoost model file is nested deeper than {max_depth} levels",
                field="artifact",
            )
        values = item.values() if isinstance(item, dict) else item
        stack.extend((v, depth + 1) for v in values if isinstance(v, dict | list))


def _get(container: Any, key: str, kind: type, where: str) -> Any:
    value = container.get(key) if isinstance(container, dict) else None
    if not isinstance(value, kind):
        raise InvalidInput(
            f"not an XGBoost model: {where} has no {key!r} {kind.__name__}", field="artifact"
        )
    return value


def _int(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{where} must be an integer; got {value!r}", field="artifact") from None
