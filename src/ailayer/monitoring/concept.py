"""Concept drift detectors for a model's error stream: ADWIN, DDM and Page-Hinkley.

Each is a small river-style class: ``update(x)`` takes one observation (1 for a wrong
prediction, 0 for a right one, or any real-valued loss for ADWIN and Page-Hinkley),
returns ``self``, and sets ``drift_detected`` for that step. After a drift the detector
starts afresh on the next update, as river's do. Defaults are river's.
"""

from __future__ import annotations

import math
from collections import deque


class ADWIN:
    """ADaptive WINdowing (Bifet & Gavaldà, 2007): drops the older part of a window
    whenever two sub-windows' means differ by more than a Hoeffding-style bound.

    The window is an exponential histogram (buckets of 2^i values, at most
    ``max_buckets`` per size), so memory grows with log(width). Cuts are checked every
    ``clock`` updates once the window holds more than ``grace_period`` values.

    Example:
        >>> import random
        >>> rng = random.Random(7)
        >>> stream = [rng.gauss(0, 1) for _ in range(1000)] + [rng.gauss(3, 1) for _ in range(1000)]
        >>> adwin = ADWIN()
        >>> [i for i, x in enumerate(stream) if adwin.update(x).drift_detected][:1]
        [1023]
    """

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
    ) -> None:
        self.delta = delta
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window_length = min_window_length
        self.grace_period = grace_period
        self.n_detections_ = 0  # every drift signalled since construction
        self._reset()

    def _reset(self) -> None:
        """An empty window, as river's ADWIN starts again after each drift it signals."""
        self.drift_detected = False
        self.rows_: list[deque[tuple[float, float]]] = [deque()]  # (total, variance) per bucket
        self.width_ = 0
        self.total_ = 0.0
        self.variance_ = 0.0
        self.tick_ = 0

    @property
    def estimation(self) -> float:
        """Mean of the values in the current window."""
        return self.total_ / self.width_ if self.width_ else 0.0

    def update(self, x: float) -> ADWIN:
        if self.drift_detected:
            self._reset()
        self._insert(float(x))
        self.drift_detected = self._detect()
        if self.drift_detected:
            self.n_detections_ += 1
        return self

    def _insert(self, x: float) -> None:
        if self.width_ > 0:
            mean = self.total_ / self.width_
            self.variance_ += self.width_ * (x - mean) ** 2 / (self.width_ + 1)
        self.width_ += 1
        self.total_ += x
        self.rows_[0].appendleft((x, 0.0))
        self._compress()

    def _compress(self) -> None:
        """Merge the two oldest buckets of any size that has too many, into the next size."""
        for i, row in enumerate(self.rows_):
            if len(row) <= self.max_buckets:
                return
            (t1, v1), (t2, v2) = row.pop(), row.pop()
            size = 2.0**i
            merged = (t1 + t2, v1 + v2 + size * size * (t1 / size - t2 / size) ** 2 / (2 * size))
            if i + 1 == len(self.rows_):
                self.rows_.append(deque())
            self.rows_[i + 1].appendleft(merged)

    def _detect(self) -> bool:
        self.tick_ += 1
        if self.tick_ % self.clock or self.width_ <= self.grace_period:
            return False
        detected = False
        while self.width_ > self.grace_period and self._cut_found():
            detected = True
            self._drop_oldest()
        return detected

    def _cut_found(self) -> bool:
        """Scan cuts from the oldest bucket: is |mean(old) - mean(new)| above the bound?"""
        n0, total0 = 0.0, 0.0
        for i in range(len(self.rows_) - 1, -1, -1):
            size = 2.0**i
            for total, _ in reversed(self.rows_[i]):
                n0, total0 = n0 + size, total0 + total
                n1 = self.width_ - n0
                if n1 < self.min_window_length:
                    return False
                if n0 >= self.min_window_length and self._significant(n0, n1, total0):
                    return True
        return False

    def _significant(self, n0: float, n1: float, total0: float) -> bool:
        gap = abs(total0 / n0 - (self.total_ - total0) / n1)
        delta_prime = math.log(2 * math.log(self.width_) / self.delta)
        m_recip = 1 / (n0 - self.min_window_length + 1) + 1 / (n1 - self.min_window_length + 1)
        variance = self.variance_ / self.width_
        epsilon = math.sqrt(2 * m_recip * variance * delta_prime) + 2 / 3 * delta_prime * m_recip
        return gap > epsilon

    def _drop_oldest(self) -> None:
        size = 2.0 ** (len(self.rows_) - 1)
        total, variance = self.rows_[-1].pop()
        if not self.rows_[-1] and len(self.rows_) > 1:
            self.rows_.pop()
        self.width_ -= int(size)
        self.total_ -= total
        if self.width_:
            mean, rest = total / size, self.total_ / self.width_
            self.variance_ -= variance + size * self.width_ * (mean - rest) ** 2 / (
                size + self.width_
            )
        else:
            self.total_, self.variance_ = 0.0, 0.0
        self.variance_ = max(self.variance_, 0.0)


