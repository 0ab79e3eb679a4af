"""The system inventory: demo data as 001 lists it, history, filling a draft, snapshot and drift."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from common.db import db
from pia.inventory import services
from pia.inventory.models import InventorySnapshot, PiFile, SystemRevision
from tests.conftest import WARDS


def test_demo_has_the_nine_systems_of_001_with_their_functions(inventory):
    assert list(inventory) == [
        "JUKI",
        "JUKINET",
        "JUKI_MID",
        "MID_PF",
        "KIBAN_MID",
        "KIBAN_ATENA",
        "KIBAN_KOJIN",
        "SERVICE_SEARCH",
        "KIBAN_RENKEI",
    ]
    juki = inventory["JUKI"]
    assert juki.display_name == "住民記録・印鑑オンラインシステム(以下「既存住基システム」という。)"
    assert [f["title"] for f in juki.functions][:3] == [
        "住民基本台帳の記載",
        "住民基本台帳の記載事項変更",
        "住民基本台帳の消除",
    ]
    assert len(inventory["MID_PF"].functions) == 10
    assert inventory["MID_PF"].name == "中間サーバ・プラットフォーム"
    assert inventory["MID_PF"].kind == "national"
    assert inventory["SERVICE_SEARCH"].outgoing == []


def test_juki_is_authorised_for_the_ten_wards_and_juminjoho(inventory):
    names = [d.name for d in inventory["JUKI"].authorised_departments]
    assert sorted(names) == sorted([f"{w}戸籍住民課" for w in WARDS] + ["住民情報課"])


@pytest.mark.parametrize(
    "code, selected, other",
    [
        ("JUKI", ["その他"], "住基ネット中間サーバ、システム基盤(個人基本)"),
        ("JUKINET", ["その他"], "住基ネット中間サーバ"),
        ("MID_PF", ["情報提供ネットワークシステム", "その他"], "システム基盤(市中間サーバ)"),
        (
            "KIBAN_MID",
            ["その他"],
            "中間サーバ・プラットフォーム、システム基盤(団体内統合宛名、個人基本)、庁内各業務システム",
        ),
        ("KIBAN_ATENA", ["その他"], "システム基盤(市中間サーバ、個人基本、社会保障宛名、税宛名)、庁内各業務システム"),
        (
            "KIBAN_KOJIN",
            ["その他"],
            "システム基盤(市中間サーバ、団体内統合宛名、社会保障宛名、税宛名)、庁内各業務システム",
        ),
        ("SERVICE_SEARCH", [], ""),
        ("KIBAN_RENKEI", ["その他"], "ガバメントクラウド上の標準システム、システム基盤"),
    ],
)
def test_connections_read_as_001_lists_them(inventory, code, selected, other):
    assert services.connections_value(inventory[code]) == {"selected": selected, "other": other}


def test_functions_text_matches_the_demo_assessment(inventory, demo_docs):
    v1, _ = demo_docs
    for system, entry in zip(inventory.values(), v1["basic"]["systems"]):
        assert services.functions_text(system) == entry["functions"], system.code


def test_demo_files(inventory):
    files = {f.code: f for f in db.session.execute(sa.select(PiFile)).scalars()}
    assert [f.name for f in sorted(files.values(), key=lambda f: f.position)] == [
        "住民基本台帳ファイル",
        "本人確認情報ファイル",
        "送付先情報ファイル",
    ]
    assert files["JUMIN"].target_count == "30万人以上"
    assert [s.code for s in files["JUMIN"].systems] == ["JUKI"]
    assert "個人番号" in files["HONNIN"].record_items
    assert files["SOFUSAKI"].retention_period == "1年未満"


def test_compact_names():
    assert services.compact_names(["A(x)", "A(y)", "B", "A(z)"]) == "A(x、y)、B、A(z)"
    assert services.compact_names([]) == ""


def test_history_records_each_change_with_relationships(inventory, department):
    juki = inventory["JUKI"]
    assert juki.revision == 1
    juki.functions = juki.functions + [{"title": "標準準拠システムとの連携", "description": ""}]
    services.save_system(juki, actor="test", summary="機能の追加")
    services.add_connection(juki, actor="test", kind="zeimu", target_label="税務システム", flows="住民税の課税情報")
    db.session.commit()
    revisions = (
        db.session.execute(sa.select(SystemRevision).filter_by(system_id=juki.id).order_by(SystemRevision.revision))
        .scalars()
        .all()
    )
    assert [r.revision for r in revisions] == [1, 2, 3]
    assert [r.summary for r in revisions[1:]] == ["機能の追加", "接続の追加(税務システム)"]
    changes = services.history(list(reversed(revisions)))
    newest, newest_changes = changes[0]
    assert newest.revision == 3
    assert [c.key for c in newest_changes] == ["connections"]
    assert "税務システム" in newest_changes[0].after
    # saving without a change adds nothing
    services.save_system(juki, actor="test")
    assert juki.revision == 3


def test_fill_version_writes_chosen_systems_and_keeps_authors_text(inventory, make_assessment):
    assessment = make_assessment(published=False)
    version = assessment.versions[0]
    files = db.session.execute(sa.select(PiFile).order_by(PiFile.position)).scalars().all()
    chosen = [inventory["JUKI"], inventory["JUKINET"]]
    services.fill_version(version, systems=chosen, files=files[:1], actor=None)
    db.session.commit()
    systems = version.document["basic"]["systems"]
    assert [s["name"] for s in systems] == [inventory["JUKI"].display_name, "住基ネット"]
    assert systems[0]["connections"]["other"] == "住基ネット中間サーバ、システム基盤(個人基本)"
    entry = version.document["files"]["files"][0]
    assert entry["name"] == "住民基本台帳ファイル"
    assert entry["basic"]["person_count"] == "100万人以上1,000万人未満"
    assert entry["storage"]["period"] == "20年以上"
    assert [r["name"] for r in version.document["record_items"]["files"][0]["items"]][:2] == [
        "住民票コード",
        "個人番号",
    ]
    assert version.document["risks"]["files"][0]["name"] == "住民基本台帳ファイル"
    # the authors write a measure; choosing again keeps it and drops the system left out
    document = dict(version.document)
    risks = dict(document["risks"])
    risks["files"][0]["use"]["risk3"]["measures"] = "研修を行う。"
    from pia.assessments import services as pia_services

    pia_services.update_section(version, "risks", risks, actor=None)
    services.fill_version(version, systems=[inventory["JUKINET"]], files=files[:1], actor=None)
    db.session.commit()
    assert [s["name"] for s in version.document["basic"]["systems"]] == ["住基ネット"]
    assert version.document["risks"]["files"][0]["use"]["risk3"]["measures"] == "研修を行う。"
    assert [s.code for s in services.referenced_objects(version, "system")] == ["JUKINET"]


def test_published_version_snapshot_and_drift(inventory, make_assessment):
    assessment = make_assessment(published=True)
    version = assessment.current_version
    rows = services.snapshot_version(version)
    db.session.commit()
    assert {r.code for r in rows if r.kind == "system"} == set(inventory)
    assert {r.code for r in rows if r.kind == "pi_file"} == {"JUMIN", "HONNIN", "SOFUSAKI"}
    assert services.snapshot_version(version) == []  # idempotent
    found = services.drift(assessment)
    # the demo document and the inventory both follow 001: nothing to report yet
    assert not found.differences
    assert services.drifting_assessments() == []

    juki = inventory["JUKI"]
    juki.functions = juki.functions + [{"title": "標準準拠システムとの連携", "description": "連携基盤を介して連携"}]
    services.save_system(juki, actor="test")
    db.session.commit()
    found = services.drift(assessment)
    paths = [d.path for d in found.differences]
    assert "basic/systems[0]/functions" in paths
    change = next(d for d in found.differences if d.path == "basic/systems[0]/functions")
    # 「②システムの機能」 carries no ※ on the form (001): the new draft is an 評価書の修正
    assert not change.significant and "8. 標準準拠システムとの連携" in change.after
    assert services.drift_kind(found) == "評価書の修正"
    assert [a for a, _ in services.drifting_assessments()] == [assessment]

    draft = services.start_draft_from_drift(assessment, actor=None)
    db.session.commit()
    assert draft.status == "draft"
    assert (
        "8. 標準準拠システムとの連携\n連携基盤を介して連携\n※個人番号"
        in draft.document["basic"]["systems"][0]["functions"]
    )
    assert draft.document["basic"]["systems"][3]["name"] == "中間サーバ・プラットフォーム"
    # the published version still disagrees until the new one is published
    assert services.drift(assessment)


def test_retired_system_is_reported(inventory, make_assessment):
    assessment = make_assessment(published=True)
    services.snapshot_version(assessment.current_version)
    inventory["SERVICE_SEARCH"].status = "retired"
    services.save_system(inventory["SERVICE_SEARCH"], actor="test")
    db.session.commit()
    found = services.drift(assessment)
    retired = [d for d in found.differences if d.op == "retired"]
    assert [d.code for d in retired] == ["SERVICE_SEARCH"]
    # a system's entry has no ※ item: removing it is an 評価書の修正
    assert not retired[0].significant
    assert services.drift_kind(found) == "評価書の修正"


def test_retired_file_is_a_significant_change(inventory, make_assessment):
    """A 特定個人情報ファイル's entries (II, III) hold ※ items: removing them is 重要な変更."""
    assessment = make_assessment(published=True)
    services.snapshot_version(assessment.current_version)
    honnin = db.session.execute(sa.select(PiFile).filter_by(code="HONNIN")).scalar_one()
    db.session.delete(honnin)
    db.session.commit()
    found = services.drift(assessment)
    retired = [d for d in found.differences if d.op == "retired"]
    assert [d.code for d in retired] == ["HONNIN"] and retired[0].significant
    assert services.drift_kind(found) == "重要な変更"


def test_snapshot_rows_cannot_change(inventory, make_assessment):
    assessment = make_assessment(published=True)
    services.snapshot_version(assessment.current_version)
    db.session.commit()
    with pytest.raises(sa.exc.DBAPIError):
        db.session.execute(sa.update(InventorySnapshot).values(name="x"))
        db.session.flush()
    db.session.rollback()


def test_on_publish_hook_is_registered(app):
    from pia import procedure

    assert services.snapshot_version in procedure._ON_PUBLISH
