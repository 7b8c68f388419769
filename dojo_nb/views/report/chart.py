"""The score-over-steps chart as inline SVG built in Python, so the page needs no script.

Each episode is a series: its submissions' position score (left axis, 0..1, solid line)
and public score (right axis, the metric's own range, dashed line); invalid submissions
are crosses on the step axis. Every point has a ``<title>`` (the browser's tooltip).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from dojo_nb.views.report.episode import Submission, fmt
from dojo_nb.views.report.html import esc

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
_W, _H = 760, 300
_L, _R, _T, _B = 52, 64, 34, 38  # margins


@dataclass
class Series:
    label: str
    submissions: Sequence[Submission]
    n_steps: int


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def score_chart(series: Sequence[Series], *, title: str = "Score over steps", lower_is_better: bool = False,
                metric: str = "", marker_step: int | None = None) -> str:
    """An ``<svg>`` element (a string) plotting every series on shared axes.

    Better is always up: for a lower-is-better metric the public-score axis is inverted (and
    says so), so the metric line and the position line rise together. `marker_step` draws a
    vertical line at that step (the step a viewer has selected)."""
    pw, ph = _W - _L - _R, _H - _T - _B
    max_step = max([1] + [s.n_steps for s in series] + [sub.step for s in series for sub in s.submissions])
    publics = [sub.public_score for s in series for sub in s.submissions
               if sub.valid and sub.public_score is not None]
    p_lo, p_hi = (min(publics), max(publics)) if publics else (0.0, 1.0)
    if p_hi - p_lo < 1e-12:
        pad = abs(p_hi) * 0.05 or 0.05
        p_lo, p_hi = p_lo - pad, p_hi + pad

    def x(step: float) -> float:
        return _L + pw * step / max_step

    def y_pos(v: float) -> float:
        return _T + ph * (1 - v)

    def y_pub(v: float) -> float:
        frac = (v - p_lo) / (p_hi - p_lo)
        return _T + ph * (frac if lower_is_better else 1 - frac)

    parts = [f'<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
             f'viewBox="0 0 {_W} {_H}"><title>{esc(title)}</title>']
    # grid and axes
    for v in _ticks(0.0, 1.0):
        yy = y_pos(v)
        parts.append(f'<line class="grid" x1="{_L}" x2="{_L + pw}" y1="{yy:.1f}" y2="{yy:.1f}"/>'
                     f'<text x="{_L - 6}" y="{yy + 4:.1f}" text-anchor="end">{v:.2f}</text>')
    if publics:
        for v in _ticks(p_lo, p_hi):
            parts.append(f'<text x="{_L + pw + 6}" y="{y_pub(v) + 4:.1f}">{esc(fmt(v, ".4g"))}</text>')
    every = next(k for k in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10**9) if max_step / k <= 10)
    step_ticks = list(range(0, max_step + 1, every))
    for t in step_ticks:
        parts.append(f'<line class="axis" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{_T + ph}" y2="{_T + ph + 4}"/>'
                     f'<text x="{x(t):.1f}" y="{_T + ph + 16}" text-anchor="middle">{t}</text>')
    parts.append(f'<line class="axis" x1="{_L}" x2="{_L + pw}" y1="{_T + ph}" y2="{_T + ph}"/>'
                 f'<line class="axis" x1="{_L}" x2="{_L}" y1="{_T}" y2="{_T + ph}"/>')
    parts.append(f'<text x="{_L + pw / 2:.1f}" y="{_H - 6}" text-anchor="middle">step</text>'
                 f'<text x="12" y="{_T + ph / 2:.1f}" text-anchor="middle" '
                 f'transform="rotate(-90 12 {_T + ph / 2:.1f})">position score (higher is better)</text>')
    if publics:
        xr = _W - 10
        name = f"public {metric}" if metric else "public score"
        label = f"{name} ({'lower is better, inverted' if lower_is_better else 'higher is better'})"
        parts.append(f'<text class="metric-axis" x="{xr}" y="{_T + ph / 2:.1f}" text-anchor="middle" '
                     f'transform="rotate(90 {xr} {_T + ph / 2:.1f})">{esc(label)}</text>')
    if marker_step is not None and 0 <= marker_step <= max_step:
        mx = x(marker_step)
        parts.append(f'<g class="marker"><title>selected: step {marker_step}</title>'
                     f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{_T}" y2="{_T + ph}" stroke="#9a6700" '
                     f'stroke-width="1.5" stroke-dasharray="3 3"/><text x="{mx:.1f}" y="{_T - 4}" '
                     f'text-anchor="middle">step {marker_step}</text></g>')
    # series
    legend_x = _L
    for i, s in enumerate(series):
        color = COLORS[i % len(COLORS)]
        valid = [sub for sub in s.submissions if sub.valid]
        pos = [(sub.step, sub.position_score) for sub in valid if sub.position_score is not None]
        pub = [(sub.step, sub.public_score) for sub in valid if sub.public_score is not None]
        if len(pos) > 1:
            pts = " ".join(f"{x(st):.1f},{y_pos(v):.1f}" for st, v in pos)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{pts}"/>')
        if len(pub) > 1:
            pts = " ".join(f"{x(st):.1f},{y_pub(v):.1f}" for st, v in pub)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
                         f'stroke-dasharray="5 4" points="{pts}"/>')
        for sub in s.submissions:
            tip = (f"{s.label} — step {sub.step}: " + (
                f"public score {fmt(sub.public_score)}, position score {fmt(sub.position_score, '.4f')}"
                if sub.valid else f"invalid submission: {sub.message}") + (" (final)" if sub.final else ""))
            if not sub.valid or sub.position_score is None:
                cx, cy = x(sub.step), _T + ph
                parts.append(f'<g><title>{esc(tip)}</title><path stroke="{color}" stroke-width="2" '
                             f'd="M{cx - 5:.1f},{cy - 5:.1f}L{cx + 5:.1f},{cy + 5:.1f}'
                             f'M{cx - 5:.1f},{cy + 5:.1f}L{cx + 5:.1f},{cy - 5:.1f}"/></g>')
                continue
            parts.append(f'<g><title>{esc(tip)}</title><circle cx="{x(sub.step):.1f}" '
                         f'cy="{y_pos(sub.position_score):.1f}" r="4.5" fill="{color}"/>')
            if sub.public_score is not None:
                parts.append(f'<rect x="{x(sub.step) - 3:.1f}" y="{y_pub(sub.public_score) - 3:.1f}" '
                             f'width="6" height="6" fill="#fff" stroke="{color}" stroke-width="1.5"/>')
            parts.append("</g>")
        n = len(s.submissions)
        text = f"{s.label} ({n} submission{'s' if n != 1 else ''})"
        parts.append(f'<rect x="{legend_x}" y="8" width="12" height="12" fill="{color}"/>'
                     f'<text x="{legend_x + 16}" y="18">{esc(text)}</text>')
        legend_x += 24 + 7 * len(text)
    if not any(s.submissions for s in series):
        parts.append(f'<text x="{_L + pw / 2:.1f}" y="{_T + ph / 2:.1f}" text-anchor="middle">'
                     "no submissions</text>")
    parts.append("</svg>")
    inverted = "; inverted: lower is better, so better is up" if lower_is_better and publics else ""
    key = ('<div class="legend-key">● / solid: position score (left axis) · □ / dashed: public score '
           f'(right axis{inverted}) · ✕: invalid submission</div>')
    return "".join(parts) + key


__all__ = ["Series", "score_chart", "COLORS"]
