"""The systems and their connections drawn as SVG, server-side, with Graphviz ``dot``.

:func:`systems_svg` returns SVG markup that is safe to inline in a page or a PDF: the
output of ``dot`` is parsed and rebuilt from an allow-list of SVG elements and
attributes (no script, no style, no event handler, no external reference; links only to
paths of this site). Results are cached by the hash of the DOT source, so an unchanged
inventory is drawn once per process.

For screen readers the drawing is a labelled group (not an image: it holds links): a
system that links to its page is named by the text it shows (name and code), Graphviz's
``<title>`` elements (its node ids) are dropped, and an element with a tooltip but no link
(a connection, an outside party) becomes a plain group whose ``<title>`` is the tooltip.
"""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Iterable

from markupsafe import Markup, escape

log = logging.getLogger(__name__)

DOT_TIMEOUT = 10  # seconds
CACHE_SIZE = 64
FONT = "IPAexGothic"

SVG_NS = "http://www.w3.org/2000/svg"
#: the accessible name of every diagram
DIAGRAM_LABEL = "システム構成図"
XLINK_NS = "http://www.w3.org/1999/xlink"

#: colours per kind of system (市 / 国 / 外部) and for outside parties
NODE_STYLES = {
    "city": {"fillcolor": "#e1effa", "color": "#1f5f8b"},
    "national": {"fillcolor": "#fff4d6", "color": "#8a6100"},
    "external": {"fillcolor": "#f0f0f0", "color": "#555555"},
    "outside": {"fillcolor": "#ffffff", "color": "#777777"},
}

_ALLOWED_ELEMENTS = {
    "svg",
    "g",
    "title",
    "polygon",
    "polyline",
    "path",
    "ellipse",
    "circle",
    "rect",
    "line",
    "text",
    "tspan",
    "a",
    "defs",
    "desc",
}
_ALLOWED_ATTRIBUTES = {
    "id",
    "class",
    "width",
    "height",
    "viewBox",
    "transform",
    "points",
    "d",
    "cx",
    "cy",
    "rx",
    "ry",
    "r",
    "x",
    "y",
    "x1",
    "y1",
    "x2",
    "y2",
    "fill",
    "fill-opacity",
    "stroke",
    "stroke-width",
    "stroke-dasharray",
    "stroke-opacity",
    "font-family",
    "font-size",
    "font-weight",
    "font-style",
    "text-anchor",
    "preserveAspectRatio",
    "role",
    "aria-label",
    "focusable",
}
_SAFE_VALUE = re.compile(r"^[^<>\"'`\\]*$")
_SAFE_HREF = re.compile(r"^/(?!/)[A-Za-z0-9/_\-.?=&%]*$")

_cache: OrderedDict[str, str] = OrderedDict()
_lock = threading.Lock()


class DiagramError(RuntimeError):
    """Graphviz could not draw the diagram."""


# --------------------------------------------------------------------------- DOT


def dot_string(text: str) -> str:
    """``text`` as a quoted DOT string; backslashes are doubled so that Graphviz escapes
    (``\\N``, ``\\G``, ``\\l``) in user text stay literal."""
    text = str(text).replace("\\", "\\\\").replace('"', '\\"')
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{text}"'


