"""What a scikit-learn model file may name: an explicit allow-list, nothing by prefix.

A skops file is a tree of nodes, each naming a Python object that loading will import
and build. A model file comes from anyone holding a developer key, so every name in it
must be on one of these lists, by role:

- ``CLASSES``: classes a file may instantiate (estimators, transformers and the
  internal objects their fitted state holds);
- ``VALUE_TYPES``: types a file may hold as values (dtypes, ``dtype=`` parameters);
- ``PURE_FUNCTIONS``: the few functions a fitted pipeline legitimately carries (element
  -wise maths for ``FunctionTransformer``, score functions kept by feature selectors).
  None of them touches files, processes, imports or interpreter state.

Names are computed from the objects themselves, so they match what skops writes (the
defining, often private, module) and follow scikit-learn's module moves. Anything else
(``np.memmap``, ``np.save``, ``builtins.open``, ``os.system``, methods, partials,
``operator`` callables) is refused.

Compiled code in scikit-learn indexes some fitted arrays without bounds checks, so a
crafted file of an allowed class could still crash the server. Decision trees are
admitted because ``tree_check`` verifies every node of a loaded tree; histogram gradient
boosting (``TreePredictor``, ``_BinMapper``) and sparse matrices are left out because their
state cannot be verified as simply (LightGBM's flavor serves the same models).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.special
from sklearn import (
    compose,
    decomposition,
    discriminant_analysis,
    dummy,
    ensemble,
    feature_extraction,
    feature_selection,
    impute,
    linear_model,
    multiclass,
    multioutput,
    naive_bayes,
    neighbors,
    neural_network,
    pipeline,
    preprocessing,
    svm,
    tree,
)
from sklearn._loss import link, loss
from sklearn.feature_extraction import text
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer
from sklearn.tree._tree import Tree


def dotted(obj: object) -> str:
    """``module.name`` exactly as skops writes it into a file for ``obj``."""
    from skops.io._utils import get_module

    return f"{get_module(obj)}.{obj.__name__}"  # type: ignore[attr-defined]


def _names(objects: Iterable[object]) -> frozenset[str]:
    return frozenset(dotted(obj) for obj in objects)


# fmt: off
_ESTIMATOR_CLASSES = [
    # linear models
    linear_model.LogisticRegression, linear_model.LinearRegression, linear_model.Ridge,
    linear_model.RidgeClassifier, linear_model.Lasso, linear_model.ElasticNet,
    linear_model.SGDClassifier, linear_model.SGDRegressor, linear_model.Perceptron,
    linear_model.HuberRegressor, linear_model.BayesianRidge, linear_model.PoissonRegressor,
    linear_model.TweedieRegressor, linear_model.GammaRegressor,
    linear_model.QuantileRegressor, linear_model.LogisticRegressionCV,
    linear_model.RidgeCV, linear_model.LassoCV, linear_model.ElasticNetCV,
    svm.LinearSVC, svm.LinearSVR,
    discriminant_analysis.LinearDiscriminantAnalysis,
    discriminant_analysis.QuadraticDiscriminantAnalysis,
    naive_bayes.GaussianNB, naive_bayes.MultinomialNB, naive_bayes.BernoulliNB,
    naive_bayes.ComplementNB, naive_bayes.CategoricalNB,
    neighbors.NearestCentroid,
    neural_network.MLPClassifier, neural_network.MLPRegressor,
    dummy.DummyClassifier, dummy.DummyRegressor,
    # trees and ensembles (fitted trees are verified by tree_check)
    tree.DecisionTreeClassifier, tree.DecisionTreeRegressor,
    tree.ExtraTreeClassifier, tree.ExtraTreeRegressor,
    ensemble.RandomForestClassifier, ensemble.RandomForestRegressor,
    ensemble.ExtraTreesClassifier, ensemble.ExtraTreesRegressor,
    ensemble.GradientBoostingClassifier, ensemble.GradientBoostingRegressor,
    ensemble.AdaBoostClassifier, ensemble.AdaBoostRegressor,
    ensemble.BaggingClassifier, ensemble.BaggingRegressor,
    ensemble.VotingClassifier, ensemble.VotingRegressor,
    ensemble.StackingClassifier, ensemble.StackingRegressor, ensemble.IsolationForest,
    multiclass.OneVsRestClassifier, multiclass.OneVsOneClassifier,
    multioutput.MultiOutputClassifier, multioutput.MultiOutputRegressor,
    # composition
    pipeline.Pipeline, pipeline.FeatureUnion,
    compose.ColumnTransformer, compose.TransformedTargetRegressor,
    compose.make_column_selector,
    # preprocessing
    preprocessing.StandardScaler, preprocessing.MinMaxScaler, preprocessing.MaxAbsScaler,
    preprocessing.RobustScaler, preprocessing.Normalizer, preprocessing.Binarizer,
    preprocessing.OneHotEncoder, preprocessing.OrdinalEncoder,
    preprocessing.TargetEncoder, preprocessing.LabelEncoder, preprocessing.LabelBinarizer,
    preprocessing.KBinsDiscretizer, preprocessing.PolynomialFeatures,
    preprocessing.PowerTransformer, preprocessing.QuantileTransformer,
    preprocessing.FunctionTransformer,
    impute.SimpleImputer, impute.MissingIndicator,
    feature_extraction.DictVectorizer, feature_extraction.FeatureHasher,
    text.CountVectorizer, text.TfidfVectorizer, text.TfidfTransformer,
    text.HashingVectorizer,
    feature_selection.SelectKBest, feature_selection.SelectPercentile,
    feature_selection.VarianceThreshold, feature_selection.SelectFromModel,
    decomposition.PCA, decomposition.TruncatedSVD,
]

# Objects that fitted estimators above hold in their state.
_INTERNAL_CLASSES = [
    Tree, AdamOptimizer, SGDOptimizer,
    link.IdentityLink, link.LogLink, link.LogitLink, link.HalfLogitLink,
    link.MultinomialLogit, link.Interval,
    loss.HalfSquaredError, loss.AbsoluteError, loss.PinballLoss, loss.HuberLoss,
    loss.HalfPoissonLoss, loss.HalfGammaLoss, loss.HalfTweedieLoss,
    loss.HalfTweedieLossIdentity, loss.HalfBinomialLoss, loss.HalfMultinomialLoss,
    loss.ExponentialLoss,
    np.random.RandomState, np.random.Generator, np.random.PCG64, np.random.MT19937,
    np.random.Philox, np.random.SFC64, np.random.SeedSequence,
]
# fmt: on


def _cython_losses() -> list[type]:
    """The compiled loss objects of SGD and gradient boosting (module paths vary)."""
    from sklearn._loss import _loss
    from sklearn.linear_model import _sgd_fast

    names = [
        "Hinge",
        "SquaredHinge",
        "ModifiedHuber",
        "Log",
        "SquaredLoss",
        "Huber",
        "EpsilonInsensitive",
        "SquaredEpsilonInsensitive",
    ]
    found = [getattr(_sgd_fast, name) for name in names if hasattr(_sgd_fast, name)]
    found += [
        getattr(_loss, name)
        for name in dir(_loss)
        if name.startswith("Cy") and isinstance(getattr(_loss, name), type)
    ]
    return found


CLASSES: frozenset[str] = _names(_ESTIMATOR_CLASSES + _INTERNAL_CLASSES + _cython_losses())

VALUE_TYPES: frozenset[str] = _names(
    [
        int,
        float,
        str,
        bool,
        np.ndarray,
        np.dtype,
        *{t for t in np.sctypeDict.values() if t not in (np.object_, np.void)},
    ]
)

# fmt: off
PURE_FUNCTIONS: frozenset[str] = _names(
    [
        np.log, np.log1p, np.log2, np.log10, np.exp, np.expm1, np.exp2, np.sqrt, np.cbrt,
        np.square, np.abs, np.absolute, np.fabs, np.sign, np.negative, np.reciprocal,
        np.sin, np.cos, np.tan, np.arcsin, np.arccos, np.arctan, np.sinh, np.cosh,
        np.tanh, np.arcsinh, np.arccosh, np.arctanh, np.floor, np.ceil, np.rint,
        np.trunc, np.round, np.clip, np.nan_to_num, np.isnan, np.isfinite,
        scipy.special.expit, scipy.special.logit, scipy.special.boxcox1p,
        feature_selection.f_classif, feature_selection.f_regression,
        feature_selection.chi2, feature_selection.r_regression,
        feature_selection.mutual_info_classif, feature_selection.mutual_info_regression,
    ]
)
# fmt: on
