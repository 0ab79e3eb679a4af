"""The evidence feed parser: formats, normalisation, errors, 個人番号, streaming."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import tracemalloc
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.mynumber import contains_my_number, my_number_check_digit
from evidence import feeds
from evidence.feeds import FIELDS, KINDS, MY_NUMBER_REASON, FeedParser, RowError, canonical_row, parse_feed, row_digest

UTC = UTC
MY_NUMBER = "123456789018"  # valid check digit
NOT_MY_NUMBER = "123456789012"  # 12 digits, wrong check digit

SAMPLES = {
    "access": [
        {
            "event_id": "E1",
            "occurred_at": "2025-04-01T09:15:02+09:00",
            "system": "JUKI",
            "user_id": "u001",
            "action": "view",
            "subject_id": "S00000000a1",
            "terminal": "T-01",
            "result": "success",
            "purpose": "juki",
        },
        {
            "event_id": "",
            "occurred_at": "2025-04-01T23:59:59+09:00",
            "system": "JUKI",
            "user_id": "u002",
            "action": "login",
            "subject_id": "",
            "terminal": "",
            "result": "",
            "purpose": "",
        },
        {
            "event_id": "E3",
            "occurred_at": "2025-04-02T00:00:00Z",
            "system": "JUKI",
            "user_id": "u001",
            "action": "print",
            "subject_id": "S00000000b2",
            "terminal": "T-02",
            "result": "denied",
            "purpose": "",
        },
    ],
    "grants": [
        {
            "user_id": "u001",
            "system": "JUKI",
            "role": "参照",
            "granted_at": "2025-04-01",
            "revoked_at": "",
            "granted_by": "住民情報課長",
        },
        {
            "user_id": "u002",
            "system": "JUKI",
            "role": "更新",
            "granted_at": "2025-04-01",
            "revoked_at": "2025-04-01",
            "granted_by": "",
        },
    ],
    "assignments": [
        {
            "user_id": "u001",
            "department": "中央区戸籍住民課",
            "start_date": "2024-04-01",
            "end_date": "",
            "display_name": "札幌 太郎",
        },
        {"user_id": "u002", "department": "北区戸籍住民課", "start_date": "2024-04-01", "end_date": "2025-05-31"},
    ],
    "relations": [
        {"user_id": "u001", "subject_id": "S00000000a1", "relation": "self"},
        {"user_id": "u001", "subject_id": "S00000000a2", "relation": "household"},
        {"user_id": "u002", "subject_id": "S00000000a3", "relation": "relative"},
    ],
    "provisions": [
        {
            "record_id": "R1",
            "occurred_at": "2025-04-03T10:00:00+09:00",
            "direction": "provide",
            "counterpart": "札幌市",
            "table_item": "2",
            "info_item": "住民票関係情報",
            "affair": "juki",
            "subject_id": "S00000000a1",
            "result": "",
        },
        {
            "record_id": "R2",
            "occurred_at": "2025-04-03T10:00:01+09:00",
            "direction": "inquire",
            "counterpart": "地方公共団体情報システム機構",
            "table_item": "166",
            "info_item": "住民票関係情報",
            "affair": "",
            "subject_id": "",
            "result": "error",
        },
    ],
    "transactions": [
        {
            "transaction_id": "T1",
            "occurred_at": "2025-04-01T09:00:00+09:00",
            "system": "JUKI",
            "department": "中央区戸籍住民課",
            "kind": "転入届",
            "subject_id": "S00000000a1",
            "user_id": "u001",
        },
        {
            "transaction_id": "T2",
            "occurred_at": "2025-04-01T23:30:00+09:00",
            "system": "JUKI",
            "department": "北区戸籍住民課",
            "kind": "住民票の写し交付",
            "subject_id": "S00000000a2",
            "user_id": "",
        },
    ],
    "protections": [
        {"subject_id": "S00000000a1", "measure": "dv_support", "start_date": "2025-04-01", "end_date": ""},
        {"subject_id": "S00000000a2", "measure": "other", "start_date": "2025-04-01", "end_date": "2025-06-30"},
    ],
}


def to_csv(rows: list[dict], header: list[str] | None = None, bom: bool = False) -> bytes:
    header = header or list(rows[0])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(name, "") for name in header])
    return (("\ufeff" if bom else "") + out.getvalue()).encode("utf-8")


def to_jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def parse(kind: str, data: bytes | str, **kw):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return parse_feed(kind, io.BytesIO(data), **kw)


def without_line(rows):
    return [{k: v for k, v in row.items() if k != "line"} for row in rows]


def errors_of(result):
    return [(e.line, e.field, e.reason) for e in result.errors]


ACCESS_HEADER = "event_id,occurred_at,system,user_id,action,subject_id,terminal,result,purpose\n"


# -- formats ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_csv_and_jsonl_give_the_same_rows(kind):
    rows = SAMPLES[kind]
    from_csv = parse(kind, to_csv(rows), known_systems={"JUKI"})
    from_jsonl = parse(kind, to_jsonl(rows), known_systems={"JUKI"})
    assert from_csv.errors == [] and from_jsonl.errors == []
    assert from_csv.fmt == "csv" and from_jsonl.fmt == "jsonl"
    assert len(from_csv.rows) == len(rows)
    assert without_line(from_csv.rows) == without_line(from_jsonl.rows)
    assert [r["line"] for r in from_csv.rows] == list(range(2, len(rows) + 2))
    assert [r["line"] for r in from_jsonl.rows] == list(range(1, len(rows) + 1))


def test_normalised_types_and_defaults():
    access = parse("access", to_csv(SAMPLES["access"]), known_systems={"JUKI"}).rows
    first, second, third = access
    assert first["occurred_at"] == datetime(2025, 4, 1, 0, 15, 2, tzinfo=UTC)
    assert first["occurred_at"].utcoffset() == timedelta(0)
    assert third["occurred_at"] == datetime(2025, 4, 2, 0, 0, 0, tzinfo=UTC)
    assert second["result"] == "success" and third["result"] == "denied"
    assert second["subject_id"] is None and second["terminal"] is None
    assert first["extra"] == {} and first["event_id_derived"] is False
    grants = parse("grants", to_csv(SAMPLES["grants"])).rows
    assert grants[0]["granted_at"] == date(2025, 4, 1) and grants[0]["revoked_at"] is None
    provisions = parse("provisions", to_csv(SAMPLES["provisions"])).rows
    assert provisions[0]["table_item"] == 2 and provisions[0]["result"] == "success"
    assert provisions[1]["table_item"] == 166 and provisions[1]["affair"] is None


def test_format_from_extension_or_content():
    jsonl = to_jsonl(SAMPLES["relations"])
    assert parse("relations", b"\n  \n" + jsonl).fmt == "jsonl"
    assert parse("relations", jsonl, filename="x.NDJSON").fmt == "jsonl"
    assert parse("relations", to_csv(SAMPLES["relations"]), filename="rel.txt").fmt == "csv"
    # the extension wins over the content
    result = parse("relations", jsonl, filename="relations.csv")
    assert result.fmt == "csv" and result.rows == []


def test_bom_is_accepted_and_hashed():
    plain = to_csv(SAMPLES["access"])
    with_bom = to_csv(SAMPLES["access"], bom=True)
    a = parse("access", plain)
    b = parse("access", with_bom)
    assert without_line(a.rows) == without_line(b.rows)
    assert a.sha256 == hashlib.sha256(plain).hexdigest()
    assert b.sha256 == hashlib.sha256(with_bom).hexdigest() != a.sha256
    assert b.bytes_read == len(with_bom)
    jsonl = b"\xef\xbb\xbf" + to_jsonl(SAMPLES["access"])
    assert without_line(parse("access", jsonl).rows) == without_line(a.rows)


def test_quoted_newlines_and_commas_keep_line_numbers():
    data = (
        ACCESS_HEADER
        + 'E1,2025-04-01T09:00:00+09:00,JUKI,u1,view,S1,"端末,\n二行目",success,"a ""b"""\n'
        + 'E2,2025-04-01T09:00:01+09:00,JUKI,u1,view,S1,"x\r\ny\r\nz",,\n'
        + "E3,2025-04-01T09:00:02+09:00,JUKI,u1,nope,S1,,,\n"
        + "E4,2025-04-01T09:00:03+09:00,JUKI,u1,view,S1,,,\n"
    )
    result = parse("access", data)
    assert [r["event_id"] for r in result.rows] == ["E1", "E2", "E4"]
    assert [r["line"] for r in result.rows] == [2, 4, 8]
    assert result.rows[0]["terminal"] == "端末,\n二行目"
    assert result.rows[0]["purpose"] == 'a "b"'
    assert result.rows[1]["terminal"] == "x\r\ny\r\nz"
    assert errors_of(result) == [(7, "action", result.errors[0].reason)]


