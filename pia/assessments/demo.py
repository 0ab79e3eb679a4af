"""Demo step: 札幌市's 住民基本台帳に関する事務 (全項目評価書, 第1版 published, 第2版 a draft with a
重要な変更) and a smaller 個人住民税に関する事務 of 市民税課 (重点項目評価書) for department scoping."""

from __future__ import annotations

from datetime import date

from common.db import db
from common.models import Department, User
from pia.assessments import services
from pia.assessments.demo_data import demo_change_title, load_demo_documents
from pia.assessments.models import Affair, AnnualReview, ThresholdRecord

JUKI_PUBLISHED_ON = date(2025, 1, 31)
JUKI_SUBMITTED_ON = date(2025, 1, 24)
ZEI_PUBLISHED_ON = date(2024, 3, 29)


def _department(code: str) -> Department | None:
    return db.session.execute(db.select(Department).filter_by(code=code)).scalar_one_or_none()


def _user(username: str) -> User | None:
    return db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none()


def load_demo(options) -> str | None:
    if db.session.execute(db.select(Affair).filter_by(code="juki")).scalar_one_or_none():
        return None
    juminjoho, shiminzei = _department("juminjoho"), _department("shiminzei")
    if juminjoho is None or shiminzei is None:
        return "所属がないため評価書のデモデータを作成しませんでした。"
    officer = _user("officer")
    v1, v2 = load_demo_documents()

    # 住民基本台帳に関する事務: 第1版 published as 001, 第2版 draft with the move to ガバメントクラウド
    juki = services.create_affair(code="juki", name="住民基本台帳に関する事務", department=juminjoho, actor=officer)
    db.session.add(
        ThresholdRecord(
            affair=juki,
            determined_on=date(2024, 10, 1),
            target_count=1_961_000,
            handlers=1_850,
            serious_incident=False,
            forms=["kiso", "zenkoumoku"],
            rule_note="対象人数30万人以上: 基礎項目評価及び全項目評価",
            created_by_id=getattr(officer, "id", None),
        )
    )
    assessment = services.create_assessment(
        juki,
        form="zenkoumoku",
        actor=officer,
        number="1",
        title="住民基本台帳に関する事務 全項目評価書",
        with_draft=False,
    )
    v1["cover"]["published_on"] = JUKI_PUBLISHED_ON.isoformat()
    services.add_published_version(
        assessment,
        v1,
        actor=officer,
        submitted_on=JUKI_SUBMITTED_ON,
        published_on=JUKI_PUBLISHED_ON,
        note="システム導入前に公表した版",
    )
    changed = {key: value for key, value in v2.items() if v1.get(key) != value}
    version2 = services.start_draft(
        assessment, actor=_user("editor") or officer, changes=changed, note=demo_change_title()
    )
    db.session.add(
        AnnualReview(
            assessment=assessment,
            reviewed_on=date(2025, 9, 30),
            result="new_version",
            version=version2,
            note="標準準拠システムへの移行計画を受けて見直し、第2版を作成する。",
            created_by_id=getattr(officer, "id", None),
        )
    )
    services.sync_actions(version2)

    # 個人住民税に関する事務 (市民税課): a 重点項目評価書, published, with an action and a draft
    zei = services.create_affair(
        code="kojin-juminzei", name="個人住民税に関する事務", department=shiminzei, actor=officer
    )
    db.session.add(
        ThresholdRecord(
            affair=zei,
            determined_on=date(2023, 10, 2),
            target_count=180_000,
            handlers=320,
            serious_incident=False,
            forms=["kiso", "juten"],
            rule_note="対象人数10万人以上30万人未満(上記以外): 基礎項目評価及び重点項目評価",
            created_by_id=getattr(officer, "id", None),
        )
    )
    zei_assessment = services.create_assessment(
        zei, form="juten", actor=officer, number="12", title="個人住民税に関する事務 重点項目評価書", with_draft=False
    )
    document = _zei_document(services.prefilled_document(zei_assessment))
    services.add_published_version(
        zei_assessment,
        document,
        actor=officer,
        submitted_on=date(2024, 3, 22),
        published_on=ZEI_PUBLISHED_ON,
        note="システム導入前に公表した版",
    )
    for action in zei_assessment.actions:
        action.what = "特別徴収義務者への通知の電子化に合わせ、権限管理の定期確認(年2回)を手順化する。"
        action.owner = "市民税課 課税企画係長"
        action.due_on = date(2025, 9, 30)
        action.status = "in_progress"
    services.start_draft(
        zei_assessment,
        actor=_user("editor-zei") or officer,
        changes={"basic/other_bodies": "なし"},
        note="年次見直しによる記載の修正",
    )
    db.session.flush()
    return "評価書(住民基本台帳 第1版公表・第2版作成中、個人住民税 重点項目評価書)"


def _zei_document(doc: dict) -> dict:
    basic = doc["basic"]
    basic["affair"]["name"] = "個人住民税に関する事務"
    basic["affair"]["description"] = (
        "地方税法及び札幌市市税条例に基づき、個人の市民税・道民税の賦課及び徴収を行う。\n"
        "給与支払報告書、公的年金等支払報告書、確定申告書等の課税資料を個人番号により名寄せし、税額を算定する。"
    )
    basic["affair"]["target_count"] = "10万人以上30万人未満"
    basic["systems"] = [
        {
            "name": "税務システム(個人住民税)",
            "functions": "課税資料の受付・名寄せ、税額計算、税額決定通知書の作成",
            "connections": {"selected": ["宛名システム等", "情報提供ネットワークシステム"], "other": ""},
        }
    ]
    basic["pi_files"] = [{"name": "個人住民税ファイル"}]
    basic["number_use"]["legal_basis"] = "番号法第9条第1項 別表第24項"
    basic["network"]["implemented"] = "実施する"
    basic["network"]["basis"]["provision_items"] = [1, 2, 3]
    basic["network"]["basis"]["inquiry"] = "行う"
    basic["department"] = {"name": "財政局税政部市民税課", "head_title": "市民税課長"}
    risks = doc.get("risks", {})
    if "files" in risks:
        risks["files"] = [
            {
                "name": "個人住民税ファイル",
                "acquisition": {
                    "measures": "課税資料は法令に定める提出者からのみ受け付ける。",
                    "sufficiency": "十分である",
                    "other_risks": "",
                },
                "use": {
                    "linkage_measures": "税務システム以外とは宛名番号でのみ連携する。",
                    "linkage_sufficiency": "十分である",
                    "unauthorized_measures": "異動時の権限削除が翌月になる場合がある。",
                    "unauthorized_sufficiency": "課題が残されている",
                    "other_risks": "",
                },
            }
        ]
    return doc
