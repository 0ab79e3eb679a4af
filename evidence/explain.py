"""The explanation of a finding: one Japanese sentence written from its stored facts.

Its own module, below both the models (``Finding.explanation``) and the checks
(``stored_findings``), so neither imports the other for it.
"""

from __future__ import annotations

from datetime import date

from common.jpdate import format_date, format_datetime
from evidence.staff import staff_label

ACTION_LABELS = {
    "view": "照会",
    "search": "検索",
    "create": "登録",
    "update": "更新",
    "delete": "削除",
    "print": "印刷",
    "export": "出力",
    "login": "ログイン",
    "logout": "ログアウト",
    "other": "その他",
}
RELATION_LABELS = {"self": "本人", "household": "同一世帯", "relative": "親族"}


def _op(details: dict) -> str:
    action = details.get("action") or ""
    return ACTION_LABELS.get(action, action)


def explain(f, facts: dict | None = None) -> str:
    """The explanation of a finding (a Finding, or anything with its attributes; ``facts``
    are its details completed from its event, ``Finding.facts`` when not given)."""
    d = facts if facts is not None else (getattr(f, "facts", None) or f.details or {})
    check = f.check
    if check in ("no_grant", "after_transfer", "self_or_family", "after_hours"):
        did = f"利用者 {staff_label(f.user_id)} は {format_datetime(f.occurred_at)} に {f.system} で"
        op = f"「{_op(d)}」を行いました"
        if check == "no_grant":
            return f"{did}{op}が、その日に有効な権限の記録がありません。"
        if check == "after_transfer":
            return (
                f"{did}{op}。権限は有効でしたが、その日はこのシステムの利用を認められた"
                f"所属に配置されていません(異動後の利用の可能性があります)。"
            )
        if check == "self_or_family":
            relation = RELATION_LABELS.get(d.get("relation"), d.get("relation"))
            return f"{did}{relation}の記録(対象者 {d.get('subject_id')})に対して{op}。"
        why = "閉庁日(土日・祝日・年末年始)" if d.get("closed") else f"業務時間({d.get('start')}〜{d.get('end')})外"
        return f"{did}{op}。{why}の操作です。"
    if check in ("protected_subject", "coworker_record"):
        did = f"利用者 {staff_label(f.user_id)} は {format_datetime(f.occurred_at)} に {f.system} で"
        whose = "支援措置の対象の住民" if check == "protected_subject" else "他の職員本人"
        return (
            f"{did}{whose}の記録(対象者 {d.get('subject_id')})に対して「{_op(d)}」を行いましたが、"
            "業務上の説明(所属が扱った受付記録)がありません。"
        )
    if check == "unexplained_access":
        return (
            f"利用者 {staff_label(f.user_id)} は {format_date(f.day)} に {f.system} で {d.get('subjects')} 人分の"
            f"住民の記録を操作し、そのうち {d.get('unexplained')} 人分に業務上の説明(所属が扱った受付記録)が"
            f"ありません(基準: {d.get('limit')} 人以上で、説明のない割合が {d.get('percent')}% を超えるとき)。"
        )
    if check == "stale_grant":
        revoked = d.get("revoked_at")
        as_of = d.get("as_of")
        if not revoked or (as_of and revoked > as_of):
            still = "現在も有効です"
        else:
            after = (date.fromisoformat(revoked) - date.fromisoformat(d["left_on"])).days
            still = f"取り消されたのは {format_date(revoked)}({after}日後)です"
        return (
            f"利用者 {staff_label(f.user_id)} は {format_date(d['left_on'])} に {f.system} の利用を"
            f"認められた所属を離れましたが、権限「{'、'.join(d.get('roles') or [])}」が"
            f"{d.get('days')}日を超えて残りました({still})。"
        )
    if check == "dormant_grant":
        used = f"最後の利用は {format_date(d['last_use'])}" if d.get("last_use") else "利用の記録はありません"
        return (
            f"利用者 {staff_label(f.user_id)} の {f.system} の権限「{'、'.join(d.get('roles') or [])}」は"
            f"有効ですが、{d.get('days')}日以上使われていません({used})。"
        )
    if check == "bulk_access":
        return (
            f"利用者 {staff_label(f.user_id)} は {format_date(f.day)} に {d.get('subjects')} 人分の住民の記録を"
            f"操作しました(基準: {d.get('limit')} 人)。"
        )
    if check == "denied_spike":
        return (
            f"利用者 {staff_label(f.user_id)} は {format_date(f.day)} に {d.get('denied')} 回、操作を拒否されました"
            f"(基準: {d.get('limit')} 回)。"
        )
    if check == "provision_outside_basis":
        return (
            f"情報提供等記録 {f.record_id}: {d.get('counterpart')} への{d.get('info_item')}の"
            f"提供は主務省令第2条の表の第{d.get('table_item')}項によるものですが、"
            f"事務「{d.get('affair')}」の評価書はこの項を情報提供の根拠として記載していません。"
        )
    if check == "inquiry_declared_none":
        return (
            f"情報提供等記録 {f.record_id}: 事務「{d.get('affair')}」は{d.get('counterpart')}に"
            f"{d.get('info_item')}を照会しましたが、評価書では情報照会を行わないとしています。"
        )
    return check  # every check of evidence.checks.CHECKS has its sentence above (tests/evidence/test_checks.py)
