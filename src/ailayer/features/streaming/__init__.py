"""Streaming features: windowed aggregations of events per entity, online and offline.

``StreamFeatureView`` defines one (it is a ``FeatureView`` whose source is a
``StreamSource``); ``StreamRunner`` runs it on the bus; ``StreamProcessor`` is the pure
aggregation core. Importing this package does no I/O.
"""

from ailayer.features.streaming.processor import Row, StreamProcessor, StreamStats
from ailayer.features.streaming.runner import StreamRunner, default_group
from ailayer.features.streaming.spec import (
    Aggregation,
    StreamFeatureView,
    StreamSource,
    is_stream_view,
    stream_source,
)

__all__ = [
    "Aggregation",
    "Row",
    "StreamFeatureView",
    "StreamProcessor",
    "StreamRunner",
    "StreamSource",
    "StreamStats",
    "default_group",
    "is_stream_view",
    "stream_source",
]
