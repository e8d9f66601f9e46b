"""Retention: each store keeps what it holds only as long as the ``retention`` settings
allow (job.py), and ``/metrics`` counts what went (metrics.py)."""

from ailayer.retention.job import Removed, RetentionJob, RetentionThread

__all__ = ["Removed", "RetentionJob", "RetentionThread"]
