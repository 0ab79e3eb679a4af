"""The Graphviz diagram: escaping, sanitising and caching."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest

from pia.inventory import diagram


def _system(id_, code, name, kind="city", status="active"):
    return SimpleNamespace(id=id_, code=code, name=name, kind=kind, status=status, outgoing=[], incoming=[])


def _connect(source, target=None, label="", flows=""):
    c = SimpleNamespace(
        source=source,
        source_id=source.id,
        target=target,
        target_id=target.id if target else None,
        target_label=label,
        flows=flows,
    )
    source.outgoing.append(c)
    if target is not None:
        target.incoming.append(c)
    return c


def test_dot_string_escapes_quotes_backslashes_and_graphviz_escapes():
    assert diagram.dot_string('a"b') == '"a\\"b"'
    assert diagram.dot_string("x\\N") == '"x\\\\N"'
    assert diagram.dot_string("1\n2") == '"1\\n2"'


def test_svg_shows_systems_connections_and_both_directions():
    a, b = _system(1, "JUKI", "既存住基システム"), _system(2, "JUKI_MID", "住基ネット中間サーバ", kind="national")
    _connect(a, b, flows="異動データ")
    _connect(b, a, flows="住基情報")
    _connect(a, label="税務システム", flows="課税")
    dot = diagram.build_dot([a, b])
    assert 'dir="both"' in dot
    svg = diagram.render_svg(dot)
    assert svg.startswith("<svg") and "既存住基システム" in svg and "税務システム" in svg


def test_user_text_cannot_inject_markup_or_dot():
    evil = _system(1, "X", '"];\nnode [label="<script>alert(1)</script>" URL="javascript:alert(1)"')
    svg = str(diagram.systems_svg([evil]))
    assert svg.startswith("<svg")
    assert "<script" not in svg
    # the injected text stays text: no attribute of the node carries it as a link
    assert "href" not in svg
    assert "&lt;script&gt;" in svg


def test_sanitise_drops_scripts_handlers_styles_and_external_links():
    raw = (
        b'<?xml version="1.0"?><!-- c --><svg xmlns="http://www.w3.org/2000/svg" '
        b'xmlns:xlink="http://www.w3.org/1999/xlink" onload="alert(1)" width="10pt" viewBox="0 0 10 10">'
        b"<script>alert(1)</script><style>*{}</style><foreignObject><p>x</p></foreignObject>"
        b'<g style="fill:red"><a xlink:href="https://evil.example/"><text x="1">t</text></a>'
        b'<a xlink:href="/inventory/systems/1"><text>ok</text></a>'
        b'<image xlink:href="file:///etc/passwd"/><polygon fill="url(#x)" points="0,0 1,1"/></g></svg>'
    )
    svg = diagram.sanitise_svg(raw)
    for forbidden in (
        "onload",
        "<script",
        "<style",
        "foreignObject",
        "evil.example",
        "file:",
        "<image",
        "style=",
        "url(",
    ):
        assert forbidden not in svg, forbidden
    assert 'href="/inventory/systems/1"' in svg
    assert 'width="10pt"' in svg


def test_entities_are_refused():
    with pytest.raises(diagram.DiagramError):
        diagram.sanitise_svg(b'<svg xmlns="http://www.w3.org/2000/svg"><!DOCTYPE x [<!ENTITY a "b">]></svg>')


def test_result_is_cached_by_content(monkeypatch):
    calls = []
    real = subprocess.run

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(diagram.subprocess, "run", counting)
    diagram._cache.clear()
    dot = diagram.build_dot([_system(7, "C", "キャッシュ確認")])
    first = diagram.render_svg(dot)
    second = diagram.render_svg(dot)
    assert first == second and len(calls) == 1
    diagram.render_svg(dot.replace("キャッシュ確認", "別の図"))
    assert len(calls) == 2


def test_failure_gives_a_notice(monkeypatch):
    def broken(*args, **kwargs):
        raise FileNotFoundError("dot")

    monkeypatch.setattr(diagram.subprocess, "run", broken)
    diagram._cache.clear()
    out = str(diagram.systems_svg([_system(8, "Z", "図なし")]))
    assert "<svg" not in out and "作成できませんでした" in out


def test_focus_draws_the_neighbourhood_only():
    a, b, c, d = (_system(i, f"S{i}", f"システム{i}") for i in range(1, 5))
    _connect(a, b)
    _connect(c, a)
    _connect(b, d)  # not a neighbour of a
    dot = diagram.build_dot([a, b, c], focus=a)
    assert "システム2" in dot and "システム3" in dot and "システム4" not in dot
    assert 'penwidth="2.5"' in dot


def test_svg_is_a_labelled_group_whose_links_are_named_by_their_text():
    """Screen readers: the drawing holds links, so it is a group (not an image) named
    システム構成図; a linked system is named by what it shows; a connection or an outside
    party (a tooltip, no address) is no link but a group titled with the tooltip; Graphviz's
    node ids are not shown as titles."""
    import xml.etree.ElementTree as ET

    a, b = _system(1, "JUKI", "既存住基システム"), _system(2, "ZEI", "税務システム")
    _connect(a, b, flows="異動データ")
    _connect(a, label="国の中間サーバ", flows="照会")
    svg = diagram.render_svg(diagram.build_dot([a, b], link=lambda s: f"/inventory/systems/{s.id}"))
    root = ET.fromstring(svg)
    ns = {"svg": diagram.SVG_NS}
    assert root.get("role") == "group" and root.get("aria-label") == "システム構成図"
    links = root.findall(".//svg:a", ns)
    assert sorted(link.get("href") for link in links) == ["/inventory/systems/1", "/inventory/systems/2"]
    for link in links:
        assert link.get("aria-label") is None
    shown = {"".join(link.itertext()).strip().replace("\n", "") for link in links}
    assert shown == {"既存住基システム[JUKI]", "税務システム[ZEI]"}
    titles = [t.text for t in root.iter(f"{{{diagram.SVG_NS}}}title")]
    assert "異動データ" in titles and "国の中間サーバ" in titles
    assert not [t for t in titles if t and (t.startswith(("s1", "s2", "x")) or "->" in t)], titles