def test_unknown_columns_are_kept_as_extra():
    data = ACCESS_HEADER.rstrip("\n") + ",窓口,memo\n" + "E1,2025-04-01T09:00:00+09:00,JUKI,u1,view,S1,,,,本庁,\n"
    result = parse("access", data)
    assert result.errors == []
    assert result.rows[0]["extra"] == {"窓口": "本庁", "memo": ""}
    assert result.extra_columns == ["窓口", "memo"]
    jsonl = parse(
        "access",
        '{"occurred_at": "2025-04-01T09:00:00+09:00", "system": "JUKI",'
        ' "user_id": "u1", "action": "view", "n": 3, "tags": ["a"]}\n',
    )
    assert jsonl.rows[0]["extra"] == {"n": 3, "tags": ["a"]}


def test_optional_columns_may_be_absent():
    data = "occurred_at,system,user_id,action\n2025-04-01T09:00:00+09:00,JUKI,u1,login\n"
    (row,) = parse("access", data).rows
    assert row["subject_id"] is None and row["result"] == "success"
    assert row["event_id"].startswith("h:") and row["event_id_derived"] is True


# -- errors ------------------------------------------------------------------------

ERROR_CASES = [
    ("access", "E1,,JUKI,u1,view,,,,", "occurred_at", "必須項目「occurred_at」が空です"),
    ("access", "E1,2025-04-01T09:00:00+09:00,JUKI,,view,,,,", "user_id", "必須項目「user_id」が空です"),
    (
        "access",
        "E1,2025-13-01T09:00:00+09:00,JUKI,u1,view,,,,",
        "occurred_at",
        "日時「2025-13-01T09:00:00+09:00」を読み取れません",
    ),
    ("access", "E1,2025-04-01,JUKI,u1,view,,,,", "occurred_at", "日時「2025-04-01」を読み取れません"),
    ("access", "E1,2025-04-01T09:00:00+09:00,JUKI,u1,browse,,,,", "action", "「browse」は使用できない値です"),
    ("access", "E1,2025-04-01T09:00:00+09:00,JUKI,u1,view,,,failed,", "result", "「failed」は使用できない値です"),
    (
        "access",
        "E1,2025-04-01T09:00:00+09:00,ZEIMU,u1,view,,,,",
        "system",
        "システム「ZEIMU」はシステム台帳に登録されていません",
    ),
    (
        "access",
        "E1,2025-04-01T09:00:00+09:00,JUKI,u1,view,,",
        None,
        "列の数がヘッダと一致しません(ヘッダ 9 列、この行 7 列)",
    ),
    ("access", 'E1,2025-04-01T09:00:00+09:00,JUKI,u1,view,"S1"x,,,', None, "CSVとして読み取れません"),
    ("grants", "u1,JUKI,参照,2025/04/01,,", "granted_at", "日付「2025/04/01」を読み取れません"),
    (
        "grants",
        "u1,JUKI,参照,2025-04-10,2025-04-09,",
        "revoked_at",
        "取消日(revoked_at)が付与日(granted_at)より前の日付です",
    ),
    (
        "assignments",
        "u1,北区戸籍住民課,2025-04-10,2025-04-01,",
        "end_date",
        "終了日(end_date)が開始日(start_date)より前の日付です",
    ),
    (
        "protections",
        "S1,dv_support,2025-04-10,2025-04-01",
        "end_date",
        "終了日(end_date)が開始日(start_date)より前の日付です",
    ),
    (
        "protections",
        "S1,shelter,2025-04-10,",
        "measure",
        "「shelter」は使用できない値です",
    ),
    (
        "transactions",
        "T9,2025-04-01 9時,JUKI,中央区戸籍住民課,転入届,S1,",
        "occurred_at",
        "日時「2025-04-01 9時」を読み取れません",
    ),
    (
        "transactions",
        "T9,2025-04-01T09:00:00+09:00,JUKI,中央区戸籍住民課,,S1,",
        "kind",
        "必須項目「kind」が空です",
    ),
    ("assignments", "u1,,2025-04-10,,", "department", "必須項目「department」が空です"),
    (
        "relations",
        "u1,S1,friend",
        "relation",
        "「friend」は使用できない値です(使用できる値: self, household, relative)",
    ),
    (
        "provisions",
        "R1,2025-04-01T10:00:00+09:00,send,札幌市,2,住民票関係情報,,,",
        "direction",
        "「send」は使用できない値です",
    ),
    (
        "provisions",
        "R1,2025-04-01T10:00:00+09:00,provide,札幌市,二,住民票関係情報,,,",
        "table_item",
        "「二」は整数(項番)として読み取れません",
    ),
    (
        "provisions",
        "R1,2025-04-01T10:00:00+09:00,provide,札幌市,2.0,住民票関係情報,,,",
        "table_item",
        "「2.0」は整数(項番)として読み取れません",
    ),
    (
        "provisions",
        "R1,2025-04-01T10:00:00+09:00,provide,札幌市,2,住民票関係情報,,,lost",
        "result",
        "「lost」は使用できない値です(使用できる値: success, error)",
    ),
]


