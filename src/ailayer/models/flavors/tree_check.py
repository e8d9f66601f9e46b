"""Verify fitted decision trees before a model file is trusted to run.

scikit-learn's compiled tree code follows ``children_left``/``children_right`` and reads
``X[i, feature]`` without bounds checks, and the explanation code walks the same arrays.
A crafted file could point a child outside the tree (a crash) or back up it (an endless
loop). Trees written by scikit-learn number children after their parent, so we require
exactly that, and feature indices within the estimator's inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.tree._tree import Tree

from ailayer.core.errors import UnsafeArtifact


def check_trees(model: Any) -> None:
    """Raise ``UnsafeArtifact`` if any tree reachable from ``model`` is malformed."""
    for owner, tree in _trees(model):
        n_features = getattr(owner, "n_features_in_", tree.n_features)
        problem = tree_problem(tree, min(int(n_features), int(tree.n_features)))
        if problem:
            raise UnsafeArtifact(
                f"the model file holds a malformed decision tree: {problem}", field="artifact"
            )


def tree_problem(tree: Tree, n_features: int) -> str | None:
    """What is wrong with ``tree``'s structure, or None if every node is sound."""
    count = int(tree.node_count)
    left = np.asarray(tree.children_left)
    right = np.asarray(tree.children_right)
    feature = np.asarray(tree.feature)
    if not (len(left) == len(right) == len(feature) == count) or count < 1:
        return f"node arrays disagree with node_count {count}"
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


def _trees(root: Any) -> Iterator[tuple[Any, Tree]]:
    """Every ``(estimator, tree_)`` pair reachable through attributes and containers."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, str | bytes | int | float | type(None)):
            continue
        seen.add(id(item))
        if isinstance(getattr(item, "tree_", None), Tree):
            yield item, item.tree_
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set):
            stack.extend(item)
        elif isinstance(item, np.ndarray):
            if item.dtype == object:
                stack.extend(item.ravel().tolist())
        elif hasattr(item, "__dict__"):
            stack.extend(vars(item).values())
