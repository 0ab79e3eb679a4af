"""What the consultation tells the assessment workflow (``pia.procedure`` hooks)."""

from __future__ import annotations

from common.jpdate import wareki
from common.templating import body_name
from consultation.models import CHANNELS
from consultation.services import consultation_for, procedure_problems, published_opinions


def check(version) -> str | None:
    """None when 意見聴取 is done for ``version`` by a consultation held on that version
    (see :func:`consultation.services.procedure_problems`), else every reason why not."""
    consultation = consultation_for(version)
    if consultation is None:
        return "この版について住民等からの意見聴取（意見募集）が行われていません。"
    return "".join(procedure_problems(consultation)) or None


def section_vi(version) -> dict | None:
    """The facts of 意見聴取 for section VI of the assessment."""
    consultation = consultation_for(version)
    if consultation is None:
        return None
    body = body_name()
    places = []
    if consultation.web_url:
        places.append(f"{body}公式ホームページへの掲載")
    if consultation.places:
        places.append("、".join(consultation.places) + "での閲覧・配布")
    channels = "、".join(CHANNELS[c] for c in CHANNELS if c in (consultation.channels or []))
    method = "評価書案を" + ("及び".join(places) if places else "公表") + "により公表し、意見を募集した"
    if channels:
        method += f"（受付方法: {channels}）"
    method += "。"
    opinions = published_opinions(consultation)
    total = len(consultation.opinions)
    if consultation.status in ("closed", "reported"):
        if total:
            topics = []
            for o in opinions:
                label = (o.topic or consultation.category_label(o.category)).removesuffix("について")
                if label not in topics:
                    topics.append(label)
            main = (
                f"{len(consultation.submissions)}者から{total}件の意見が寄せられた。"
                f"主な内容: {'、'.join(topics)}に関するもの。"
            )
        else:
            main = "意見は寄せられなかった。"
    else:
        main = ""
    reflection = consultation.reflection.strip()
    if not reflection and consultation.status in ("closed", "reported"):
        changed = [o for o in opinions if o.changed]
        reflection = (
            f"寄せられた意見を踏まえ、{len(changed)}か所を修正した。"
            if changed
            else "寄せられた意見を踏まえた評価書の修正はない。"
        )
    reasons = []
    if consultation.is_shortened and consultation.shortened_reason.strip():
        reasons.append(consultation.shortened_reason.strip())
    if consultation.closed_early:
        reasons.append(
            f"募集期間を{wareki(consultation.end_date)}までとしていたが、"
            f"{wareki(consultation.actual_end_date)}に締め切った。"
            + (f"理由: {consultation.early_close_reason.strip()}" if consultation.early_close_reason.strip() else "")
        )
    shortened = "\n".join(reasons)
    return {
        "method": method,
        # a mapping, as section VI's 実施日・期間 is a fieldset of start and end (the day it
        # was closed when closed early)
        "period": {"start": consultation.actual_start_date, "end": consultation.actual_end_date},
        "shortened_reason": shortened,
        "shortening_reason": shortened,  # the item key of the 2024 schema
        "main_opinions": main,
        "reflection": reflection,
        "consultation_id": consultation.id,
        "status": consultation.status,
    }