@pytest.mark.parametrize(("kind", "line", "field", "reason"), ERROR_CASES)
def test_every_error_has_line_field_and_reason(kind, line, field, reason):
    header = ",".join(spec.name for spec in FIELDS[kind])
    good = to_csv(SAMPLES[kind], header=header.split(",")).decode().splitlines()[1]
    data = f"{header}\n{good}\n{line}\n{good}\n"
    result = parse(kind, data, known_systems={"JUKI"})
    assert len(result.errors) == 1, result.errors
    error = result.errors[0]
    assert (error.line, error.field) == (3, field)
    assert error.reason.startswith(reason)
    assert len(result.rows) == 2 and result.rows_invalid == 1 and result.rows_total == 3
    assert not result.ok


def test_all_errors_of_a_row_are_reported_in_line_order():
    data = ACCESS_HEADER + "E1,,,,,,,,\n" + "E2,2025-04-01T09:00:00+09:00,JUKI,u1,fly,,,,\n"
    result = parse("access", data)
    assert errors_of(result) == [
        (2, "occurred_at", "必須項目「occurred_at」が空です"),
        (2, "system", "必須項目「system」が空です"),
        (2, "user_id", "必須項目「user_id」が空です"),
        (2, "action", "必須項目「action」が空です"),
        (3, "action", result.errors[4].reason),
    ]


