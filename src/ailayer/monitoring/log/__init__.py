"""The prediction log, feedback and performance: monitoring of what models actually did.

    predict path ──record()──▶ LogBuffer (bounded, drops counted) ──LogWriter──▶ LogSink
                                                                  (thread)   Parquet part files
    POST /v1/feedback ──▶ FeedbackStore ──▶ _feedback/ Parquet
    PerformanceMonitor: DuckDB over the log joined to the latest label per prediction id

See ``docs/monitoring.md`` (Prediction log, feedback and performance).
"""

from ailayer.monitoring.log.buffer import Entry, LogBuffer
from ailayer.monitoring.log.explaining import PredictionExplainer
from ailayer.monitoring.log.feedback import Feedback, FeedbackStore, parse_feedback
from ailayer.monitoring.log.performance import PerformanceMonitor
from ailayer.monitoring.log.pii import PiiPolicy, SaltStore
from ailayer.monitoring.log.predictions import PredictionLog
from ailayer.monitoring.log.sink import LogSink, ParquetSink
from ailayer.monitoring.log.writer import LogWriter

__all__ = [
    "Entry",
    "Feedback",
    "FeedbackStore",
    "LogBuffer",
    "LogSink",
    "LogWriter",
    "ParquetSink",
    "PerformanceMonitor",
    "PiiPolicy",
    "PredictionExplainer",
    "PredictionLog",
    "SaltStore",
    "parse_feedback",
]
