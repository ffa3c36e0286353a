"""Inline SVG charts rendered on the server (pure functions: numbers in, markup out; no JavaScript).

Every chart is an `<svg role="img">` with a `<title>` (its accessible name) and scales with its container
(`viewBox`, width 100 %), so it reads the same at 80 % zoom on a laptop and on a wide monitor.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count

from markupsafe import Markup, escape

_ids = count(1)


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def sparkline(values: Sequence[int], *, label: str, width: int = 160, height: int = 36) -> Markup:
    """A line of daily values with the last point marked; an empty sequence gives a placeholder."""
    title_id = f"sl{next(_ids)}"
    title = f'<title id="{title_id}">{escape(label)}</title>'
    head = (
        f'<svg class="spark" role="img" aria-labelledby="{title_id}" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">{title}'
    )
    if not values:
        return Markup(f'{head}<line x1="0" y1="{height - 1}" x2="{width}" y2="{height - 1}" class="spark-none"/></svg>')
    low, high = min(values), max(values)
    span = high - low or 1
    pad = 3
    step = (width - 2 * pad) / max(len(values) - 1, 1)

    def y(v: int) -> float:
        return height - pad - (v - low) / span * (height - 2 * pad)

    points = " ".join(f"{_fmt(pad + i * step)},{_fmt(y(v))}" for i, v in enumerate(values))
    last_x, last_y = pad + (len(values) - 1) * step, y(values[-1])
    return Markup(
        f'{head}<polyline class="spark-line" fill="none" points="{points}"/>'
        f'<circle class="spark-dot" cx="{_fmt(last_x)}" cy="{_fmt(last_y)}" r="2.5"/></svg>'
    )


def bar_chart(
    bars: Sequence[tuple[str, int]],
    *,
    label: str,
    width: int = 720,
    height: int = 160,
    highlight: int | None = None,
    every: int = 4,
) -> Markup:
    """Vertical bars (e.g. devices per week); `highlight` bars up to that index get the warning style, every
    `every`-th label is printed under the axis. Each bar has a `<title>` with its label and value."""
    title_id = f"bc{next(_ids)}"
    bottom, top = 18, 14
    plot = height - bottom - top
    high = max((v for _, v in bars), default=0) or 1
    slot = width / max(len(bars), 1)
    parts = [
        f'<svg class="bars" role="img" aria-labelledby="{title_id}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="{title_id}">{escape(label)}</title>',
        f'<line class="axis" x1="0" y1="{height - bottom}" x2="{width}" y2="{height - bottom}"/>',
        f'<text class="axis-label" x="0" y="10">{high}</text>',
    ]
    for i, (name, value) in enumerate(bars):
        h = value / high * plot
        x = i * slot + slot * 0.1
        cls = "bar warn" if highlight is not None and i <= highlight else "bar"
        parts.append(
            f'<rect class="{cls}" x="{_fmt(x)}" y="{_fmt(height - bottom - h)}" width="{_fmt(slot * 0.8)}" '
            f'height="{_fmt(h)}"><title>{escape(name)}: {value}</title></rect>'
        )
        if i % every == 0:
            parts.append(f'<text class="axis-label" x="{_fmt(x)}" y="{height - 4}">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_bar(parts: Sequence[tuple[str, int]], *, label: str, width: int = 240, height: int = 14) -> Markup:
    """One horizontal bar split into segments (class = segment name), e.g. a firmware's devices per group."""
    title_id = f"sb{next(_ids)}"
    total = sum(v for _, v in parts) or 1
    out = [
        f'<svg class="stack" role="img" aria-labelledby="{title_id}" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg"><title id="{title_id}">{escape(label)}</title>'
    ]
    x = 0.0
    for name, value in parts:
        if value <= 0:
            continue
        w = value / total * width
        out.append(
            f'<rect class="seg-{escape(name)}" x="{_fmt(x)}" y="0" width="{_fmt(w)}" height="{height}">'
            f"<title>{escape(name)}: {value}</title></rect>"
        )
        x += w
    out.append("</svg>")
    return Markup("".join(out))