def test_unknown_system_is_rejected_only_when_systems_are_given():
    data = ACCESS_HEADER + "E1,2025-04-01T09:00:00+09:00,OTHER,u1,view,,,,\n"
    assert parse("access", data).ok
    assert not parse("access", data, known_systems={"JUKI"}).ok
    assert not parse("access", data, known_systems=[]).ok


def test_header_problems():
    result = parse("access", "occurred_at,system,user_id,note,note\nx,y,z,1,2\n")
    assert errors_of(result) == [
        (1, "note", "列名「note」が重複しています"),
        (1, "action", "必須の列「action」がヘッダにありません"),
    ]
    assert result.rows == [] and result.rows_invalid == 1
    assert errors_of(parse("access", b"")) == [(1, None, "ヘッダ行がありません")]
    assert parse("access", b"", fmt="jsonl").errors == []


def test_non_utf8_bytes():
    data = (
        ACCESS_HEADER.encode()
        + "E1,2025-04-01T09:00:00+09:00,JUKI,u1,view,S1,端末,,\n".encode("shift_jis")
        + "E2,2025-04-01T09:00:00+09:00,JUKI,u1,view,S1,端末,,\n".encode()
    )
    result = parse("access", data)
    assert errors_of(result) == [
        (
            2,
            None,
            "UTF-8として読み取れないバイトが含まれています(Shift_JIS などで保存されたファイルは UTF-8 で保存し直してください)",
        )
    ]
    assert [r["event_id"] for r in result.rows] == ["E2"]
    jsonl = parse("access", b'{"occurred_at": "\xff"}\n', fmt="jsonl")
    assert errors_of(jsonl) == [
        (
            1,
            None,
            "UTF-8として読み取れないバイトが含まれています(Shift_JIS などで保存されたファイルは UTF-8 で保存し直してください)",
        )
    ]


def test_malformed_json_lines():
    good = json.dumps(SAMPLES["relations"][0])
    data = "\n".join([good, "{not json", "[1, 2]", '{"user_id": {"a": 1}}', good, "NaN"]) + "\n"
    result = parse("relations", data)
    assert [(e.line, e.field) for e in result.errors] == [(2, None), (3, None), (4, "user_id"), (6, None)]
    assert result.errors[0].reason == "JSONとして読み取れません"
    assert len(result.rows) == 2


def test_a_line_that_is_too_long_stops_the_parse(monkeypatch):
    monkeypatch.setattr(feeds, "MAX_LINE_CHARS", 200)
    data = (
        ACCESS_HEADER
        + "E1,2025-04-01T09:00:00+09:00,JUKI,u1,view,,,,\n"
        + "E2,2025-04-01T09:00:00+09:00,JUKI,u1,view,,"
        + "x" * 500
        + ",,\n"
        + "E3,2025-04-01T09:00:00+09:00,JUKI,u1,view,,,,\n"
    )
    result = parse("access", data)
    assert [r["event_id"] for r in result.rows] == ["E1"]
    assert [(e.line, e.field) for e in result.errors] == [(3, None)]
    assert "長すぎます" in result.errors[0].reason
    assert result.sha256 == hashlib.sha256(data.encode()).hexdigest()


def test_errors_beyond_the_limit_are_counted():
    data = ACCESS_HEADER + "E1,bad,JUKI,u1,view,,,,\n" * 30
    parser = FeedParser("access", max_errors=10)
    assert list(parser.iter_rows(io.BytesIO(data.encode()))) == []
    assert len(parser.errors) == 10 and parser.errors_total == 30 and not parser.ok


# -- 個人番号 ------------------------------------------------------------------------


def test_my_number_fixture_values():
    assert my_number_check_digit(MY_NUMBER[:11]) == int(MY_NUMBER[-1])
    assert my_number_check_digit(NOT_MY_NUMBER[:11]) != int(NOT_MY_NUMBER[-1])


@pytest.mark.parametrize("where", ["subject_id", "user_id", "terminal", "extra", "fullwidth"])
def test_my_number_in_any_csv_field_is_rejected_and_never_shown(where, caplog):
    caplog.set_level(logging.DEBUG)
    row = dict(SAMPLES["access"][0], memo="")
    if where == "extra":
        row["memo"] = MY_NUMBER
    elif where == "fullwidth":
        row["subject_id"] = MY_NUMBER.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    else:
        row[where] = MY_NUMBER
    result = parse("access", to_csv([row, SAMPLES["access"][2]]))
    field = {"extra": "memo", "fullwidth": "subject_id"}.get(where, where)
    assert errors_of(result) == [(2, field, MY_NUMBER_REASON)]
    assert [r["event_id"] for r in result.rows] == ["E3"]
    for text in (repr(result), str(result.errors), caplog.text):
        assert MY_NUMBER not in text and "１２３４" not in text
    assert caplog.records, "the parser logs a summary"


