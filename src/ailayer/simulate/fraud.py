"""Fraud arrives in episodes: a fraudster hits one victim user with a burst of payments.

Two kinds of fraudster exist. Before drift (and always, without ``fraud_pattern_shift``)
they use stolen cards: new card, new device, foreign country, night, large amounts.
After a pattern shift they take over accounts instead: the victim's own old card, at
home, in office hours, small amounts in fast bursts, so that a model trained on the old
pattern misjudges them.
Both kinds are always drawn, and the shift only selects between them, so the random
stream (hence all data before ``drift_start``) is identical with and without the shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ailayer.simulate import catalog
from ailayer.simulate.config import SimulationConfig
from ailayer.simulate.entities import Accounts, Users
from ailayer.simulate.legit import card_age_days, payment_country, plan_amounts
from ailayer.simulate.timeline import drift_t, place, sample_days, span

EPISODE_MEAN_SIZE = 4.0
STOLEN_CARD_MEDIAN_AMOUNT = 250.0
STOLEN_CARD_AMOUNT_SIGMA = 0.8
TAKEOVER_AMOUNT_SCALE = 0.4  # small amounts stay under the radar


@dataclass(frozen=True)
class Profile:
    """Per-episode behaviour of one kind of fraudster."""

    new_card_share: float
    new_device_share: float
    abroad_share: float
    gap_seconds: float  # mean time between the payments of a burst


STOLEN_CARD = Profile(new_card_share=0.5, new_device_share=0.5, abroad_share=0.45, gap_seconds=600)
TAKEOVER = Profile(new_card_share=0.0, new_device_share=0.5, abroad_share=0.04, gap_seconds=180)


def episode_sizes(rng: np.random.Generator, n_fraud: int) -> np.ndarray:
    """Split ``n_fraud`` payments into bursts of geometric size summing exactly to it."""
    sizes = rng.geometric(1.0 / EPISODE_MEAN_SIZE, size=n_fraud)
    if n_fraud == 0:
        return sizes
    total = np.cumsum(sizes)
    keep = int(np.searchsorted(total, n_fraud)) + 1
    sizes = sizes[:keep]
    sizes[-1] -= total[keep - 1] - n_fraud
    return sizes


def _traits(rng: np.random.Generator, profile: Profile, n: int) -> dict[str, np.ndarray]:
    new_card = rng.random(n) < profile.new_card_share
    fresh = rng.integers(0, 4, size=n)
    return {
        "card_age_days": np.where(new_card, fresh, card_age_days(rng, n)),
        "device_new": rng.random(n) < profile.new_device_share,
        "abroad": rng.random(n) < profile.abroad_share,
        "gap_seconds": np.full(n, profile.gap_seconds),
    }


def _episode_traits(
    rng: np.random.Generator, home: np.ndarray, takeover: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-episode card, device, country and pace, from the profile each episode follows."""
    stolen = _traits(rng, STOLEN_CARD, len(home))
    taken = _traits(rng, TAKEOVER, len(home))
    traits = {key: np.where(takeover, taken[key], stolen[key]) for key in stolen}
    traits["country"] = payment_country(rng, home, traits["abroad"])
    return traits


def _burst_offsets(rng: np.random.Generator, sizes: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """Seconds from an episode's first payment to each of its payments."""
    starts = np.cumsum(sizes) - sizes
    gaps = rng.exponential(1.0, size=int(sizes.sum())) * gap
    gaps[starts] = 0.0
    elapsed = np.cumsum(gaps)
    return np.round(elapsed - np.repeat(elapsed[starts], sizes)).astype(np.int64)


def _amounts(rng: np.random.Generator, plan: np.ndarray, takeover: np.ndarray) -> np.ndarray:
    stolen = STOLEN_CARD_MEDIAN_AMOUNT * rng.lognormal(0.0, STOLEN_CARD_AMOUNT_SIGMA, len(plan))
    taken = plan_amounts(rng, plan, scale=TAKEOVER_AMOUNT_SCALE)
    return np.where(takeover, taken, stolen)


def _episode_starts(
    rng: np.random.Generator, n: int, config: SimulationConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Start times, and which episodes are account takeovers.

    Both kinds share the day and differ in the hour: stolen cards at night, takeovers in
    office hours. An episode turns into a takeover only when both of its candidate times
    are after drift, so no episode ever moves across ``drift_start``.
    """
    day, second = sample_days(rng, n, config)
    stolen_t = place(day, rng.choice(24, size=n, p=catalog.FRAUD_HOURS), second, config)
    taken_t = place(day, rng.choice(24, size=n, p=catalog.LEGIT_HOURS), second, config)
    after = np.minimum(stolen_t, taken_t) >= drift_t(config)
    takeover = after & config.fraud_pattern_shift
    return np.where(takeover, taken_t, stolen_t), takeover


def fraud_payments(
    rng: np.random.Generator,
    n_fraud: int,
    accounts: Accounts,
    users: Users,
    config: SimulationConfig,
) -> dict[str, np.ndarray]:
    """``n_fraud`` fraudulent payments, grouped in bursts against random victims."""
    sizes = episode_sizes(rng, n_fraud)
    victim = rng.integers(0, len(users.account), size=len(sizes))
    start_t, takeover = _episode_starts(rng, len(sizes), config)
    account = users.account[victim]
    traits = _episode_traits(rng, accounts.country[account], takeover)
    episode = np.repeat(np.arange(len(sizes)), sizes)
    offsets = _burst_offsets(rng, sizes, traits["gap_seconds"][episode])
    return {
        "user": victim[episode],
        "t": np.minimum(start_t[episode] + offsets, span(config) - 1),
        "amount": _amounts(rng, accounts.plan[account][episode], takeover[episode]),
        "card_age_days": traits["card_age_days"][episode],
        "device_new": traits["device_new"][episode],
        "country": traits["country"][episode],
        "is_fraud": np.ones(n_fraud, dtype=bool),
    }
