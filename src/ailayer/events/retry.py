"""How long a failed event waits before its next attempt: exponential backoff with jitter.

The delay for attempt ``n`` (1 = the first delivery that failed) is
``min(max, base * 2 ** (n - 1))``, then shortened by a random fraction of up to ``jitter``
so that events that failed together do not come back together. It never exceeds ``max``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ailayer.core.errors import InvalidInput


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``base`` and ``max`` in seconds, ``jitter`` a fraction 0-1."""

    base: float = 0.5
    max: float = 60.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.base <= self.max:
            raise InvalidInput("backoff needs 0 < base <= max seconds", field="backoff")
        if not 0 <= self.jitter <= 1:
            raise InvalidInput("backoff jitter must be a fraction from 0 to 1", field="jitter")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the ``attempt``-th delivery failed."""
        exponent = min(max(attempt, 1) - 1, 62)
        ceiling = min(self.max, self.base * 2.0**exponent)
        return ceiling * (1 - self.jitter * self.rng.random())