@pytest.mark.parametrize("value", [MY_NUMBER, int(MY_NUMBER), {"k": [MY_NUMBER]}])
def test_my_number_in_json_values_is_rejected(value, caplog):
    caplog.set_level(logging.DEBUG)
    obj = {"user_id": "u1", "subject_id": "S1", "relation": "self", "x": value}
    result = parse("relations", json.dumps(obj) + "\n")
    assert errors_of(result) == [(1, "x", MY_NUMBER_REASON)]
    assert result.rows == []
    assert MY_NUMBER not in repr(result) + caplog.text
    as_subject = parse("relations", json.dumps(dict(obj, x=1, subject_id=value)) + "\n")
    assert errors_of(as_subject) == [(1, "subject_id", MY_NUMBER_REASON)]


def test_my_number_near_an_enum_is_not_echoed():
    data = (
        ACCESS_HEADER
        + f"E1,2025-04-01T09:00:00+09:00,JUKI,u1,{MY_NUMBER},,,,\n"
        + f"E2,2025-04-01T09:00:00+09:00,JUKI,u1,view x{MY_NUMBER},,,,\n"
    )
    result = parse("access", data)
    # a 個人番号 inside a longer value is found too, and reported as such (not echoed)
    assert errors_of(result) == [(2, "action", MY_NUMBER_REASON), (3, "action", MY_NUMBER_REASON)]
    assert MY_NUMBER not in repr(result)


def test_my_numbers_among_other_twelve_character_values_column_by_column():
    fullwidth = MY_NUMBER.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    rows = [
        dict(SAMPLES["access"][0], event_id=f"E{i}", terminal=f"TERM-{i:07d}", subject_id=NOT_MY_NUMBER, memo="")
        for i in range(12)
    ]
    rows[2].update(subject_id=MY_NUMBER, memo=MY_NUMBER)
    rows[5].update(user_id=fullwidth)
    rows[9].update(terminal=MY_NUMBER)
    data = to_csv(rows).decode()
    by_column = parse("access", data)
    # a record with a missing column sends the batch the record-by-record way
    by_record = parse("access", data + "E99,2025-04-01T09:00:00+09:00\r\n")
    assert errors_of(by_column) == [
        (4, "subject_id", MY_NUMBER_REASON),
        (4, "memo", MY_NUMBER_REASON),
        (7, "user_id", MY_NUMBER_REASON),
        (11, "terminal", MY_NUMBER_REASON),
    ]
    assert errors_of(by_record)[:-1] == errors_of(by_column)
    assert by_column.rows == by_record.rows and len(by_column.rows) == 9
    assert by_column.rows_invalid == 3 and by_column.rows_total == 12


def test_twelve_digits_with_a_wrong_check_digit_are_accepted():
    row = dict(SAMPLES["access"][0], subject_id=NOT_MY_NUMBER, memo=NOT_MY_NUMBER)
    result = parse("access", to_csv([row]))
    assert result.errors == []
    assert result.rows[0]["subject_id"] == NOT_MY_NUMBER
    assert result.rows[0]["extra"] == {"memo": NOT_MY_NUMBER}


# -- time, ids, digests -------------------------------------------------------------


def test_timestamp_without_offset_is_tokyo():
    data = (
        ACCESS_HEADER
        + "E1,2025-04-01T08:30:00,JUKI,u1,view,,,,\n"
        + "E2,2025-04-01 08:30:00.250,JUKI,u1,view,,,,\n"
        + "E3,2025-03-31T23:30:00-00:00,JUKI,u1,view,,,,\n"
        + "E4,2025-04-01T05:00:00+05:30,JUKI,u1,view,,,,\n"
    )
    rows = parse("access", data).rows
    assert rows[0]["occurred_at"] == datetime(2025, 3, 31, 23, 30, tzinfo=UTC)
    assert rows[1]["occurred_at"] == datetime(2025, 3, 31, 23, 30, 0, 250000, tzinfo=UTC)
    assert rows[2]["occurred_at"] == datetime(2025, 3, 31, 23, 30, tzinfo=UTC)
    assert rows[3]["occurred_at"] == datetime(2025, 3, 31, 23, 30, tzinfo=UTC)
    assert all(r["occurred_at"].tzinfo is UTC for r in rows)


def test_derived_event_id_is_stable_across_resends_and_formats():
    row = dict(SAMPLES["access"][0], event_id="")
    first = parse("access", to_csv([row])).rows[0]
    again = parse("access", to_csv([SAMPLES["access"][2], row])).rows[1]
    jsonl = parse("access", to_jsonl([row])).rows[0]
    same_instant = parse("access", to_csv([dict(row, occurred_at="2025-04-01T00:15:02Z")])).rows[0]
    other = parse("access", to_csv([dict(row, terminal="T-99")])).rows[0]
    assert first["event_id_derived"] is True and first["event_id"].startswith("h:")
    assert first["event_id"] == again["event_id"] == jsonl["event_id"] == same_instant["event_id"]
    assert other["event_id"] != first["event_id"]
    assert first["row_hash"] == again["row_hash"]


