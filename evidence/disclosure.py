"""本人開示: the record of who looked at a resident's data, as the resident may ask for it.

For one subject (the resident's key in the business systems) and a period, every access
(date and time in Japan, the department of the staff member at that time — the staff
identity only where ``HYOKA_EVIDENCE_DISCLOSE_STAFF`` is set — and what was done) and every
provision or inquiry through the 情報提供ネットワークシステム (counterpart, 情報項目, item of
the 別表). It is produced as HTML, PDF (a letter from the body) and CSV (formula-safe); every
production is written to the audit trail (:func:`produce`).

The rows are built from column lists (:data:`ACCESS_COLUMNS`, :data:`PROVISION_COLUMNS`): a
column is a key, a heading and a plain explanation printed under the table; adding one is
one :class:`Column` and one value in :func:`access_rows`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app, render_template

from common import audit, csvsafe
from common.db import db, utcnow
from common.jpdate import format_date, format_datetime, format_range
from common.mynumber import REFUSED as MY_NUMBER_REFUSED
from common.mynumber import contains_my_number
from common.timeutil import JST
from evidence.checks import day_start_utc, explanation_rules
from evidence.explain import ACTION_LABELS
from evidence.explanations import explain_access
from evidence.models import AccessEvent, Assignment, Provision

#: show the staff account of each access (department only when unset): app config
STAFF_KEY = "HYOKA_EVIDENCE_DISCLOSE_STAFF"
FORMATS = {"html": "画面表示", "pdf": "PDF", "csv": "CSV"}
#: the label vocabulary of the formats of what the evidence pages produce
EXPORT_FORMAT = "export_format"
DIRECTION_LABELS = {"provide": "提供(他の機関へ)", "inquire": "照会(他の機関から取得)"}
#: the longest period one record covers
MAX_DAYS = 366 * 5


class DisclosureError(ValueError):
    """A request that cannot be produced (the message says why, in Japanese)."""


@dataclass(frozen=True)
class Column:
    key: str
    heading: str
    #: what the column means, in words a resident understands (printed under the table)
    explanation: str


ACCESS_COLUMNS = [
    Column("at", "日時", "職員が記録を取り扱った日時です(日本時間)。"),
    Column("department", "取り扱った部署", "取り扱った職員がその日に所属していた部署です。"),
    Column("staff", "職員の識別番号", "取り扱った職員の識別番号です。"),
    Column("system", "システム", "取り扱いに使われた業務システムです。"),
    Column("action", "取り扱いの内容", "照会(画面での閲覧)、印刷、出力、更新などの別です。"),
    Column(
        "reason",
        "理由となった手続",
        "その取り扱いの理由となった、窓口や届出などの手続です(取り扱った部署がその前後の開庁日に"
        "受け付けたもの)。「見当たりません」は、理由となる手続の記録が見つからなかったことを示し、"
        "市が内容を確認します。「―」は、手続との照合の対象でない取り扱いです。",
    ),
]
PROVISION_COLUMNS = [
    Column("at", "日時", "情報のやり取りが行われた日時です(日本時間)。"),
    Column(
        "direction",
        "区分",
        "この記録を発行した団体が、他の機関の求めに応じて情報を提供したか(提供)、他の機関に照会して情報を得たか(照会)の別です。",
    ),
    Column("counterpart", "相手方", "情報をやり取りした相手の機関です。"),
    Column("info_item", "情報の項目", "やり取りされた情報の種類です。"),
    Column("table_item", "根拠規定の項番", "やり取りの根拠となる、番号法に基づく主務省令第2条の表の項の番号です。"),
]


def staff_shown() -> bool:
    value = current_app.config.get(STAFF_KEY)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def access_columns() -> list[Column]:
    return [c for c in ACCESS_COLUMNS if c.key != "staff" or staff_shown()]


def _period_filter(column, start: date, end: date):
    return sa.and_(column >= day_start_utc(start), column < day_start_utc(end + timedelta(days=1)))


def departments(user_ids) -> dict[str, list[tuple[date, date | None, str]]]:
    """user id -> (start, end, department) of each assignment, the latest stored version of
    each (user, department, start) (a later row may add the end date)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    a = Assignment
    latest = (
        sa.select(sa.func.max(a.id)).where(a.user_id.in_(ids)).group_by(a.user_id, a.department, a.start_date)
    ).scalar_subquery()
    out: dict[str, list[tuple[date, date | None, str]]] = {}
    for row in db.session.execute(sa.select(a).where(a.id.in_(latest)).order_by(a.start_date, a.id)).scalars():
        out.setdefault(row.user_id, []).append((row.start_date, row.end_date, row.department))
    return out


