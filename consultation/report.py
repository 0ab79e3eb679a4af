"""The result report (寄せられたご意見と市の考え方) in the layout of reference 004.

:func:`build_report` gathers everything the report shows (pure data, every published
text already masked); the HTML page, the print template and the PDF are rendered from it.
Names and contact details of submitters are never part of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import render_template

from common.jpdate import wareki, wareki_range, wareki_range_short
from common.masking import mask
from common.templating import body_name
from consultation.models import CHANNELS, Consultation
from consultation.services import ordered_opinions

#: ア, イ, ウ … as 004 lists the 配布場所
IROHA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワ"
#: 1, 2 … → (1), (2) … are written directly in templates; numbers of categories are 1, 2 …


@dataclass
class ReportRow:
    number: int
    topic: str  #: shown as 【topic】 where a run of the same topic starts, else ""
    opinion: list[str]  #: paragraphs, masked
    reply: list[str]  #: paragraphs, masked
    same_count: int  #: form-letter copies answered by this row (0 when none)
    opinion_id: int


@dataclass
class ReportCategory:
    number: int
    heading: str
    rows: list[ReportRow] = field(default_factory=list)


@dataclass
class Report:
    consultation_id: int
    body_name: str
    title: str  #: 〇〇評価書について 寄せられたご意見と本市の考え方
    period: str  #: 令和7年11月12日（水）～令和7年12月11日（木）
    period_short: str  #: 令和7年11月12日～12月11日
    places: list[tuple[str, str]]  #: (ア, place)
    web_heading: str  #: 札幌市公式ホームページによる公開
    web_url: str
    channels: str  #: 郵送、持参、FAX、電子メール
    submitters: str  #: 1 団体
    breakdown: list[tuple[str, int]]  #: (channel label, submitters), accepted channels in order
    breakdown_total: int
    opinion_total: int
    categories: list[ReportCategory]
    reported_on: str  #: 令和8年1月…日 (empty before publication)
    masked_hits: int
    #: for a consultation closed before the end of its period: the period announced and why it
    #: was closed (the periods above are the days opinions were taken)
    closed_early_note: str = ""


def paragraphs(text: str) -> list[str]:
    """Paragraphs of a text: separated by blank lines; single line breaks stay within."""
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        return []
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def submitters_text(individuals: int, organisations: int) -> str:
    """「1 団体」, 「3 人」, 「3 人、1 団体」 (004 writes the number, a space and the unit)."""
    parts = []
    if individuals:
        parts.append(f"{individuals} 人")
    if organisations:
        parts.append(f"{organisations} 団体")
    return "、".join(parts) or "0 人"


def build_report(consultation: Consultation) -> Report:
    body = body_name()
    submissions = list(consultation.submissions)
    accepted = [c for c in CHANNELS if c in (consultation.channels or [])]
    # a submission by a channel not (or no longer) listed is still counted
    for sub in submissions:
        if sub.channel not in accepted:
            accepted.append(sub.channel)
    accepted.sort(key=list(CHANNELS).index)
    breakdown = [(CHANNELS[c], sum(1 for s in submissions if s.channel == c)) for c in accepted]
    organisations = sum(1 for s in submissions if s.submitter_kind == "organisation")

    opinions = ordered_opinions(consultation)
    copies: dict[int, int] = {}
    for o in opinions:
        if o.represented_by_id:
            copies[o.represented_by_id] = copies.get(o.represented_by_id, 0) + 1
    hits = 0

    def masked(text: str) -> list[str]:
        nonlocal hits
        result = mask(text)
        hits += len(result.hits)
        return paragraphs(result.text)

    categories = []
    for number, cat in enumerate(consultation.category_list(), start=1):
        section = ReportCategory(number, cat.get("heading") or cat["label"])
        previous_topic = None
        for o in opinions:
            if o.category != cat["key"] or o.represented_by_id:
                continue
            topic = o.topic.strip().strip("【】")
            shown = topic if topic and topic != previous_topic else ""
            previous_topic = topic
            if shown:
                shown = "".join(masked(shown))
            section.rows.append(
                ReportRow(len(section.rows) + 1, shown, masked(o.summary), masked(o.reply), copies.get(o.id, 0), o.id)
            )
        categories.append(section)
    # opinions whose category is no longer configured are not dropped silently
    known = {c["key"] for c in consultation.category_list()}
    strays = [o for o in opinions if o.category not in known and not o.represented_by_id]
    if strays:
        section = ReportCategory(len(categories) + 1, "その他のご意見")
        for o in strays:
            section.rows.append(
                ReportRow(len(section.rows) + 1, "", masked(o.summary), masked(o.reply), copies.get(o.id, 0), o.id)
            )
        categories.append(section)

    return Report(
        consultation_id=consultation.id,
        body_name=body,
        title=f"{consultation.title}について 寄せられたご意見と本市の考え方",
        period=wareki_range(consultation.start_date, consultation.actual_end_date),
        period_short=wareki_range_short(consultation.start_date, consultation.actual_end_date),
        closed_early_note=(
            f"募集期間を{wareki_range(consultation.start_date, consultation.end_date)}として募集しましたが、"
            f"{wareki(consultation.actual_end_date)}に締め切りました。"
            + (f"理由: {consultation.early_close_reason.strip()}" if consultation.early_close_reason.strip() else "")
        )
        if consultation.closed_early
        else "",
        places=[
            (IROHA[i] if i < len(IROHA) else str(i + 1), place) for i, place in enumerate(consultation.places or [])
        ],
        web_heading=f"{body}公式ホームページによる公開",
        web_url=consultation.web_url or "",
        channels="、".join(CHANNELS[c] for c in CHANNELS if c in (consultation.channels or [])),
        submitters=submitters_text(len(submissions) - organisations, organisations),
        breakdown=breakdown,
        breakdown_total=len(submissions),
        opinion_total=len(opinions),
        categories=categories,
        reported_on=wareki(consultation.reported_on) if consultation.reported_on else "",
        masked_hits=hits,
    )


def render_html(consultation: Consultation) -> str:
    """The report as one self-contained HTML document (print layout; used for the PDF and
    by ``flask consultation report --format html``)."""
    return render_template("consultation/report_print.html", report=build_report(consultation))


def report_digest(consultation: Consultation) -> str:
    """SHA-256 of the report's print HTML: what :func:`render_pdf` lays out (the key of its
    cached PDF; the HTML of a report is small and quick to make, the PDF is not)."""
    from common.pdf_cache import content_digest

    return content_digest(render_template("consultation/report_print.html", report=build_report(consultation)))


def render_pdf(consultation: Consultation) -> bytes:
    """The report as PDF (A4) through ``common.publish`` (its fetcher loads only data: URLs
    and whitelisted static files). The report carries its own print styles (004's layout),
    so the shared stylesheet is not applied."""
    from common.publish import render_pdf as publish_pdf

    report = build_report(consultation)
    html = render_template("consultation/report_print.html", report=report)
    return publish_pdf(html, stylesheets=(), metadata={"title": report.title, "author": report.body_name, "lang": "ja"})