@pytest.mark.parametrize("kind", KINDS)
def test_row_hash_is_row_digest_and_survives_storage(kind):
    rows = parse(kind, to_csv(SAMPLES[kind])).rows
    for row in rows:
        assert row["row_hash"] == row_digest(kind, row)
        stored = {
            k: (v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) else v)
            for k, v in row.items()
            if k not in ("line", "row_hash", "event_id_derived")
        }
        assert row_digest(kind, stored) == row["row_hash"]
    assert len({row["row_hash"] for row in rows}) == len(rows)


def test_canonical_row_is_fixed():
    row = {"user_id": "u1", "subject_id": "S1", "relation": "self", "extra": {"b": 1, "a": "x"}}
    assert canonical_row("relations", row) == b'relations\x1fu1\x1fS1\x1fself\x1f{"a":"x","b":1}'
    assert row_digest("relations", row) == hashlib.sha256(canonical_row("relations", row)).hexdigest()
    tricky = dict(row, extra={}, subject_id="a\x1fb\\")
    assert canonical_row("relations", tricky) == b"relations\x1fu1\x1fa\\u001fb\\\\\x1fself\x1f"
    assert row_digest("relations", tricky) != row_digest("relations", dict(tricky, subject_id="a"))
    access = {
        "event_id": "E1",
        "occurred_at": datetime(2025, 4, 1, 9, 0, tzinfo=feeds.TOKYO),
        "system": "JUKI",
        "user_id": "u1",
        "action": "view",
        "result": "success",
    }
    assert (
        canonical_row("access", access).decode()
        == "access\x1fE1\x1f2025-04-01T00:00:00+00:00\x1fJUKI\x1fu1\x1fview\x1f\x1f\x1fsuccess\x1f\x1f"
    )


def test_batch_fast_path_equals_row_by_row_path():
    base = to_csv(SAMPLES["access"] * 40).decode()
    bad = base + "E9,2025-04-01T09:00:00+09:00,JUKI,u1,unknown,,,,\n"
    fast = parse("access", base).rows
    slow = parse("access", bad).rows
    assert len(fast) == len(slow) == 120
    assert fast == slow


@st.composite
def stamp_texts(draw):
    """Timestamps as feeds write them, now and then with one character changed."""
    zone = draw(
        st.sampled_from(
            [None, UTC, feeds.TOKYO, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]
        )
    )
    stamp = draw(
        st.datetimes(
            min_value=datetime(1870, 1, 2),
            max_value=datetime(2999, 12, 30),
            timezones=st.just(zone) if zone else st.none(),
        )
    )
    text = stamp.isoformat(timespec=draw(st.sampled_from(["seconds", "milliseconds", "auto"])))
    if zone is UTC and draw(st.booleans()):
        text = text.replace("+00:00", "Z")
    if draw(st.booleans()):
        i = draw(st.sampled_from([10, 11, 12, 13, 14, 15, 16, 17, 18, len(text) - 1]))
        text = text[:i] + draw(st.sampled_from("0569:+-TZ ")) + text[i + 1 :]
    return text


def utc_of(text: str) -> datetime | None:
    """What the spec says a timestamp means (None: not a timestamp with a time)."""
    try:
        stamp = datetime.fromisoformat(text)
        stamp = stamp.replace(tzinfo=feeds.TOKYO) if stamp.tzinfo is None else stamp
        return stamp.astimezone(UTC) if len(text) > 10 else None
    except (ValueError, OverflowError):
        return None


def assert_timestamps_mean_what_the_spec_says(stamps: list[str]) -> None:
    """In a batch (column-wise when it can) and one by one, the same UTC instants."""
    rows = [dict(SAMPLES["access"][0], event_id=f"E{i}", occurred_at=s) for i, s in enumerate(stamps)]
    data = to_csv(rows).decode()
    batch = parse("access", data)
    # a bad row sends the whole batch the row-by-row way
    one_by_one = parse("access", data + "E9,2025-04-01T09:00:00+09:00,JUKI,u1,unknown,,,,\n")
    expected = [utc_of(s) for s in stamps]
    for result in (batch, one_by_one):
        assert [r["occurred_at"] for r in result.rows] == [e for e in expected if e]
        assert [e.line for e in result.errors if e.field == "occurred_at"] == [
            i + 2 for i, e in enumerate(expected) if e is None
        ]
    assert batch.rows == one_by_one.rows


@settings(max_examples=300, deadline=None)
@given(stamps=st.lists(stamp_texts(), min_size=1, max_size=4))
def test_timestamps_mean_what_the_spec_says(stamps):
    assert_timestamps_mean_what_the_spec_says(stamps)


