"""One call to a provider: timeout, retries with jittered backoff, the circuit breaker.

Retried: timeouts, connection failures and resets, 5xx and 429 answers. Not retried: any
other 4xx (the provider is up and refused this request; it does not count against the
breaker either) and an answer that is not JSON or lacks the prediction (a failure the
breaker counts). Every failed attempt counts toward opening the breaker, and once it is
open the call stops retrying. Calls block: the caller runs them in a worker thread.

Messages name the provider by ``config.origin`` (no path, no query) and never carry the
key, a header or the text of a transport exception.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from ailayer.models.providers.config import ProviderConfig
from ailayer.models.providers.resilience import CircuitBreaker


class ProviderFailure(Exception):
    """The provider gave no usable answer; ``reason`` says why, safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Retry(Exception):
    pass


class Upstream:
    def __init__(
        self, config: ProviderConfig, api_key: str | None, breaker: CircuitBreaker
    ) -> None:
        self.config = config
        self.breaker = breaker
        self._headers = {"Accept": "application/json"}
        if api_key is not None:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            timeout=config.timeout_seconds, follow_redirects=False, trust_env=False
        )
        self._random = random.Random()

    def call(self, url: str, body: Any, extract: Callable[[Any], Any]) -> tuple[Any, Any]:
        """``(prediction, parsed answer)``; ``ProviderFailure`` when there is none."""
        reason = "no attempt was made"
        attempts = self.config.retries + 1
        for attempt in range(attempts):
            if not self.breaker.allow():
                raise ProviderFailure(f"the circuit is open after failures ({reason})")
            try:
                return self._attempt(url, body, extract)
            except _Retry as retry:
                reason = str(retry)
            self.breaker.failed()
            if attempt + 1 < attempts:
                time.sleep(self._backoff(attempt))
        raise ProviderFailure(f"{reason}, {attempts} attempt(s)")

    def _attempt(self, url: str, body: Any, extract: Callable[[Any], Any]) -> tuple[Any, Any]:
        try:
            status, raw = self._post(url, body)
        except httpx.TimeoutException:
            raise _Retry(f"no answer within {self.config.timeout_seconds} s") from None
        except httpx.TransportError as exc:
            raise _Retry(f"connection failed ({type(exc).__name__})") from None
        if status >= 500 or status == 429:
            raise _Retry(f"answered HTTP {status}")
        if status >= 400:
            self.breaker.succeeded()  # up, and refusing this request: not an outage
            raise ProviderFailure(f"refused the request with HTTP {status} (not retried)")
        try:
            if raw is None:
                raise ValueError(f"the answer is over {self.config.max_response_bytes} bytes")
            try:
                answer = json.loads(raw)
            except (ValueError, RecursionError):
                raise ValueError(f"answered HTTP {status} with a body that is not JSON") from None
            prediction = extract(answer)
        except ValueError as exc:
            self.breaker.failed()
            raise ProviderFailure(str(exc)) from None
        self.breaker.succeeded()
        return prediction, answer

    def _post(self, url: str, body: Any) -> tuple[int, bytes | None]:
        """Status and body (None when longer than ``max_response_bytes``), read within the
        timeout as a whole, not only per network read."""
        deadline = time.monotonic() + self.config.timeout_seconds
        limit = self.config.max_response_bytes
        with self._client.stream("POST", url, json=body, headers=self._headers) as response:
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    return response.status_code, None
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("the answer took too long")
                chunks.append(chunk)
            return response.status_code, b"".join(chunks)

    def _backoff(self, attempt: int) -> float:
        """Full jitter: a uniform wait up to the exponential step, capped."""
        step = min(self.config.backoff_max_seconds, self.config.backoff_seconds * 2**attempt)
        return self._random.uniform(0, step)

    def close(self) -> None:
        self._client.close()
