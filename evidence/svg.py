"""A small server-side SVG bar chart (no JavaScript, no inline style: classes only)."""

from __future__ import annotations

from markupsafe import Markup, escape


def stacked_bars(
    buckets, series: list[str], labels: dict[str, str], *, width=720, height=220, title="点検結果の推移"
) -> Markup:
    """``buckets`` = [(label, {series: n})]; one stacked bar per bucket."""
    pad_l, pad_b, pad_t = 40, 28, 10
    n = max(len(buckets), 1)
    totals = [sum(v.values()) for _, v in buckets]
    top = max(totals + [1])
    plot_h = height - pad_b - pad_t
    bar_w = (width - pad_l - 10) / n
    parts = [
        f'<svg class="trend" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="trend-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="trend-title">{escape(title)}</title>',
    ]
    for frac in (0, 0.5, 1):
        y = pad_t + plot_h * (1 - frac)
        parts.append(f'<line class="trend__grid" x1="{pad_l}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="trend__axis" x="{pad_l - 4}" y="{y + 4:.1f}" text-anchor="end">{round(top * frac)}</text>'
        )
    for i, (label, values) in enumerate(buckets):
        x = pad_l + i * bar_w + bar_w * 0.15
        y = pad_t + plot_h
        for idx, name in enumerate(series):
            v = values.get(name, 0)
            if not v:
                continue
            h = plot_h * v / top
            y -= h
            parts.append(
                f'<rect class="trend__bar trend__bar--{idx % 10}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{bar_w * 0.7:.1f}" height="{h:.1f}">'
                f"<title>{escape(str(label))} {escape(labels.get(name, name))}: {v}件</title></rect>"
            )
        parts.append(
            f'<text class="trend__axis" x="{x + bar_w * 0.35:.1f}" y="{height - 10}" '
            f'text-anchor="middle">{escape(str(label))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