@pytest.mark.parametrize(
    "stamp",
    [
        "2025-04-01T09:15:02+09:00",
        "2025-04-01T09:15:02",
        "2025-04-01T00:15:02Z",
        "2025-04-01T09:15:02-05:00",
        "2025-04-01T09:15:02+05:30",
        "2025-04-01T09:15:02.5+09:00",
        "1880-04-01T09:15:02",  # Tokyo local mean time: +09:18:59
        "2025-04-01T09:15:60+09:00",
        "2025-04-01T09:60:02+09:00",
        "2025-04-01T24:15:02+09:00",
        "2025-04-01T09:15:2x+09:00",
        "2025-04-01T09:1５:02+09:00",
        "2025-04-01 09:15:02+09:00",
        "2025-04-01T09:15:02+09:0x",
        "2025-04-01T09-15-02+09:00",
        "2025-04-01",
        "2025-04-01T09:15:02.000+09:00",
        "2025-04-01T00:15:02.123Z",
        "2025-04-01T09:15:02.050",
        "2025-04-01T09:15:02.1234567+09:00",
        "2025-04-01T09:15:02.+09:00",
        "2025-04-01T09:15:02,5+09:00",
        "2025-04-01T09:15:02.5x+09:00",
    ],
)
def test_usual_and_unusual_timestamps(stamp):
    assert_timestamps_mean_what_the_spec_says([stamp, "2025-04-01T09:15:02+09:00", stamp])


def test_column_wise_batches_are_the_rows():
    data = to_csv(SAMPLES["access"] * 3)
    parser = FeedParser("access", known_systems={"JUKI"})
    (batch,) = parser.iter_batches(io.BytesIO(data))
    assert isinstance(batch, feeds.AccessColumns) and len(batch) == 9
    assert batch.occurred_at[0] == "2025-04-01T00:15:02+00:00" and batch.subject_id[1] == ""
    assert batch.rows() == parse("access", data).rows


# -- streaming -------------------------------------------------------------------------


class CountingStream:
    """A binary stream that refuses to be read whole and records how it was read."""

    def __init__(self, data: bytes):
        self._buf = io.BytesIO(data)
        self.max_request = 0

    def read(self, n=-1):
        if n is None or n < 0:
            raise AssertionError("the parser must not read the stream whole")
        self.max_request = max(self.max_request, n)
        return self._buf.read(n)

    def position(self) -> int:
        return self._buf.tell()


def access_csv(n: int) -> bytes:
    lines = [ACCESS_HEADER]
    for i in range(n):
        lines.append(
            f"E{i},2025-04-{1 + i % 28:02d}T{8 + i % 10:02d}:{i % 60:02d}:00+09:00,"
            f"JUKI,u{i % 150},view,S{i:010x},T-1,,\n"
        )
    return "".join(lines).encode()


def test_rows_are_yielded_before_the_stream_is_read_whole():
    data = access_csv(20_000)
    stream = CountingStream(data)
    parser = FeedParser("access", chunk_bytes=64 * 1024)
    chunks = parser.iter_chunks(stream, size=1000)
    first = next(chunks)
    assert len(first) == 1000 and first[0]["event_id"] == "E0"
    assert stream.position() < len(data) // 4
    assert sum(len(c) for c in chunks) == 19_000
    assert stream.max_request <= 64 * 1024
    assert parser.sha256 == hashlib.sha256(data).hexdigest()
    assert parser.rows_total == parser.rows_valid == 20_000


class GeneratedFeed:
    """An access CSV of ``n`` rows made up while it is read (never held whole)."""

    line = "E{},2025-05-01T10:{:02d}:00+09:00,JUKI,u1,view,S{:010x},T-1,,\n"

    def __init__(self, n: int):
        self.n, self.i, self.pending = n, 0, ACCESS_HEADER.encode()

    def read(self, size: int) -> bytes:
        parts = [self.pending]
        length = len(self.pending)
        while length < size and self.i < self.n:
            part = self.line.format(self.i, self.i % 60, self.i).encode()
            parts.append(part)
            length += len(part)
            self.i += 1
        data = b"".join(parts)
        out, self.pending = data[:size], data[size:]
        return out


