"""Small inline SVG charts: reference vs current distributions, and metrics over time.

Each function returns one ``<svg>`` element as text, with every label escaped, so the
report needs no script, no CDN and no network. Shares are drawn from drift summaries
(never raw rows), so a chart costs the same for a thousand rows as for a billion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from itertools import pairwise

import numpy as np

from ailayer.monitoring.drift.summary import CategoricalSummary, NumericSummary
from ailayer.monitoring.numeric import capped, exponent, scaled, unscaled

WIDTH, HEIGHT = 560, 210
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 14, 40
REFERENCE_COLOR, CURRENT_COLOR = "#4c78a8", "#f58518"
SERIES_COLORS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2")
HISTOGRAM_BINS = 30
TOP_CATEGORIES = 12


def histogram(reference: NumericSummary, current: NumericSummary) -> str:
    """Overlaid histograms (share of rows per bin) on common bins across both windows'
    central 99% (values outside fall into the end bins)."""
    edges = _common_edges(reference, current)
    shares = [_shares(s, edges) for s in (reference, current)]
    labels = [f"{_number(a)} to {_number(b)}" for a, b in pairwise(edges)]
    axis = (_number(edges[0]), _number(edges[-1]))
    return _bars(labels, shares[0], shares[1], axis=axis)


def categories(reference: CategoricalSummary, current: CategoricalSummary) -> str:
    """Side-by-side bars of each category's share; past the largest ``TOP_CATEGORIES``,
    the rest are one bar."""
    keys = sorted(set(reference.counts) | set(current.counts))
    ref = np.array([reference.counts.get(k, 0) for k in keys], dtype=float)
    cur = np.array([current.counts.get(k, 0) for k in keys], dtype=float)
    ref_share, cur_share = _normalize(ref), _normalize(cur)
    order = np.argsort(-(ref_share + cur_share), kind="stable")
    shown, rest = order[:TOP_CATEGORIES], order[TOP_CATEGORIES:]
    labels = [keys[i] for i in shown]
    a, b = list(ref_share[shown]), list(cur_share[shown])
    if len(rest):
        labels.append(f"{len(rest)} others")
        a.append(float(ref_share[rest].sum()))
        b.append(float(cur_share[rest].sum()))
    return _bars(labels, np.array(a), np.array(b), side_by_side=True)


def lines(series: Mapping[str, Sequence[tuple[datetime, float | None]]], unit: str = "") -> str:
    """One line per series (e.g. per model version) over time; gaps where a value is None."""
    points = [(t, v) for values in series.values() for t, v in values if v is not None]
    if not points:
        return _message("no values in this period")
    times = [t.timestamp() for t, _ in points]
    low_t, high_t = min(times), max(times)
    low_v, high_v = min(v for _, v in points), max(v for _, v in points)
    if high_v == low_v:
        low_v, high_v = low_v - 0.5 if low_v else 0.0, high_v + 0.5 if high_v else 1.0
    x = _scale(low_t, high_t if high_t > low_t else low_t + 1, LEFT, WIDTH - RIGHT)
    y = _scale(low_v, high_v, HEIGHT - BOTTOM, TOP)
    parts = [_axes(_number(low_v) + unit, _number(high_v) + unit)]
    first = min(t for t, _ in points)
    last = max(t for t, _ in points)
    parts.append(_x_labels(first.strftime("%m-%d %H:%M"), last.strftime("%m-%d %H:%M")))
    for index, (name, values) in enumerate(series.items()):
        color = SERIES_COLORS[index % len(SERIES_COLORS)]
        parts.append(_series(name, values, x, y, color, unit))
        parts.append(_legend(index, name, color))
    return _svg(parts)


def _series(name: str, values: Sequence, x, y, color: str, unit: str) -> str:  # type: ignore[no-untyped-def]
    out, run = [], []
    for t, v in [*values, (None, None)]:
        if v is None:
            if len(run) > 1:
                path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in run)
                out.append(
                    f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>'
                )
            run = []
            continue
        run.append((x(t.timestamp()), y(v), t))
        tip = escape(f"{name} {t:%Y-%m-%d %H:%M} {_number(v)}{unit}")
        out.append(
            f'<circle cx="{x(t.timestamp()):.1f}" cy="{y(v):.1f}" r="3" fill="{color}">'
            f"<title>{tip}</title></circle>"
        )
    return "".join(out)


def _bars(
    labels: list[str],
    reference: np.ndarray,
    current: np.ndarray,
    *,
    side_by_side: bool = False,
    axis: tuple[str, str] | None = None,
) -> str:
    top = float(max(reference.max(initial=0.0), current.max(initial=0.0))) or 1.0
    y = _scale(0.0, top, HEIGHT - BOTTOM, TOP)
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    parts = [_axes("0%", f"{top:.0%}" if top >= 0.1 else f"{top:.1%}")]
    for i, label in enumerate(labels):
        for j, (share, color) in enumerate(
            ((reference[i], REFERENCE_COLOR), (current[i], CURRENT_COLOR))
        ):
            width = slot * (0.42 if side_by_side else 0.9)
            left = LEFT + i * slot + (slot * 0.05 if not side_by_side else slot * (0.08 + 0.42 * j))
            tip = escape(f"{label}: {'reference' if j == 0 else 'current'} {share:.1%}")
            opacity = "1" if side_by_side else "0.55"
            parts.append(
                f'<rect x="{left:.1f}" y="{y(share):.1f}" width="{width:.1f}" '
                f'height="{HEIGHT - BOTTOM - y(share):.1f}" fill="{color}" '
                f'fill-opacity="{opacity}"><title>{tip}</title></rect>'
            )
        if side_by_side:
            text = escape(_shorten(label))
            cx = LEFT + (i + 0.5) * slot
            parts.append(
                f'<text x="{cx:.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="10" '
                f'text-anchor="middle">{text}</text>'
            )
    if axis:
        parts.append(_x_labels(*axis))
    parts.append(_legend(0, "reference", REFERENCE_COLOR))
    parts.append(_legend(1, "current", CURRENT_COLOR))
    return _svg(parts)


def _common_edges(reference: NumericSummary, current: NumericSummary) -> np.ndarray:
    lows, highs = [], []
    for summary in (reference, current):
        if summary.count:
            low, high = summary.quantiles(np.array([0.005, 0.995]))
            lows.append(float(low))
            highs.append(float(high))
    low, high = (min(lows), max(highs)) if lows else (0.0, 1.0)
    if high <= low:
        margin = max(0.5, abs(low) * 1e-9)
        low, high = capped(low - margin), capped(high + margin)
    e = exponent(low, high)  # evenly spaced even across ±1.8e308, where high - low is inf
    return unscaled(np.linspace(*scaled(np.array([low, high]), e), HISTOGRAM_BINS + 1), e)


def _shares(summary: NumericSummary, edges: np.ndarray) -> np.ndarray:
    """Share of the weight in each bin (the last bin closed, as ``np.histogram``);
    values outside the edges count in the end bins."""
    if not summary.count:
        return np.zeros(len(edges) - 1)
    index = np.clip(np.searchsorted(edges, summary.values, side="right") - 1, 0, len(edges) - 2)
    counts = np.bincount(index, weights=summary.weights, minlength=len(edges) - 1)
    return counts / summary.weights.sum()


def _normalize(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts


def _scale(low: float, high: float, out_low: float, out_high: float):  # type: ignore[no-untyped-def]
    """Map [low, high] onto [out_low, out_high], on scaled values so any floats fit."""
    e = exponent(low, high)
    low_s, high_s = scaled(np.array([low, high]), e)
    span = float(high_s - low_s) or 1.0
    return lambda v: out_low + float(scaled(v, e) - low_s) / span * (out_high - out_low)


def _axes(bottom_label: str, top_label: str) -> str:
    base = HEIGHT - BOTTOM
    return (
        f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="#999"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="#999"/>'
        f'<text x="{LEFT - 4}" y="{base}" font-size="10" text-anchor="end">'
        f"{escape(bottom_label)}</text>"
        f'<text x="{LEFT - 4}" y="{TOP + 8}" font-size="10" text-anchor="end">'
        f"{escape(top_label)}</text>"
    )


def _x_labels(first: str, last: str) -> str:
    y = HEIGHT - BOTTOM + 14
    return (
        f'<text x="{LEFT}" y="{y}" font-size="10">{escape(first)}</text>'
        f'<text x="{WIDTH - RIGHT}" y="{y}" font-size="10" text-anchor="end">{escape(last)}</text>'
    )


def _legend(index: int, name: str, color: str) -> str:
    x = LEFT + 8 + index * 130
    y = HEIGHT - 10
    return (
        f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color}"/>'
        f'<text x="{x + 14}" y="{y}" font-size="11">{escape(_shorten(name, 18))}</text>'
    )


def _message(text: str) -> str:
    return _svg(
        [
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" font-size="12" text-anchor="middle" '
            f'fill="#777">{escape(text)}</text>'
        ]
    )


def _svg(parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" font-family="sans-serif">'
        + "".join(parts)
        + "</svg>"
    )


def _number(value: float) -> str:
    return f"{value:.4g}"


def _shorten(text: str, limit: int = 12) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
