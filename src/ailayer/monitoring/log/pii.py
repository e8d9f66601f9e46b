"""PII in logged inputs: the policy lives in ``governance.pii``; re-exported for the log."""

from ailayer.governance.pii import REDACTED, PiiPolicy, SaltStore, monitoring_salts, pii_hash

__all__ = ["REDACTED", "PiiPolicy", "SaltStore", "monitoring_salts", "pii_hash"]