def peak_memory_of_parse(n: int) -> tuple[int, FeedParser]:
    parser = FeedParser("access", chunk_bytes=64 * 1024)
    tracemalloc.start()
    try:
        total = sum(len(chunk) for chunk in parser.iter_chunks(GeneratedFeed(n), size=2000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == n and parser.ok
    return peak, parser


@pytest.mark.slow
def test_memory_does_not_grow_with_the_file():
    small, _ = peak_memory_of_parse(10_000)
    large, parser = peak_memory_of_parse(120_000)
    assert parser.bytes_read > 7_000_000
    assert large < small * 1.25 + 512 * 1024
    assert large < 8 * 1024 * 1024


def test_a_parser_reads_one_stream():
    parser = FeedParser("relations")
    list(parser.iter_rows(io.BytesIO(to_csv(SAMPLES["relations"]))))
    with pytest.raises(RuntimeError):
        list(parser.iter_rows(io.BytesIO(b"")))
    with pytest.raises(ValueError):
        FeedParser("unknown")


def test_text_streams_are_refused():
    with pytest.raises(TypeError):
        parse_feed("relations", io.StringIO("user_id,subject_id,relation\n"))


# -- properties ------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), data=st.binary(max_size=600), fmt=st.sampled_from([None, "csv", "jsonl"]))
def test_parser_never_crashes_on_arbitrary_bytes(kind, data, fmt):
    result = parse_feed(kind, io.BytesIO(data), fmt=fmt, known_systems={"JUKI"})
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.rows_total == result.rows_valid + result.rows_invalid
    assert len(result.rows) == result.rows_valid
    assert all(isinstance(e, RowError) and e.line >= 1 and e.reason for e in result.errors)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), data=st.binary(max_size=400))
def test_parser_never_crashes_after_a_valid_header(kind, data):
    header = ",".join(spec.name for spec in FIELDS[kind]).encode() + b"\n"
    result = parse_feed(kind, io.BytesIO(header + data), fmt="csv")
    assert result.rows_total == result.rows_valid + result.rows_invalid


#: text a valid row may hold: no lone surrogate, no C0 control but TAB, LF and CR, no 個人番号
FORBIDDEN_CONTROLS = "".join(chr(c) for c in range(32) if chr(c) not in "\t\n\r")
text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufffd" + FORBIDDEN_CONTROLS), max_size=12
).filter(lambda s: not contains_my_number(s))
non_empty = text.filter(lambda s: s != "" and not s.isdigit())


@st.composite
def access_rows(draw):
    stamp = draw(
        st.datetimes(
            min_value=datetime(2000, 1, 2),
            max_value=datetime(2099, 12, 30),
            timezones=st.sampled_from([UTC, feeds.TOKYO, timezone(timedelta(hours=-5))]),
        )
    )
    fmt_stamp = draw(st.sampled_from(["iso", "naive", "seconds"]))
    if fmt_stamp == "naive":
        occurred = stamp.astimezone(feeds.TOKYO).replace(tzinfo=None).isoformat()
        stamp = stamp.astimezone(feeds.TOKYO)
    elif fmt_stamp == "seconds":
        stamp = stamp.replace(microsecond=0)
        occurred = stamp.isoformat()
    else:
        occurred = stamp.isoformat()
    return {
        "event_id": draw(text),
        "occurred_at": occurred,
        "system": "JUKI",
        "user_id": draw(non_empty),
        "action": draw(st.sampled_from(feeds.ACCESS_ACTIONS)),
        "subject_id": draw(text),
        "terminal": draw(text),
        "result": draw(st.sampled_from(["", "success", "denied"])),
        "purpose": draw(text),
    }, stamp


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(access_rows(), min_size=1, max_size=6), extra=text)
def test_a_valid_row_never_loses_or_alters_a_field(rows, extra):
    raw = [dict(r, note=extra) for r, _ in rows]
    for data in (to_csv(raw), to_jsonl(raw)):
        result = parse("access", data, known_systems={"JUKI"})
        assert result.errors == [], result.errors
        assert len(result.rows) == len(raw)
        for got, sent, (_, stamp) in zip(result.rows, raw, rows):
            assert got["occurred_at"] == stamp and got["occurred_at"].tzinfo is UTC
            for name in ("system", "user_id", "action"):
                assert got[name] == sent[name]
            for name in ("subject_id", "terminal", "purpose"):
                assert got[name] == (sent[name] or None)
            assert got["result"] == (sent["result"] or "success")
            if sent["event_id"]:
                assert got["event_id"] == sent["event_id"] and not got["event_id_derived"]
            assert got["extra"] == {"note": extra}
            assert got["row_hash"] == row_digest("access", got)


@settings(max_examples=100, deadline=None)
@given(
    user=non_empty,
    subject=non_empty,
    relation=st.sampled_from(feeds.RELATIONS),
    role=non_empty,
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2999, 12, 31)),
    days=st.integers(min_value=0, max_value=3000),
)
def test_valid_small_feeds_keep_their_fields(user, subject, relation, role, start, days):
    rel = {"user_id": user, "subject_id": subject, "relation": relation}
    grant = {
        "user_id": user,
        "system": "JUKI",
        "role": role,
        "granted_at": start.isoformat(),
        "revoked_at": (start + timedelta(days=days)).isoformat(),
        "granted_by": subject,
    }
    for data in (to_csv([rel]), to_jsonl([rel])):
        (row,) = parse("relations", data).rows
        assert (row["user_id"], row["subject_id"], row["relation"]) == (user, subject, relation)
    for data in (to_csv([grant]), to_jsonl([grant])):
        (row,) = parse("grants", data).rows
        assert (row["user_id"], row["role"], row["granted_by"]) == (user, role, subject)
        assert row["granted_at"] == start
        assert row["revoked_at"] == start + timedelta(days=days)