def department_on(assignments, day: date) -> str:
    names = [dept for start, end, dept in assignments if start <= day and (end is None or day <= end)]
    return "・".join(dict.fromkeys(names)) or "(所属の記録なし)"


def action_text(action: str, result: str) -> str:
    text = ACTION_LABELS.get(action, action)
    return text if result == "success" else f"{text}(システムにより実行されず)"


def access_rows(subject_id: str, start: date, end: date) -> list[dict]:
    """The accesses to ``subject_id`` from ``start`` to ``end`` (JST days), oldest first; one
    dict per access with a value for every key of :data:`ACCESS_COLUMNS`."""
    from pia.inventory.models import System

    events = (
        db.session.execute(
            sa.select(AccessEvent)
            .where(AccessEvent.subject_id == subject_id, _period_filter(AccessEvent.occurred_at, start, end))
            .order_by(AccessEvent.occurred_at, AccessEvent.id)
        )
        .scalars()
        .all()
    )
    assignments = departments(e.user_id for e in events)
    names = dict(db.session.execute(sa.select(System.code, System.name)).all())
    rules = explanation_rules()
    rows = []
    for e in events:
        day = e.occurred_at.astimezone(JST).date()
        rows.append(
            {
                "at": format_datetime(e.occurred_at),
                "department": department_on(assignments.get(e.user_id, []), day),
                "staff": e.user_id,
                "system": names.get(e.system, e.system),
                "action": action_text(e.action, e.result),
                "reason": reason_text(
                    explain_access(rules, e.system, e.user_id, e.subject_id, e.occurred_at, e.action)
                ),
            }
        )
    return rows


def reason_text(explanation) -> str:
    """The transaction that explains an access, as the resident reads it: 「2025年4月3日 転入届」;
    「見当たりません」 when none does; 「―」 when the access is not matched with transactions."""
    if explanation.explained is None:
        return "―"
    if not explanation.explained or explanation.transaction is None:
        return "見当たりません"
    t = explanation.transaction
    return f"{format_date(t.occurred_at.astimezone(JST).date())} {t.kind}"


def provision_rows(subject_id: str, start: date, end: date) -> list[dict]:
    """The provisions and inquiries about ``subject_id`` in the period, oldest first."""
    rows = (
        db.session.execute(
            sa.select(Provision)
            .where(Provision.subject_id == subject_id, _period_filter(Provision.occurred_at, start, end))
            .order_by(Provision.occurred_at, Provision.id)
        )
        .scalars()
        .all()
    )
    return [
        {
            "at": format_datetime(p.occurred_at),
            "direction": DIRECTION_LABELS.get(p.direction, p.direction),
            "counterpart": p.counterpart,
            "info_item": p.info_item,
            "table_item": f"{p.table_item}の項",
        }
        for p in rows
    ]


def validate(subject_id: str, start: date | None, end: date | None) -> tuple[str, date, date]:
    """The subject key (cleaned) and the period; :class:`DisclosureError` for a request that
    cannot be made."""
    subject_id = (subject_id or "").strip()
    if not subject_id:
        raise DisclosureError("対象者の番号(宛名番号など)を入力してください。")
    if contains_my_number(subject_id):
        raise DisclosureError(MY_NUMBER_REFUSED)
    if start is None or end is None:
        raise DisclosureError("期間の開始日と終了日を入力してください。")
    if end < start:
        raise DisclosureError("終了日が開始日より前になっています。")
    if (end - start).days > MAX_DAYS:
        raise DisclosureError("期間は5年以内で指定してください。")
    return subject_id, start, end


def build(subject_id: str, start: date | None, end: date | None) -> dict:
    """The record as plain data (what every format renders)."""
    from common.templating import body_name

    subject_id, start, end = validate(subject_id, start, end)
    columns = access_columns()
    return {
        "subject_id": subject_id,
        "start": start,
        "end": end,
        "period": format_range(start, end),
        "issuer": body_name(),
        "issued_on": format_date(utcnow().astimezone(JST).date()),
        "access_columns": columns,
        "accesses": access_rows(subject_id, start, end),
        "provision_columns": PROVISION_COLUMNS,
        "provisions": provision_rows(subject_id, start, end),
        "staff_shown": staff_shown(),
        "archived": archived_notes(start, end),
    }


