from __future__ import annotations

import logging

from common.logs import MyNumberFilter
from common.markdown import render_markdown


def test_markdown_is_sanitised():
    html = str(
        render_markdown("**重要** <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>")
    )
    assert "<strong>重要</strong>" in html
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html  # shown as text, not dropped silently


def test_log_filter_removes_my_number(caplog):
    logger = logging.getLogger("hyoka.test")
    logger.addFilter(MyNumberFilter())
    with caplog.at_level(logging.INFO, logger="hyoka.test"):
        logger.info("received %s and %s", "123456789018", "123456789012")
    text = caplog.text
    assert "123456789018" not in text and "個人番号を伏せました" in text
    assert "123456789012" in text  # an invalid check digit is not a 個人番号
