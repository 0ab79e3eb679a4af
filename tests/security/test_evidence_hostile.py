"""Hostile evidence feeds: 個人番号 in every shape and every field, control characters, formula
cells, empty files and tokens reaching beyond their scope. The same file gets the same answer
through the three doors (CLI, HTTP API, drop folder), on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.auth import issue_token
from common.csvsafe import is_dangerous
from common.db import db
from common.mynumber import my_number_check_digit
from evidence.feeds import CONTROL_REASON, FIELDS, KINDS, MY_NUMBER_REASON, SURROGATE_REASON, parse_feed
from evidence.ingest import EMPTY_REASON
from evidence.models import AccessDay, AccessEvent, FeedBatch
from tests.evidence.test_feeds import SAMPLES, to_csv, to_jsonl

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
#: separators people write between the groups (and none at all)
SEPARATORS = [
    "",
    " ",
    "-",
    "\uff0d",
    "\u30fb",
    "\u30fc",
    "\u2212",
    "\u2013",
    "\u2014",
    ".",
    "\t",
    "  ",
    " - ",
    "\n",
    "\r\n",
    "\u3000",
]
#: how a 個人番号 sits in a value
WRAPPERS = ["{}", "個人番号:{}", "個人番号 {} (本人確認済)", "x{}", "{}号", "メモ\t{}"]


def valid_number(first11: str) -> str:
    return first11 + str(my_number_check_digit(first11))


@st.composite
def my_number_shapes(draw) -> tuple[str, str]:
    """(value holding a valid 個人番号 in some written shape, its 12 ASCII digits)."""
    digits = valid_number(draw(st.text("0123456789", min_size=11, max_size=11)))
    sep = draw(st.sampled_from(SEPARATORS))
    sep2 = draw(st.sampled_from([sep, ""]))
    shape = digits[:4] + sep + digits[4:8] + sep2 + digits[8:]
    if draw(st.booleans()):
        shape = shape.translate(FULLWIDTH)
    return draw(st.sampled_from(WRAPPERS)).format(shape), digits


def parse(kind, data: bytes, fmt):
    return parse_feed(kind, io.BytesIO(data), fmt=fmt, known_systems={"JUKI"})


FIELDS_OF_EVERY_FEED = [(kind, spec.name) for kind in KINDS for spec in FIELDS[kind]] + [
    (kind, "memo") for kind in KINDS
]


@pytest.mark.parametrize("kind, field", FIELDS_OF_EVERY_FEED)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=my_number_shapes(), fmt=st.sampled_from(["csv", "jsonl"]))
def test_a_my_number_in_any_shape_in_any_field_of_any_feed_rejects_its_line(kind, field, shape, fmt):
    value, digits = shape
    good = dict(SAMPLES[kind][0], memo="本庁")
    bad = dict(good, **{field: value})
    data = to_csv([good, bad]) if fmt == "csv" else to_jsonl([good, bad])
    result = parse(kind, data, fmt)
    first = 2 if fmt == "csv" else 1
    assert [tuple(e) for e in result.errors] == [(first + 1, field, MY_NUMBER_REASON)]
    assert [row["line"] for row in result.rows] == [first]
    shown = repr(result.errors)
    assert digits not in shown and digits.translate(FULLWIDTH) not in shown and value not in shown


@pytest.mark.parametrize(
    "line, field",
    [
        ('"subject_id": 123456789018', "subject_id"),
        ('"subject_id": 123456789018.0', "subject_id"),
        ('"subject_id": 123456789018e0', "subject_id"),
        ('"subject_id": 1.23456789018e11', "subject_id"),
        ('"subject_id": -123456789018', "subject_id"),
        ('"memo": 123456789018.0', "memo"),
        ('"memo": {"a": {"b": [1, 1.23456789018E+11]}}', "memo"),
        ('"memo": {"a": "1234-5678-9018"}', "memo"),
        ('"memo": {"1234 5678 9018": 1}', "memo"),
        ('"memo": ["\\uff11\\uff12\\uff13\\uff14\\uff0d5678\\uff0d9018"]', "memo"),
        ('"123456789018": "x"', None),
        ('"1234\\u002d5678\\u002d9018": "x"', None),
    ],
)
def test_json_numbers_are_checked_as_sent_and_nested_values_and_keys_too(line, field):
    text = '{"user_id": "u1", "subject_id": "S1", "relation": "self", ' + line + "}\n"
    text = text.replace('"subject_id": "S1", "subject_id"', '"subject_id"')
    result = parse("relations", text.encode(), "jsonl")
    assert [tuple(e) for e in result.errors] == [(1, field, MY_NUMBER_REASON)]
    assert result.rows == [] and "9018" not in repr(result.errors)


def test_twelve_digits_that_are_not_a_my_number_are_kept():
    wrong = "1234-5678-9012"  # check digit not valid
    rows = [dict(SAMPLES["access"][0], subject_id=wrong, terminal="1234 5678 90181")]
    result = parse("access", to_csv(rows), "csv")
    assert result.errors == [] and result.rows[0]["subject_id"] == wrong


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_control_characters_are_refused_in_every_field(char, fmt):
    for kind in KINDS:
        for spec in FIELDS[kind]:
            row = dict(SAMPLES[kind][0])
            row[spec.name] = "a" + char + "b"
            data = to_csv([row]) if fmt == "csv" else to_jsonl([row])
            result = parse(kind, data, fmt)
            assert [tuple(e) for e in result.errors] == [(1 + (fmt == "csv"), spec.name, CONTROL_REASON)], (
                kind,
                spec.name,
            )
            assert result.rows == []


def test_tab_and_line_breaks_are_text_but_lone_surrogates_are_not():
    row = dict(SAMPLES["access"][0], terminal="T\t1", purpose="一行目\r\n二行目")
    assert parse("access", to_csv([row]), "csv").errors == []
    line = json.dumps(dict(SAMPLES["access"][0], terminal="\ud800")) + "\n"  # escaped by dumps
    result = parse("access", line.encode(), "jsonl")
    assert [tuple(e) for e in result.errors] == [(1, "terminal", SURROGATE_REASON)]
    line = json.dumps(dict(SAMPLES["access"][0], memo={"k": "\udfff"})) + "\n"
    assert [tuple(e) for e in parse("access", line.encode(), "jsonl").errors] == [(1, "memo", SURROGATE_REASON)]


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(),
    st.sampled_from(["", "Z", "+09:00", "-05:00", "+00:00"]),
    st.sampled_from(["T", " "]),
    st.integers(0, 6),
)
def test_timestamps_in_the_usual_shape_can_hold_neither_a_my_number_nor_a_control(when, offset, sep, fraction):
    """The access column path does not look into timestamps it read in the usual shape."""
    from common.mynumber import contains_my_number

    text = when.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if fraction:
        text += "." + f"{when.microsecond:06d}"[:fraction]
    text += offset
    assert not contains_my_number(text) and text.isprintable()


# -- the three doors ---------------------------------------------------------------------

ACCESS_HEADER = "event_id,occurred_at,system,user_id,action,subject_id,terminal,result,purpose\n"
GOOD_ROW = "e1,2025-04-01T09:00:00+09:00,JUKI,u1,view,S1,T1,,\n"

HOSTILE_FILES = {
    "hyphens.csv": (
        "access",
        ACCESS_HEADER + GOOD_ROW + "e2,2025-04-01T09:01:00+09:00,JUKI,u1,view,1234-5678-9018,T1,,\n",
        [(3, "subject_id", MY_NUMBER_REASON)],
    ),
    "user.csv": (
        "access",
        ACCESS_HEADER + GOOD_ROW + "e2,2025-04-01T09:01:00+09:00,JUKI,u1 1234\u30fb5678\u30fb9018,view,S2,T1,,\n",
        [(3, "user_id", MY_NUMBER_REASON)],
    ),
    "nul.csv": (
        "access",
        ACCESS_HEADER + GOOD_ROW + "e2,2025-04-01T09:01:00+09:00,JUKI,u1,view,S2,T\x001,,\n",
        [(3, "terminal", CONTROL_REASON)],
    ),
    "float.jsonl": (
        "access",
        json.dumps({"occurred_at": "2025-04-01T09:00:00+09:00", "system": "JUKI", "user_id": "u1", "action": "view"})
        + '\n{"occurred_at": "2025-04-01T09:00:00+09:00", "system": "JUKI", '
        '"user_id": "u2", "action": "view", "memo": {"n": 123456789018e0}}\n',
        [(2, "memo", MY_NUMBER_REASON)],
    ),
    "header-only.csv": ("access", ACCESS_HEADER, [(1, None, EMPTY_REASON)]),
    "empty.jsonl": ("relations", "\n\n", [(1, None, EMPTY_REASON)]),
}


def _errors(items) -> list[tuple]:
    return [(e["line"], e["field"], e["reason"]) for e in items]


@pytest.mark.parametrize("name", HOSTILE_FILES)
def test_the_three_doors_refuse_the_same_file_the_same_way(app, client, juki, tmp_path, name, count_rows):
    from evidence.watch import watch

    kind, text, expected = HOSTILE_FILES[name]
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))

    cli = app.test_cli_runner().invoke(args=["evidence", "import", kind, str(path)])
    assert cli.exit_code == 1
    for line, field, reason in expected:
        assert f"{line}行目 {field or '(行全体)'}: {reason}" in cli.output

    _t, plain = issue_token("hostile", system_code="JUKI", feeds=KINDS)
    db.session.commit()
    api = client.post(
        f"/api/v1/feeds/{kind}",
        data=path.read_bytes(),
        headers={"Authorization": f"Bearer {plain}"},
        content_type="application/x-ndjson" if name.endswith(".jsonl") else "text/csv",
    )
    assert api.status_code == 422 and not api.json["stored"]
    assert _errors(api.json["errors"]) == expected

    drop = tmp_path / "drop"
    drop.mkdir()
    dropped = drop / f"{kind}-{name}"
    dropped.write_bytes(path.read_bytes())
    old = time.time() - 60
    os.utime(dropped, (old, old))
    (report,) = watch(drop, once=True, echo=lambda *_: None)
    assert not dropped.exists() and (drop / "rejected" / dropped.name).exists()
    on_disk = json.loads((drop / "rejected" / f"{dropped.name}.report.json").read_text("utf-8"))
    assert _errors(on_disk["errors"]) == _errors(report["errors"]) == expected

    for model in (AccessEvent, AccessDay, FeedBatch):
        assert count_rows(model) == 0
    for output in (cli.output, api.text, json.dumps(on_disk, ensure_ascii=False)):
        assert "9018" not in output and "\x00" not in output


def test_the_drop_folder_survives_a_failing_import(app, juki, tmp_path, monkeypatch):
    """Whatever goes wrong while importing, the file moves to rejected/ with its report."""
    from evidence import ingest
    from evidence.watch import FAILED_REASON, watch

    def broken(*_a, **_k):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(ingest, "import_feed", broken)
    (tmp_path / "access-1.csv").write_text(ACCESS_HEADER + GOOD_ROW, encoding="utf-8")
    (tmp_path / "access-2.csv").write_text(ACCESS_HEADER + GOOD_ROW, encoding="utf-8")
    old = time.time() - 60
    for p in tmp_path.glob("*.csv"):
        os.utime(p, (old, old))
    reports = watch(tmp_path, once=True, echo=lambda *_: None)
    assert [r["stored"] for r in reports] == [False, False]
    for name in ("access-1.csv", "access-2.csv"):
        report = json.loads((tmp_path / "rejected" / f"{name}.report.json").read_text("utf-8"))
        assert report["errors"][0]["reason"] == FAILED_REASON


# -- tokens --------------------------------------------------------------------------------


def _bearer(system="JUKI", feeds=None):
    _t, plain = issue_token("feed", system_code=system, feeds=feeds)
    db.session.commit()
    return {"Authorization": f"Bearer {plain}"}


STATE_FEEDS = {
    "assignments": "user_id,department,start_date\nu1,中央区戸籍住民課,2025-04-01\n",
    "relations": "user_id,subject_id,relation\nu1,S1,self\n",
    "provisions": "record_id,occurred_at,direction,counterpart,table_item,info_item\n"
    "R1,2025-04-01T09:00:00+09:00,provide,札幌市,2,住民票関係情報\n",
}


def test_a_system_token_posts_only_its_feeds_and_only_its_system(client, juki, count_rows):
    from pia.inventory.models import System

    db.session.add(System(code="ZEI", name="税務システム"))
    db.session.commit()
    default = _bearer()
    for kind, text in STATE_FEEDS.items():
        r = client.post(f"/api/v1/feeds/{kind}", data=text, headers=default, content_type="text/csv")
        assert r.status_code == 403 and r.is_json and kind in r.json["error"], kind
    assert count_rows(FeedBatch) == 0
    r = client.post("/api/v1/feeds/access", data=ACCESS_HEADER + GOOD_ROW, headers=default, content_type="text/csv")
    assert r.status_code == 201
    grants = "user_id,system,role,granted_at\nu1,JUKI,参照,2025-04-01\nu1,ZEI,参照,2025-04-01\n"
    r = client.post("/api/v1/feeds/grants", data=grants, headers=default, content_type="text/csv")
    assert r.status_code == 422 and _errors(r.json["errors"])[0][:2] == (3, "system")

    hr = _bearer(feeds=["assignments"])
    r = client.post("/api/v1/feeds/assignments", data=STATE_FEEDS["assignments"], headers=hr, content_type="text/csv")
    assert r.status_code == 201
    r = client.post("/api/v1/feeds/access", data=ACCESS_HEADER + GOOD_ROW, headers=hr, content_type="text/csv")
    assert r.status_code == 403 and "操作履歴" in r.json["error"]


def test_tokens_get_their_feeds_from_the_cli_and_the_admin_page(app, juki, as_role):
    from common.models import ApiToken

    runner = app.test_cli_runner()
    out = runner.invoke(args=["evidence", "token", "JUKI", "--feeds", "access,assignments"])
    assert out.exit_code == 0, out.output
    assert "操作履歴、人事配置" in out.output
    assert runner.invoke(args=["evidence", "token", "JUKI", "--feeds", "access,secrets"]).exit_code != 0
    assert runner.invoke(args=["evidence", "token", "JUKI"]).exit_code == 0
    tokens = db.session.execute(sa.select(ApiToken).order_by(ApiToken.id)).scalars().all()
    assert [t.feed_kinds for t in tokens] == [("access", "assignments"), ("access", "grants")]

    c = as_role("admin")
    page = c.get("/admin/tokens").text
    boxes = re.findall(r"<input[^>]*name=\"feeds\"[^>]*>", page)
    assert len(boxes) == len(KINDS)
    assert {re.search(r'value="([^"]+)"', b).group(1) for b in boxes if "checked" in b} == {"access", "grants"}
    c.post("/admin/tokens", data={"name": "人事", "system_code": "juki", "feeds": ["relations"]})
    page = c.post("/admin/tokens", data={"name": "空", "system_code": "juki"}).text
    assert "送信できるフィードを1つ以上選んでください" in page
    db.session.expire_all()
    tokens = db.session.execute(sa.select(ApiToken).order_by(ApiToken.id)).scalars().all()
    assert [t.feed_kinds for t in tokens][2:] == [("relations",)]
    assert "職員と住民記録の関係" in c.get("/admin/tokens").text


# -- CSV written by the product -----------------------------------------------------------------

FORMULAS = [
    '=HYPERLINK("http://x")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    "  =1+1",
    "\uff1d1+1",
    "\uff0b1",
    "\uff0d1",
    "\uff20A1",
]


def _cells(body: bytes) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(body.decode("utf-8-sig"))) for cell in row]


def test_the_evidence_report_csv_defuses_formula_cells(app, feed, juki, make_assessment):
    from datetime import date

    from evidence.checks import Period, run_checks
    from evidence.report import build_report, render

    rows = [
        dict(
            SAMPLES["access"][0],
            event_id=f"e{i}",
            user_id=u,
            subject_id=f"S{i}",
            occurred_at=f"2025-04-01T09:{i:02d}:00+09:00",
        )
        for i, u in enumerate(FORMULAS)
    ]
    assert feed("access", to_csv(rows).decode()).stored
    run_checks(Period(None, None))
    db.session.commit()
    assessment = make_assessment("juki", published=False)
    data = build_report(assessment.id, date(2025, 4, 1), date(2025, 4, 1))
    assert {x["user_id"] for x in data["open_findings"]} >= set(FORMULAS)  # they reach it
    cells = _cells(render(data, "csv"))
    assert not [c for c in cells if is_dangerous(c)]
    for formula in FORMULAS:
        assert "'" + formula in cells


def test_the_reject_file_defuses_formula_cells(app, juki, tmp_path):
    line = json.dumps(
        {
            "occurred_at": "2025-04-01T09:00:00+09:00",
            "system": "JUKI",
            "user_id": "u1",
            "action": "view",
            "=SUM(A1)": "1234-5678-9018",
        }
    )
    good = json.dumps({"occurred_at": "2025-04-01T09:00:00+09:00", "system": "JUKI", "user_id": "u2", "action": "view"})
    path = tmp_path / "access.jsonl"
    path.write_text(line + "\n" + good + "\n", encoding="utf-8")
    out = app.test_cli_runner().invoke(args=["evidence", "import", "access", str(path), "--skip-invalid"])
    assert out.exit_code == 0, out.output
    cells = _cells((tmp_path / "access.jsonl.rejected.csv").read_bytes())
    assert "'=SUM(A1)" in cells and not [c for c in cells if is_dangerous(c)]


def test_a_file_name_never_carries_a_my_number_into_the_store(app, juki, tmp_path):
    from evidence.watch import watch

    path = tmp_path / "access-1234-5678-9018.csv"
    path.write_text(ACCESS_HEADER + GOOD_ROW, encoding="utf-8")
    old = time.time() - 60
    os.utime(path, (old, old))
    (report,) = watch(tmp_path, once=True, echo=lambda *_: None)
    assert report["stored"]
    (source,) = db.session.execute(sa.select(FeedBatch.source)).scalars()
    assert source.startswith("watch:access-") and "9018" not in source
    from evidence.chain import verify

    assert verify().ok