class DDM:
    """Drift Detection Method (Gama et al., 2004) for a stream of 0/1 errors.

    Tracks the error rate p and its deviation s = sqrt(p(1-p)/n); remembers the
    minimum of p + s after ``warm_start`` updates; warns when p + s exceeds
    p_min + ``warning_threshold``·s_min and signals drift above ``drift_threshold``·s_min.
    A stream that starts with 30+ right answers has s_min = 0, so its first error is a
    drift: DDM suits error rates well above 1/``warm_start``; use ADWIN for rare errors.

    Example:
        >>> import random
        >>> rng = random.Random(42)
        >>> stream = rng.choices([0, 1], k=1000)
        >>> stream += rng.choices([0, 1], weights=[0.3, 0.7], k=1000)
        >>> ddm = DDM()
        >>> [i for i, x in enumerate(stream) if ddm.update(x).drift_detected]
        [1334]
    """

    def __init__(
        self, warm_start: int = 30, warning_threshold: float = 2.0, drift_threshold: float = 3.0
    ) -> None:
        self.warm_start = warm_start
        self.warning_threshold = warning_threshold
        self.drift_threshold = drift_threshold
        self._reset()

    def _reset(self) -> None:
        self.drift_detected = False
        self.warning_detected = False
        self.n_ = 0
        self.p_ = 0.0
        self.p_min_ = math.inf
        self.s_min_ = math.inf

    def update(self, x: float) -> DDM:
        if self.drift_detected:
            self._reset()
        self.n_ += 1
        self.p_ += (float(x) - self.p_) / self.n_
        s = math.sqrt(self.p_ * (1 - self.p_) / self.n_)
        if self.n_ <= self.warm_start:
            return self
        if self.p_ + s <= self.p_min_ + self.s_min_:
            self.p_min_, self.s_min_ = self.p_, s
        level = self.p_ + s - self.p_min_
        self.drift_detected = level > self.drift_threshold * self.s_min_
        self.warning_detected = not self.drift_detected and level > (
            self.warning_threshold * self.s_min_
        )
        return self


class PageHinkley:
    """Page-Hinkley test (Page, 1954): cumulative deviation from the running mean.

    ``mode`` "up" watches for an increase (an error rate that rises), "down" for a
    decrease, "both" for either; ``alpha`` slowly forgets old deviations.

    Example:
        >>> import random
        >>> rng = random.Random(12345)
        >>> stream = rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
        >>> ph = PageHinkley()
        >>> [i for i, x in enumerate(stream) if ph.update(x).drift_detected][:1]
        [1006]
    """

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
    ) -> None:
        self.min_instances = min_instances
        self.delta = delta
        self.threshold = threshold
        self.alpha = alpha
        self.mode = mode
        self._reset()

    def _reset(self) -> None:
        self.drift_detected = False
        self.n_ = 0
        self.mean_ = 0.0
        self.sum_up_ = 0.0
        self.sum_down_ = 0.0
        self.min_up_ = math.inf
        self.max_down_ = -math.inf

    def update(self, x: float) -> PageHinkley:
        if self.mode not in ("up", "down", "both"):
            raise ValueError(f"mode: expected 'up', 'down' or 'both', got {self.mode!r}")
        if self.drift_detected:
            self._reset()
        self.n_ += 1
        self.mean_ += (float(x) - self.mean_) / self.n_
        deviation = float(x) - self.mean_
        self.sum_up_ = self.alpha * self.sum_up_ + deviation - self.delta
        self.sum_down_ = self.alpha * self.sum_down_ + deviation + self.delta
        self.min_up_ = min(self.min_up_, self.sum_up_)
        self.max_down_ = max(self.max_down_, self.sum_down_)
        if self.n_ >= self.min_instances:
            up = self.sum_up_ - self.min_up_ > self.threshold
            down = self.max_down_ - self.sum_down_ > self.threshold
            self.drift_detected = (up and self.mode != "down") or (down and self.mode != "up")
        return self
