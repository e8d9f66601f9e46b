"""The feature store: definitions in code, offline and online stores, point-in-time joins.

The public API is exactly ``__all__``. Importing this package does no I/O; stores and
services are built by the composition root (or by a test) from URLs in the settings.
"""

from ailayer.features.datasets import DatasetVersion
from ailayer.features.definitions import (
    DvcSource,
    Entity,
    Feature,
    FeatureService,
    FeatureView,
    OnDemandView,
    ParquetSource,
    PostgresSource,
    on_demand,
)
from ailayer.features.definitions_store import Change, FeatureRegistry, Plan
from ailayer.features.loader import load_definitions
from ailayer.features.materialize import Materializer, Progress, Run
from ailayer.features.offline import OfflineStore
from ailayer.features.ondemand import Transforms
from ailayer.features.retrieval import FeatureServer
from ailayer.features.stores import OnlineRow, OnlineStore, OnlineValue, open_online_store
from ailayer.features.streaming.spec import Aggregation, StreamFeatureView, StreamSource

__all__ = [
    "Aggregation",
    "Change",
    "DatasetVersion",
    "DvcSource",
    "Entity",
    "Feature",
    "FeatureRegistry",
    "FeatureServer",
    "FeatureService",
    "FeatureView",
    "Materializer",
    "OfflineStore",
    "OnDemandView",
    "OnlineRow",
    "OnlineStore",
    "OnlineValue",
    "ParquetSource",
    "Plan",
    "PostgresSource",
    "Progress",
    "Run",
    "StreamFeatureView",
    "StreamSource",
    "Transforms",
    "load_definitions",
    "on_demand",
    "open_online_store",
]