def _wrap(text: str, width: int = 14) -> str:
    """Break long Japanese labels every ``width`` characters (Graphviz does not wrap)."""
    lines = []
    for part in str(text).split("\n"):
        while len(part) > width:
            cut = width
            # prefer to break after a closing bracket or 「・」 near the end
            for sep in ("(", "・", "、"):
                at = part.rfind(sep, width // 2, width + 1)
                if at > 0:
                    cut = at if sep == "(" else at + 1
                    break
            lines.append(part[:cut])
            part = part[cut:]
        lines.append(part)
    return "\n".join(lines)


def _attrs(**attrs) -> str:
    return ", ".join(f"{k}={dot_string(v)}" for k, v in attrs.items() if v is not None)


def build_dot(systems: Iterable, *, focus=None, link=None, flows: bool | None = None) -> str:
    """The DOT source for ``systems`` and their outgoing connections.

    Connections to systems outside ``systems`` are drawn when ``focus`` is given (the
    neighbourhood); otherwise only connections between the given systems and to outside
    parties. ``link(system) -> str`` gives a URL path for each node (optional).
    """
    systems = list(systems)
    if flows is None:
        # on a large picture the labels crowd out the systems; they stay as tooltips
        flows = focus is not None or len(systems) <= 4
    ids = {s.id for s in systems}
    nodes: dict[str, str] = {}
    edges: dict[tuple[str, str], dict] = {}

    def system_node(system) -> str:
        key = f"s{system.id}"
        if key not in nodes:
            style = NODE_STYLES.get(system.kind, NODE_STYLES["external"])
            label = _wrap(system.name) + f"\n[{system.code}]"
            penwidth = "2.5" if focus is not None and system.id == focus.id else "1"
            dashed = "rounded,filled,dashed" if system.status != "active" else "rounded,filled"
            url = link(system) if link else None
            nodes[key] = (
                f"  {key} [{_attrs(label=label, shape='box', style=dashed, penwidth=penwidth, URL=url, tooltip=system.name, **style)}];"
            )
        return key

    def outside_node(label: str) -> str:
        key = "x" + hashlib.sha1(label.encode("utf-8")).hexdigest()[:10]
        if key not in nodes:
            nodes[key] = (
                f"  {key} [{_attrs(label=_wrap(label), shape='ellipse', style='filled', tooltip=label, **NODE_STYLES['outside'])}];"
            )
        return key

    def add_edge(source: str, target: str, flows: str) -> None:
        """One edge per pair of nodes; a pair connected both ways gets arrows at both ends."""
        edge = edges.setdefault(
            tuple(sorted((source, target))), {"from": source, "to": target, "labels": [], "both": False}
        )
        if edge["from"] != source:
            edge["both"] = True
        if flows:
            edge["labels"].append(flows)

    for system in systems:
        system_node(system)
    wanted = systems
    for system in wanted:
        for connection in system.outgoing:
            if connection.target is not None:
                if connection.target_id not in ids and focus is None:
                    continue
                if (
                    focus is not None
                    and focus.id not in (system.id, connection.target_id)
                    and connection.target_id not in ids
                ):
                    continue
                target = system_node(connection.target)
            else:
                if focus is not None and system.id != focus.id:
                    continue  # the neighbours' outside parties would crowd the picture
                target = outside_node(connection.target_label)
            add_edge(system_node(system), target, connection.flows)
    if focus is not None:
        for connection in focus.incoming:
            if connection.source_id in ids:
                continue
            add_edge(system_node(connection.source), system_node(focus), connection.flows)
    lines = [
        "digraph inventory {",
        f"  graph [{_attrs(rankdir='LR', fontname=FONT, fontsize='12', nodesep='0.3', ranksep='0.6', bgcolor='transparent', pad='0.2')}];",
        f"  node [{_attrs(fontname=FONT, fontsize='12', margin='0.15,0.08')}];",
        f"  edge [{_attrs(fontname=FONT, fontsize='9', color='#4a5560', fontcolor='#4a5560', arrowsize='0.7')}];",
    ]
    lines += [nodes[key] for key in sorted(nodes)]
    for (_a, _b), edge in sorted(edges.items()):
        text = "／".join(dict.fromkeys(edge["labels"])) if edge["labels"] else None
        label = _wrap(text, 18) if text and flows else None
        lines.append(
            f"  {edge['from']} -> {edge['to']} [{_attrs(label=label, tooltip=text, dir='both' if edge['both'] else None)}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- rendering


def render_svg(dot_source: str) -> str:
    """Run ``dot -Tsvg`` and return the sanitised SVG (cached by content hash)."""
    key = hashlib.sha256(dot_source.encode("utf-8")).hexdigest()
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    try:
        proc = subprocess.run(
            ["dot", "-Tsvg"], input=dot_source.encode("utf-8"), capture_output=True, timeout=DOT_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DiagramError(f"dot failed: {exc}") from exc
    if proc.returncode != 0:
        raise DiagramError(f"dot exited with {proc.returncode}: {proc.stderr[:300]!r}")
    svg = sanitise_svg(proc.stdout)
    with _lock:
        _cache[key] = svg
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return svg


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def sanitise_svg(data: bytes | str) -> str:
    """Rebuild an SVG document keeping only allow-listed elements and attributes."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    # Graphviz writes a DOCTYPE with an external DTD: drop everything before <svg
    start = data.find(b"<svg")
    if start < 0:
        raise DiagramError("no svg element")
    body = data[start:]
    if b"<!ENTITY" in body or b"<!DOCTYPE" in body:
        raise DiagramError("entities are not allowed")
    root = ET.fromstring(body)
    if _local(root.tag) != "svg":
        raise DiagramError("root is not svg")
    clean = _clean(root)
    clean.set("class", "diagram__svg")
    clean.set("role", "group")
    clean.set("aria-label", DIAGRAM_LABEL)
    ET.register_namespace("", SVG_NS)
    return ET.tostring(clean, encoding="unicode", short_empty_elements=True)


def _clean(element: ET.Element) -> ET.Element:
    name = _local(element.tag)
    href = None
    if name == "a":
        href = next((v for a, v in element.attrib.items() if _local(a) == "href" and _SAFE_HREF.match(v)), None)
    # a Graphviz link without an address only carries a tooltip: not a link for anyone
    out = ET.Element(f"{{{SVG_NS}}}{'g' if name == 'a' and not href else name}")
    for attr, value in element.attrib.items():
        local = _local(attr)
        if local == "href" and name == "a":
            if value == href:
                out.set("href", value)
            continue
        if local in _ALLOWED_ATTRIBUTES and _SAFE_VALUE.match(value) and "url(" not in value.lower():
            out.set(local, value)
    if name == "a" and not href:
        tooltip = element.attrib.get(f"{{{XLINK_NS}}}title") or element.attrib.get("title")
        if tooltip:
            ET.SubElement(out, f"{{{SVG_NS}}}title").text = tooltip
    out.text = element.text
    out.tail = element.tail
    for child in element:
        child_name = _local(child.tag)
        if child_name == "title":
            continue  # Graphviz's ids of graph, nodes and edges (s1, s1->s2): no one's words
        if child_name in _ALLOWED_ELEMENTS and child_name != "svg":
            out.append(_clean(child))
        elif child.tail:
            # keep the text flow of removed elements out of the output
            pass
    return out


def _fallback(message: str) -> Markup:
    return Markup('<p class="diagram__error callout callout--warn">') + escape(message) + Markup("</p>")


def systems_svg(systems=None, *, focus=None, link=None) -> Markup:
    """SVG markup of ``systems`` (default: every system in the inventory) and their
    connections; with ``focus``, the neighbourhood of that system.

    ``link(system) -> str`` makes each system a link (a path of this site). The result is
    sanitised and can be inlined as is (it is a :class:`markupsafe.Markup`). When
    Graphviz fails, a short notice is returned instead of an SVG.
    """
    import sqlalchemy as sa

    from common.db import db
    from pia.inventory.models import System

    if systems is None:
        if focus is not None:
            neighbours = {focus.id: focus}
            for connection in focus.outgoing:
                if connection.target is not None:
                    neighbours[connection.target.id] = connection.target
            for connection in focus.incoming:
                neighbours[connection.source.id] = connection.source
            systems = [focus] + [s for sid, s in neighbours.items() if sid != focus.id]
        else:
            systems = db.session.execute(sa.select(System).order_by(System.id)).scalars().all()
    systems = list(systems)
    if not systems:
        return _fallback("登録されたシステムがありません。")
    try:
        return Markup(render_svg(build_dot(systems, focus=focus, link=link)))
    except DiagramError:
        log.exception("diagram failed")
        return _fallback("システム構成図を作成できませんでした。Graphviz(dot)が利用できるか確認してください。")
