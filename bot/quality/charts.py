"""Server-rendered SVG bar charts (matplotlib, SVG backend) for the console and the committee report.

`bar_chart(...)` returns SVG text to inline in a page: text stays text (`svg.fonttype = none`), the
chart has an accessible name (`<title>`, `<desc>` with every value, `role="img"`). No pyplot, no GUI
and no global figure registry: each call builds its own `Figure`, and matplotlib's settings are only
changed inside an `rc_context`, so nothing leaks from one chart (or préfecture) to the next.

matplotlib writes its colours and fonts as `style="..."` attributes and a `<style>` element; the
console's Content-Security-Policy (`style-src 'self'`) would block both once the SVG is inlined. They
are rewritten into SVG presentation attributes (`fill="#000091"`, `font-size="10px"`, ...), which no
CSP blocks, so the same SVG renders the same inside the console and in the standalone report.
"""

from __future__ import annotations

import html
import io
import re
import threading
from functools import lru_cache

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from bot.core.numbers import fr_number  # "12 345", "2,5": the charts' values and axes
from bot.quality.indicator_common import no_data, say

# DSFR colours: bleu France (sun-113), grey text and rules.
BAR = "#000091"
TEXT = "#3a3a3a"
GRID = "#dddddd"
FONT_FAMILY = "Marianne, Arial, 'DejaVu Sans', sans-serif"  # what the browser uses; DejaVu measures
MAX_LABEL = 42
MAX_VALUE_LABELS = 12
# Charts kept drawn (_drawn): a page or report has 14, of about 10 kB each.
CACHED_CHARTS = 256
RC = {
    "svg.fonttype": "none",  # text stays <text>, searchable and readable by screen readers
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # ships with matplotlib: no font lookup warnings
    "font.size": 10,
    "text.color": TEXT,
    "axes.labelcolor": TEXT,
    "xtick.color": TEXT,
    "ytick.color": TEXT,
    "axes.edgecolor": GRID,
}
# CSS properties matplotlib writes that are also SVG presentation attributes.
PRESENTATION = {
    "fill",
    "fill-opacity",
    "stroke",
    "stroke-width",
    "stroke-opacity",
    "stroke-linejoin",
    "stroke-linecap",
    "stroke-dasharray",
    "stroke-dashoffset",
    "stroke-miterlimit",
    "opacity",
    "text-anchor",
    "font-size",
    "font-family",
    "font-weight",
    "font-style",
    "clip-path",
    "dominant-baseline",
    "alignment-baseline",
    "fill-rule",
}


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1].rstrip() + "…"


def _font_attrs(value: str) -> dict[str, str]:
    """The `font:` shorthand matplotlib writes ('bold 12px 'DejaVu Sans', ...') as separate attributes."""
    m = re.match(r"\s*(?P<pre>(?:[a-z0-9-]+\s+)*?)(?P<size>[\d.]+px)\s+(?P<family>.+)$", value)
    if not m:
        return {}
    out = {"font-size": m["size"], "font-family": FONT_FAMILY}
    for token in m["pre"].split():
        if token in ("italic", "oblique"):
            out["font-style"] = token
        elif token != "small-caps":
            out["font-weight"] = token
    return out


def _style_to_attributes(match: re.Match) -> str:
    attrs: dict[str, str] = {}
    for decl in match.group(1).split(";"):
        if ":" not in decl:
            continue
        name, value = (p.strip() for p in decl.split(":", 1))
        if name == "font":
            attrs.update(_font_attrs(value))
        elif name == "font-family":
            attrs[name] = FONT_FAMILY
        elif name in PRESENTATION:
            attrs[name] = value
    return "".join(f' {k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())


def _clean_svg(svg: str, chart_id: str, title: str, desc: str) -> str:
    svg = svg[svg.index("<svg") :]  # no XML prolog nor DOCTYPE inside HTML
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r"\s*<defs>\s*<style[^>]*>.*?</style>\s*</defs>", "", svg, flags=re.S)
    svg = re.sub(r' style="([^"]*)"', _style_to_attributes, svg)
    svg = re.sub(r'<g id="[^"]*"', "<g", svg)  # matplotlib's group ids (figure_1, ...) repeat in every chart
    head = (
        f'<svg id="{chart_id}" class="chart-svg" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc"'
        f' stroke-linejoin="round" stroke-linecap="butt"'
    )
    svg = re.sub(r"^<svg", head, svg, count=1)
    svg = re.sub(r'(<svg[^>]*?) width="[^"]*" height="[^"]*"', r"\1", svg, count=1)  # scales with its box
    first_close = svg.index(">") + 1
    a11y = f'\n <title id="{chart_id}-title">{html.escape(title)}</title>\n <desc id="{chart_id}-desc">{html.escape(desc)}</desc>'
    return svg[:first_close] + a11y + svg[first_close:]


