"""The opinions of a consultation as Excel, and the replies written there read back.

The sheet has No., 区分, 見出し, ご意見, 市の考え方 and 受付方法 — never a submitter's name,
address or contact, and texts with every 個人番号 masked (:func:`common.mynumber_guard.mask_my_numbers`).
An opinion is found again by its 区分 and No.; its text must be unchanged, so that a reply
never lands on another opinion. :func:`read_replies` checks the whole file first and
returns the changes and the errors; nothing is stored unless there is no error and the
officer confirmed the preview (:func:`apply_replies`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from common.mynumber_guard import mask_my_numbers
from common.xlsxsafe import read_rows, workbook
from consultation.models import CHANNELS, Consultation, Opinion
from consultation.services import ordered_opinions, update_opinion

HEADER = ("No.", "区分", "見出し", "寄せられたご意見", "市の考え方", "受付方法")
SHEET = "意見と市の考え方"
WIDTHS = {SHEET: (6, 24, 18, 60, 60, 12)}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace("\r\n", "\n").replace("\r", "\n").strip()


def _key(category_label: str, number: Any) -> tuple[str, str]:
    return (_text(category_label), _text(number))


def exported_opinions(consultation: Consultation) -> list[tuple[str, Opinion]]:
    """(区分 label, opinion) of every numbered opinion in report order (copies follow their
    representative and are not listed)."""
    labels = {c["key"]: c["label"] for c in consultation.category_list()}
    return [
        (labels.get(o.category, "その他のご意見"), o)
        for o in ordered_opinions(consultation)
        if o.number is not None and not o.represented_by_id
    ]


def opinions_xlsx(consultation: Consultation) -> bytes:
    """The opinions sheet (see the module docstring)."""
    rows = [
        [
            o.number,
            label,
            mask_my_numbers(o.topic or ""),
            mask_my_numbers(o.summary or ""),
            mask_my_numbers(o.reply or ""),
            CHANNELS.get(o.submission.channel, o.submission.channel) if o.submission else "",
        ]
        for label, o in exported_opinions(consultation)
    ]
    return workbook([(SHEET, HEADER, rows)], widths=WIDTHS)


def filename(consultation: Consultation) -> str:
    return f"{consultation.title}_意見一覧.xlsx".replace("/", "／").replace(" ", "_")


@dataclass
class ReplyChange:
    opinion_id: int
    number: int
    category: str
    old: str
    new: str

    @property
    def old_digest(self) -> str:
        return reply_digest(self.old)


@dataclass
class ReplyReading:
    changes: list[ReplyChange]
    errors: list[str]
    unchanged: int


def reply_digest(text: str) -> str:
    """Fingerprint of a stored reply: the confirm step refuses if it changed meanwhile."""
    return hashlib.sha256(_text(text).encode("utf-8")).hexdigest()[:16]


def read_replies(consultation: Consultation, data: bytes) -> ReplyReading:
    """Compare the uploaded sheet with the opinions. Raises
    :class:`common.xlsxsafe.SpreadsheetError` when the file is not a workbook."""
    rows = read_rows(data)
    errors: list[str] = []
    header = [_text(v) for v in (rows[0] if rows else [])]
    try:
        columns = {name: header.index(name) for name in ("No.", "区分", "寄せられたご意見", "市の考え方")}
    except ValueError:
        return ReplyReading(
            [],
            [
                "1行目に「No.」「区分」「寄せられたご意見」「市の考え方」の列が見つかりません。書き出したファイルを使ってください。"
            ],
            0,
        )
    known = {_key(label, o.number): o for label, o in exported_opinions(consultation)}
    seen: set[tuple[str, str]] = set()
    changes: list[ReplyChange] = []
    unchanged = 0
    for line, row in enumerate(rows[1:], start=2):

        def cell(name: str, row=row) -> str:
            index = columns[name]
            return _text(row[index]) if index < len(row) else ""

        if not any(_text(v) for v in row):
            continue
        key = _key(cell("区分"), cell("No."))
        opinion = known.get(key)
        where = f"{line}行目（{key[0] or '区分なし'} No.{key[1] or '空欄'}）"
        if opinion is None:
            errors.append(f"{where}: この区分とNo.の意見はありません。")
            continue
        if key in seen:
            errors.append(f"{where}: 同じ意見が2回あります。")
            continue
        seen.add(key)
        if cell("寄せられたご意見") != _text(mask_my_numbers(opinion.summary or "")):
            errors.append(f"{where}: 「寄せられたご意見」の文が変わっています。意見の文はHyokaで直してください。")
            continue
        new = cell("市の考え方")
        old = _text(mask_my_numbers(opinion.reply or ""))
        if new == old:
            unchanged += 1
            continue
        changes.append(ReplyChange(opinion.id, opinion.number or 0, key[0], _text(opinion.reply), new))
    return ReplyReading(changes, errors, unchanged)


def apply_replies(consultation: Consultation, replies: list[tuple[int, str, str]], *, actor) -> int:
    """Store ``(opinion_id, old_digest, new reply)``; all or nothing. Raises ValueError
    (a Japanese message) when an opinion is not this consultation's or its reply changed
    since the preview. Returns the number of replies stored."""
    opinions = {o.id: o for o in consultation.opinions}
    for opinion_id, digest, _new in replies:
        opinion = opinions.get(opinion_id)
        if opinion is None:
            raise ValueError("この意見募集にない意見が含まれています。もう一度取り込んでください。")
        if reply_digest(opinion.reply or "") != digest:
            raise ValueError(
                f"No.{opinion.number}の市の考え方が、確認画面を開いた後に変更されています。もう一度取り込んでください。"
            )
    for opinion_id, _digest, new in replies:
        update_opinion(opinions[opinion_id], actor=actor, reply=_text(new))
    return len(replies)
