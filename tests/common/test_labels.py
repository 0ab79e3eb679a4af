"""The label registry (common.labels): every code the audit trail names has a Japanese label,
values are written as people read them, and the audit pages use them."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common import audit, labels
from common.db import db
from common.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]


def _audited_models():
    for mapper in db.Model.registry.mappers:
        cls = mapper.class_
        if getattr(cls, "__audit__", False):
            excluded = getattr(cls, "__audit_exclude__", set())
            yield cls.__name__, [c.key for c in mapper.column_attrs if c.key not in excluded]


def _recorded_object_types() -> set[str]:
    """The object type of every ``audit.record(...)`` / ``audit.record_with_flush(...)`` in the code."""
    found = set()
    for package in ("common", "pia", "consultation", "evidence", "portal"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                position = {"record": 1, "record_with_flush": 2}.get(node.func.attr)
                owner = node.func.value
                if position is None or not (isinstance(owner, ast.Name) and owner.id == "audit"):
                    continue
                arg = node.args[position] if len(node.args) > position else None
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value)
    return found


def test_every_audited_entity_and_column_has_a_label(app):
    missing = []
    models = dict(_audited_models())
    assert {"AssessmentVersion", "ActionItem", "Consultation", "System", "User", "CheckConfig"} <= set(models)
    for name, columns in models.items():
        if not labels.has_label(name, labels.ENTITY):
            missing.append(name)
        missing += [f"{name}.{column}" for column in columns if labels.field_label(name, column) == column]
    assert not missing, missing


def test_every_object_type_the_code_records_has_a_label(app):
    types = _recorded_object_types()
    assert {"evidence_batch", "consultation", "CheckConfig", "AssessmentVersion"} <= types  # the scan works
    assert not [t for t in sorted(types) if not labels.has_label(t, labels.ENTITY)]


def test_the_codes_the_issue_names_have_labels(app):
    assert labels.label("no_grant", "evidence_check") == "権限のない操作"
    assert labels.label("view", "access_action") == "照会"
    assert labels.label("print", "access_action") == "印刷"
    assert labels.label("success", "access_result") == "成功"
    assert labels.label("access", labels.FEED_KIND) == "操作履歴"
    assert labels.label("provisions", labels.FEED_KIND) == "情報提供等記録"
    assert labels.entity_label("ActionItem") == "行動計画"
    assert labels.entity_label("AssessmentVersion") == "評価書の版"
    assert labels.field_label("AssessmentVersion", "revision") == "更新番号"
    assert labels.field_label("System", "updated_at") == "更新日時"
    measures = labels.label("risks/files/use/risk3/measures", labels.ITEM)
    assert measures.startswith("III ") and "リスク3" in measures and "/" not in measures
    assert labels.label("risks/files[0]/use/risk3/measures", labels.ITEM).startswith("III 特定個人情報ファイル1")
    assert labels.label("basic", labels.ITEM) == "I 基本情報"
    words = labels.code_words()
    assert {
        "no_grant",
        "view",
        "success",
        "access",
        "ActionItem",
        "updated_at",
        "risks/files/use/risk3/measures",
    } <= words
    assert "" not in words


def test_a_code_gets_one_label_per_vocabulary(app):
    labels.register("test_vocabulary", {"a": "あ"})
    labels.register("test_vocabulary", {"a": "あ"})  # again, as every app's init_app does
    with pytest.raises(labels.LabelConflict):
        labels.register("test_vocabulary", {"a": "い"})
    assert labels.label("b", "test_vocabulary") == "b"  # no label: the code as it is
    assert labels.label("b", "test_vocabulary", default="(不明)") == "(不明)"


def test_values_are_written_as_people_read_them(app):
    describe = labels.describe_value
    assert describe("AssessmentVersion", "status", "published") == "公表済み"
    assert describe("AssessmentVersion", "published_on", "2025-01-31") == "2025年1月31日"
    assert describe("AssessmentVersion", "updated_at", "2026-12-03T08:04:52.561440+00:00") == "2026年12月3日 17:04"
    assert describe("Consultation", "closed_early", False) == "いいえ"
    assert describe("Consultation", "channels", ["post", "hand", "fax", "email"]) == "郵送、持参、FAX、電子メール"
    assert describe("Consultation", "form_fields", {"name": "required", "contact": "hidden"}) == (
        "氏名（団体の場合は団体名）: 必須\n連絡先（電話番号またはメールアドレス）: 表示しない"
    )
    assert describe("ThresholdRecord", "forms", ["kiso", "zenkoumoku"]) == "基礎項目評価書、全項目評価書"
    assert describe("ActionItem", "path", "risks/files[0]/use/risk3/measures").startswith("III 特定個人情報ファイル1")
    assert describe("evidence_batch", "kind", "access") == "操作履歴"
    assert describe("evidence_batch", "source", "demo:access.csv") == "デモデータ(操作履歴)"
    assert describe("evidence_batch", "source", "api:JUKI連携") == "API(JUKI連携)"
    assert describe("CheckConfig", "params", {"days": 30}, "stale_grant") == "基準日数(所属を離れてからの日数): 30日"
    assert describe("Setting", "key", "body.name") == "団体名"
    assert describe("Setting", "rules", [{"target_min": 0, "forms": [], "note": "対象人数1,000人未満"}]) == (
        "・対象人数1,000人未満"
    )
    assert labels.object_label("Setting", "pia.threshold_rules") == "設定「しきい値判断の判断基準」"
    assert describe("ReviewBody", "members", [{"name": "委員A", "title": "会長"}]) == "委員A(会長)"
    assert describe("System", "hosting", "gov_cloud") == "ガバメントクラウド"
    assert describe("Opinion", "summary", None) == "—"
    assert describe("Opinion", "topic", "") == "(空欄)"
    assert (
        describe("Opinion", "summary", "2025-01-31 に受け付けた意見") == "2025-01-31 に受け付けた意見"
    )  # text as typed
    assert labels.object_label("CheckConfig", "no_grant") == "点検の設定「権限のない操作」"
    assert labels.object_label("AssessmentVersion", 12) == "評価書の版 12"
    assert labels.actor_label("cli") == "管理コマンド" and labels.actor_label("api:JUKI連携") == "API(JUKI連携)"
    assert labels.actor_label("評価 花子 (officer)") == "評価 花子 (officer)"


def test_users_are_named_not_numbered(app, make_user):
    user = make_user("officer", username="hanako")
    assert labels.describe_value("AssessmentVersion", "published_by_id", user.id) == "テスト hanako(hanako)"
    assert labels.describe_value("ReviewFinding", "author_id", None) == "—"
    assert labels.describe_value("ReviewFinding", "author_id", 999_999) == "(削除された利用者 999999)"


def _event(**values):
    values.setdefault("summary", "")
    row = AuditEvent(at=datetime(2026, 12, 3, 8, 4, 52, tzinfo=UTC), actor_id=None, **values)
    db.session.add(row)
    db.session.commit()
    return row


def test_the_audit_pages_show_labels_not_codes(app, as_role):
    event = _event(
        actor_name="cli",
        action="update",
        object_type="AssessmentVersion",
        object_id="3",
        before={"status": "draft", "revision": 1, "updated_at": None},
        after={"status": "consultation", "revision": 2, "updated_at": "2026-12-03T08:04:52+00:00"},
    )
    _event(actor_name="cli", action="update", object_type="CheckConfig", object_id="no_grant", after={"enabled": False})
    c = as_role("officer")
    page = c.get(f"/admin/audit/{event.id}").text
    for shown in (
        "2026年12月3日 17:04",
        "管理コマンド",
        "更新",
        "評価書の版 3",
        "状態",
        "作成中",
        "意見聴取中",
        "更新番号",
    ):
        assert shown in page, shown
    for code in ("AssessmentVersion", "updated_at", "revision", "draft", "consultation<", "+00:00", "T08:04"):
        assert code not in page, code
    listing = c.get("/admin/audit").text
    assert "点検の設定「権限のない操作」" in listing and "no_grant" not in listing
    assert "評価書の版 3" in listing and '<option value="AssessmentVersion">評価書の版</option>' in listing


def test_the_audit_log_pages_through_all_events(app, as_role):
    with audit.acting_as("cli"):
        for n in range(120):
            audit.record("export", "Assessment", n, f"出力 {n}")
        db.session.commit()
    c = as_role("officer")
    first = c.get("/admin/audit").text
    assert "/admin/audit?page=2" in first and "ページ(全" in first
    last = c.get("/admin/audit?page=3").text
    assert ">出力 0<" in last and ">出力 119<" not in last


def test_the_audit_log_period_takes_typed_dates_and_says_what_is_wrong(app, as_role):
    _event(actor_name="cli", action="export", object_type="Assessment", object_id="1", summary="十二月の出力")
    c = as_role("officer")
    assert "十二月の出力" in c.get("/admin/audit?from=令和8年12月3日&to=R8.12.3").text
    assert "十二月の出力" not in c.get("/admin/audit?from=２０２６年１２月４日").text
    page = c.get("/admin/audit?from=令和8年2月30日&to=あした")
    assert page.status_code == 400
    assert "期間の開始日: 2026年2月30日という日はありません。" in page.text
    assert "期間の終了日: 日付として読み取れませんでした。" in page.text
    assert 'value="あした"' in page.text  # what was typed stays in the box
    assert c.get("/admin/audit?to=9999/12/31").status_code == 400  # no day after it: refused, not a 500
