"""Markdown for long texts, rendered and then sanitised with nh3 (never trust the input)."""

from __future__ import annotations

from functools import cache

import nh3
from markupsafe import Markup, escape


@cache
def _markdown():
    """The Markdown parser, made at first use: markdown-it is imported by pages that show a
    long text, not by every ``flask`` command at start-up."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).enable("table")


ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "ul",
    "ol",
    "li",
    "blockquote",
    "code",
    "pre",
    "h3",
    "h4",
    "h5",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "a",
    "hr",
    "del",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}


def render_markdown(text: str | None) -> Markup:
    """Markdown → safe HTML (raw HTML in the input is escaped, then the output is sanitised)."""
    if not text:
        return Markup("")
    html = _markdown().render(text)
    return Markup(
        nh3.clean(
            html,
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            url_schemes={"http", "https", "mailto"},
            link_rel="noopener noreferrer",
        )
    )


def render_plain(text: str | None) -> Markup:
    """Plain text with line breaks kept, escaped."""
    if not text:
        return Markup("")
    return Markup("<br>").join(escape(line) for line in text.splitlines())