def bar_chart(chart_id: str, title: str, data: dict, *, value_label: str | None = None, labels: dict | None = None) -> str:
    """A bar chart of `data` ({key: number}, drawn in the given key order) as inline SVG text.

    `chart_id` must be unique in the page (it prefixes every id of the SVG); `labels` maps keys to
    the French text shown. Short keys (weekdays, hours) give vertical columns, long ones horizontal bars.
    The axis' label is `value_label`, by default the breakdown tables' « Nombre » (bot/console_texts.yml).
    The SVG is drawn once for what it shows (`_drawn`): the same figures asked again give it back at once.
    """
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", chart_id):
        raise ValueError(f"bad chart id: {chart_id!r}")
    labels = labels or {}
    names = tuple(_short(str(labels.get(k, k))) for k in data)
    values = tuple(float(v or 0) for v in data.values())
    desc = " ; ".join(f"{n} : {fr_number(v)}" for n, v in zip(names, values)) or no_data()
    return _drawn(chart_id, title, desc, names, values, value_label or say("tables.breakdown.columns.count"))


# One chart drawn at a time in the process: rc_context changes matplotlib's settings for every thread
# while it lasts. Only the drawing waits: the figures of a page, or a CSV that draws nothing, do not.
DRAWING = threading.Lock()


@lru_cache(maxsize=CACHED_CHARTS)
def _drawn(chart_id: str, title: str, desc: str, names: tuple[str, ...], values: tuple[float, ...], value_label: str) -> str:
    """The chart's SVG, a pure function of its arguments (every text and number it shows), cached by them:
    a figure that changed is drawn anew at once, the same figures are not drawn again. Drawing with
    matplotlib is most of the time of the console's indicators page on a small store (docs/store.md)."""
    drawn = [n.replace("$", r"\$") for n in names]  # a "$" would start matplotlib's mathtext
    vertical = len(names) > 1 and all(len(n) <= 9 for n in names)
    with DRAWING, matplotlib.rc_context({**RC, "svg.hashsalt": chart_id}):  # ids unique per chart, stable per run
        if vertical:
            fig = Figure(figsize=(7.5, 3.0))
        else:
            fig = Figure(figsize=(7.5, 0.9 + 0.32 * max(len(names), 1)))
        FigureCanvasSVG(fig)
        ax = fig.add_subplot()
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        fmt = FuncFormatter(lambda v, _pos: fr_number(v))
        if vertical:
            bars = ax.bar(range(len(names)), values, color=BAR, width=0.7)
            ax.set_xticks(
                range(len(names)), drawn, rotation=45 if len(names) > 8 else 0, ha="right" if len(names) > 8 else "center"
            )
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_formatter(fmt)
            ax.set_ylabel(value_label)
            ax.grid(axis="y", color=GRID, linewidth=0.6)
        else:
            bars = ax.barh(range(len(names)), values, color=BAR, height=0.65)
            ax.set_yticks(range(len(names)), drawn)
            ax.invert_yaxis()  # first key on top
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.xaxis.set_major_formatter(fmt)
            ax.set_xlabel(value_label)
            ax.grid(axis="x", color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        if len(values) <= MAX_VALUE_LABELS:  # beyond, the numbers overlap: the table beside gives them
            ax.bar_label(bars, labels=[fr_number(v) for v in values], padding=2, fontsize=8, color=TEXT)
        if values and max(values) > 0:
            (ax.set_ylim if vertical else ax.set_xlim)(0, max(values) * 1.12)
        fig.tight_layout()
        # tight_layout leaves a placeholder layout engine, for which savefig lays the figure out once more
        # (a whole draw, about a quarter of the chart's time) before drawing it: the layout is done, the SVG the same.
        fig.set_layout_engine(None)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return _clean_svg(buf.getvalue(), chart_id, title, desc)
