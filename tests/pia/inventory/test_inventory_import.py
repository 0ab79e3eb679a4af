"""Import of the inventory from CSV and YAML: line-level errors, nothing stored on error."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from common.db import db
from pia.inventory.importer import ImportFailed, export_yaml, import_file
from pia.inventory.models import PiFile, System

CSV_OK = """種別,コード,名称,区分,設置場所,状態,所管課,利用を認める所属,機能名,説明,接続先コード,接続先名称,接続の種類,連携する情報,保有するシステム,記録項目,対象人数
システム,ZEIMU,市民税システム,市のシステム,ガバメントクラウド,稼働中,市民税課,市民税課|住民情報課,,,,,,,,,
機能,ZEIMU,,,,,,,課税,個人住民税の賦課,,,,,,,
機能,ZEIMU,,,,,,,照会,,,,,,,,
システム,ATENA,宛名システム,,,,,,,,,,,,,,
接続,ZEIMU,,,,,,,,,ATENA,,宛名システム等,宛名番号,,,
接続,ZEIMU,,,,,,,,,,庁内各業務システム,その他,課税情報,,,
ファイル,ZEI,個人住民税ファイル,,,,,,,,,,,,ZEIMU,"個人番号
氏名",30万人以上
"""


@pytest.fixture
def depts(department):
    department("市民税課")
    department("住民情報課")


def test_csv_import_creates_systems_functions_connections_files(app, depts, count_rows):
    result = import_file(CSV_OK.encode("utf-8"), "inventory.csv", actor="test")
    db.session.commit()
    assert (result.systems_added, result.files_added) == (2, 1)
    zeimu = db.session.execute(sa.select(System).filter_by(code="ZEIMU")).scalar_one()
    assert zeimu.hosting == "gov_cloud"
    assert [d.name for d in zeimu.authorised_departments] == ["市民税課", "住民情報課"] or sorted(
        d.name for d in zeimu.authorised_departments
    ) == ["住民情報課", "市民税課"]
    assert zeimu.functions == [
        {"title": "課税", "description": "個人住民税の賦課"},
        {"title": "照会", "description": ""},
    ]
    assert [(c.target.code if c.target else c.target_label, c.kind, c.flows) for c in zeimu.outgoing] == [
        ("ATENA", "atena", "宛名番号"),
        ("庁内各業務システム", "other", "課税情報"),
    ]
    pi_file = db.session.execute(sa.select(PiFile)).scalar_one()
    assert pi_file.record_items == ["個人番号", "氏名"]
    assert [s.code for s in pi_file.systems] == ["ZEIMU"]
    # importing the same file again changes nothing
    again = import_file(CSV_OK.encode("utf-8"), "inventory.csv", actor="test")
    assert (again.systems_added, again.systems_updated, again.files_updated) == (0, 0, 0)


def test_shift_jis_csv_is_read(app, depts):
    import_file(CSV_OK.encode("cp932"), "inventory.csv", actor="test")
    assert db.session.execute(sa.select(System.name).filter_by(code="ZEIMU")).scalar_one() == "市民税システム"


def test_bad_csv_is_rejected_with_line_numbers_and_stores_nothing(app, depts, count_rows):
    bad = (
        CSV_OK.replace("市のシステム,ガバメントクラウド", "市のシステム,宇宙")
        .replace("ATENA,,宛名システム等", "NOPE,,宛名システム等")
        .replace("システム,ATENA,宛名システム", "システム,atena,宛名システム")
    )
    with pytest.raises(ImportFailed) as info:
        import_file(bad.encode("utf-8"), "inventory.csv", actor="test")
    db.session.rollback()
    messages = {(e.line, e.message.split("「")[0].split(" ")[0]) for e in info.value.errors}
    lines = sorted({e.line for e in info.value.errors})
    assert lines == [2, 5, 6]
    assert any("設置場所" in e.message for e in info.value.errors if e.line == 2)
    assert any("NOPE" in e.message for e in info.value.errors if e.line == 6)
    assert messages
    assert count_rows(System) == 0 and count_rows(PiFile) == 0


def test_unknown_column_and_record_type(app, depts):
    text = "種別,コード,名称,色\n部品,X,Y,赤\n"
    with pytest.raises(ImportFailed) as info:
        import_file(text.encode(), "x.csv", actor="test")
    assert [(e.line, "色" in e.message or "種別" in e.message) for e in info.value.errors] == [(1, True), (2, True)]


YAML_BAD = """format: hyoka-inventory/1
systems:
  - code: OK1
    name: よいシステム
  - code: BAD
    kind: 宇宙のシステム
    connections:
      - to: NOWHERE
        kind: その他
files:
  - code: F1
    name: ファイル
    systems: [OK1, MISSING]
"""


def test_yaml_errors_carry_the_line_of_the_entry(app, depts, count_rows):
    with pytest.raises(ImportFailed) as info:
        import_file(YAML_BAD.encode(), "inv.yaml", actor="test")
    by_line = {}
    for error in info.value.errors:
        by_line.setdefault(error.line, []).append(error.message)
    assert set(by_line) == {5, 8, 11}
    assert any("名称" in m for m in by_line[5]) and any("区分" in m for m in by_line[5])
    assert any("NOWHERE" in m for m in by_line[8])
    assert any("MISSING" in m for m in by_line[11])
    assert count_rows(System) == 0


def test_yaml_syntax_error(app):
    with pytest.raises(ImportFailed) as info:
        import_file(b"systems:\n  - code: [unclosed\n", "x.yaml", actor="test")
    assert info.value.errors[0].line >= 2


def test_export_round_trips(app, depts):
    import_file(CSV_OK.encode("utf-8"), "inventory.csv", actor="test")
    db.session.commit()
    exported = export_yaml()
    result = import_file(exported.encode("utf-8"), "inventory.yaml", actor="test")
    assert (result.systems_added, result.systems_updated, result.files_added, result.files_updated) == (0, 0, 0, 0)


def test_yaml_alias_bomb_is_refused(app):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    lines.append("systems: *a8")
    with pytest.raises(ImportFailed) as info:
        import_file("\n".join(lines).encode(), "bomb.yaml", actor="test")
    assert "大きすぎ" in info.value.errors[0].message
