"""Request rates per tenant and per key: token buckets here or in Redis (limiter.py)."""

from ailayer.governance.ratelimit.base import Bucket, Buckets
from ailayer.governance.ratelimit.limiter import RateLimiter, open_rate_limiter
from ailayer.governance.ratelimit.local import LocalBuckets

__all__ = ["Bucket", "Buckets", "LocalBuckets", "RateLimiter", "open_rate_limiter"]