#: what each archived feed means to the resident
ARCHIVED_WHAT = {"access": "職員による取り扱いの記録", "provisions": "情報提供ネットワークシステムによるやり取りの記録"}


def archived_notes(start: date, end: date) -> list[str]:
    """What of the period is no longer in the store (保存期間の満了): said in the record, so
    that an empty table is never read as "nothing happened"."""
    from evidence.retention import archived_spans

    return [
        f"{ARCHIVED_WHAT[span.kind]}のうち"
        f"{format_date(span.first_day) if span.first_day == span.last_day else format_range(span.first_day, span.last_day)}の分"
        f"(保存期間の満了により{format_date(span.decided_on)}に削除)"
        for span in archived_spans(start, end, tuple(ARCHIVED_WHAT))
    ]


def render_html(data: dict) -> str:
    """The record as a standalone document (the PDF's source and the HTML download)."""
    return render_template("evidence/disclosure_letter.html", d=data)


def render_pdf(data: dict) -> bytes:
    from common.publish import render_pdf as publish_pdf

    return publish_pdf(
        render_html(data),
        stylesheets=(),
        metadata={"title": "個人情報の取扱いの記録", "author": data["issuer"], "lang": "ja"},
    )


def render_csv(data: dict) -> bytes:
    """Two tables in one file (a heading row before each), UTF-8 with BOM for Excel."""
    out = io.StringIO()
    w = csvsafe.writer(out)
    w.writerow(["個人情報の取扱いの記録", data["issuer"]])
    w.writerow(["対象者の番号", data["subject_id"]])
    w.writerow(["期間", data["period"]])
    for note in data["archived"]:
        w.writerow(["含まれていない記録", note])
    w.writerow([])
    w.writerow(["職員による取り扱い"])
    w.writerow([c.heading for c in data["access_columns"]])
    for row in data["accesses"]:
        w.writerow([row[c.key] for c in data["access_columns"]])
    w.writerow([])
    w.writerow(["情報提供ネットワークシステムによる情報のやり取り"])
    w.writerow([c.heading for c in data["provision_columns"]])
    for row in data["provisions"]:
        w.writerow([row[c.key] for c in data["provision_columns"]])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def produce(subject_id: str, start: date | None, end: date | None, fmt: str, *, actor=None) -> tuple[dict, bytes]:
    """Build and render the record in ``fmt`` (``html`` | ``pdf`` | ``csv``) and write the
    production to the audit trail (who, subject, period, format). The caller commits."""
    if fmt not in FORMATS:
        raise DisclosureError("形式は PDF、CSV、画面表示のいずれかを選んでください。")
    data = build(subject_id, start, end)
    body = {
        "html": lambda: render_html(data).encode("utf-8"),
        "pdf": lambda: render_pdf(data),
        "csv": lambda: render_csv(data),
    }[fmt]()
    audit.record(
        "export",
        "evidence_disclosure",
        data["subject_id"],
        f"本人開示の記録({FORMATS[fmt]})を作成しました: 対象者 {data['subject_id']}、期間 {data['period']}"
        f"(操作 {len(data['accesses'])} 件、情報提供等 {len(data['provisions'])} 件)",
        after={
            "subject_id": data["subject_id"],
            "from": data["start"].isoformat(),
            "to": data["end"].isoformat(),
            "format": fmt,
            "accesses": len(data["accesses"]),
            "provisions": len(data["provisions"]),
        },
        actor=actor,
    )
    return data, body


def register_labels() -> None:
    from common import labels

    labels.register(EXPORT_FORMAT, {**FORMATS, "json": "JSON"})
    # the evidence report's audited format is one of these codes too (else "pdf" would show)
    labels.register_values("format", EXPORT_FORMAT, entity="evidence_report")
    labels.register_entity(
        "evidence_disclosure",
        "本人開示の記録",
        fields={
            "subject_id": "対象者の番号",
            "from": "期間(から)",
            "to": "期間(まで)",
            "format": "形式",
            "accesses": "操作の件数",
            "provisions": "情報提供等の件数",
        },
        values={"format": EXPORT_FORMAT},
        formats={"from": lambda value, _id: format_date(value), "to": lambda value, _id: format_date(value)},
    )
