"""External model APIs behind ``/v1/predict``: the "buy" side of build-or-buy.

A provider version's artifact is a JSON config, never code (``config``): which API, where,
which model, and the *name* of the environment variable that holds the key. Calls go
through ``upstream`` (timeouts, retries with jittered backoff, a circuit breaker, a
response size cap), answers are cached by request content (``resilience``), and each
upstream call is counted with its declared cost (``costs``).
"""

from ailayer.models.providers.config import ProviderConfig, parse_config
from ailayer.models.providers.costs import CostLedger, Usage

__all__ = ["CostLedger", "ProviderConfig", "Usage", "parse_config"]
