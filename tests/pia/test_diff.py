"""Differences between versions: 重要な変更 vs 評価書の修正, character-level ops."""

import copy
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pia.assessments.demo_data import apply_changes, load_demo_documents
from pia.diff import change_log_rows, diff_documents, text_ops
from pia.schema import load_schema, parse_schema


@pytest.fixture
def zen():
    return load_schema("zenkoumoku")


def reconstruct(ops, keep):
    return "".join(text for tag, text in ops if tag in keep)


def assert_ops_rebuild(change):
    assert reconstruct(change.before_ops, {"equal", "delete"}) == change.before
    assert reconstruct(change.after_ops, {"equal", "insert"}) == change.after
    assert {t for t, _ in change.before_ops} <= {"equal", "delete"}
    assert {t for t, _ in change.after_ops} <= {"equal", "insert"}


def test_demo_v2_is_a_significant_change(zen):
    v1, v2 = load_demo_documents()
    diff = diff_documents(zen, v1, zen, v2)
    assert diff.kind == "重要な変更"
    assert diff.significant
    paths = {c.path for c in diff.significant_changes}
    # the move to the ガバメントクラウド changes ※ items: 別添1 事務の内容, 保管場所, the new
    # 委託 (対象となる本人の範囲, 再委託の有無) and the risk measures of III
    assert {
        "affair_detail/description",
        "files/files[0]/storage/location",
        "files/files[0]/entrustment/items[1]/subcontract",
        "risks/files[0]/storage/risk1/technical_detail",
    } <= paths
    # ... while the system's own entry (①名称, ②機能, ③接続) carries no ※ on the form
    assert not paths & {"basic/systems[0]/name", "basic/systems[0]/functions", "basic/systems[0]/connections"}
    added = [c for c in diff.changes if c.path.startswith("files/files[0]/entrustment/items[1]/")]
    assert added and all(c.kind == "added" for c in added)
    for change in diff.changes:
        assert_ops_rebuild(change)


def test_edit_to_a_non_significant_item_is_a_correction(zen):
    v1, _ = load_demo_documents()
    v1b = copy.deepcopy(v1)
    v1b["disclosure"]["inquiry"]["contact"] += "\nFAX 011-218-5110"
    v1b["basic"]["department"]["head_title"] = "住民情報課長(兼)"
    diff = diff_documents(zen, v1, zen, v1b)
    assert diff.kind == "評価書の修正"
    assert not diff.significant
    assert [c.kind for c in diff.changes] == ["changed", "changed"]
    head = next(c for c in diff.changes if c.path == "basic/department/head_title")
    assert head.label == "I 基本情報 7. 評価実施機関における担当部署 ②所属長の役職名"
    assert head.after_ops == [("equal", "住民情報課長"), ("insert", "(兼)")]


def test_identical_documents_have_no_changes(zen):
    v1, _ = load_demo_documents()
    diff = diff_documents(zen, v1, zen, copy.deepcopy(v1))
    assert diff.changes == [] and diff.kind == "変更なし" and not diff


def test_editing_a_systems_functions_is_a_correction(zen):
    """「②システムの機能」 carries no ※ on the form (001): editing it is 評価書の修正."""
    v1, _ = load_demo_documents()
    v1b = copy.deepcopy(v1)
    v1b["basic"]["systems"][2]["functions"] += "\n6. バックアップの取得"
    diff = diff_documents(zen, v1, zen, v1b)
    assert [c.path for c in diff.changes] == ["basic/systems[2]/functions"]
    assert diff.kind == "評価書の修正" and not diff.significant
    assert change_log_rows(diff, date(2027, 4, 1))[0]["timing"] == "事後"


def test_editing_the_affairs_description_is_a_significant_change(zen):
    """「②事務の内容 ※」 (001 line 9): editing it is 重要な変更."""
    v1, _ = load_demo_documents()
    v1b = copy.deepcopy(v1)
    v1b["basic"]["affair"]["description"] += "\n⑬コンビニ交付による住民票の写しの交付"
    diff = diff_documents(zen, v1, zen, v1b)
    assert [c.path for c in diff.changes] == ["basic/affair/description"]
    assert diff.kind == "重要な変更" and diff.significant
    assert change_log_rows(diff, date(2027, 4, 1))[0]["timing"] == "事前"


def test_target_count_is_not_a_significant_item(zen):
    """「③対象人数」 has no ※ (001 line 12): a new count is for the しきい値判断, not 重要な変更."""
    v1, _ = load_demo_documents()
    v1b = copy.deepcopy(v1)
    v1b["basic"]["affair"]["target_count"] = "10万人以上30万人未満"
    assert diff_documents(zen, v1, zen, v1b).kind == "評価書の修正"


def test_removed_group_entries_are_reported_as_removed(zen):
    v1, _ = load_demo_documents()
    v1b = apply_changes(v1, [{"op": "remove", "path": "basic/systems[7]"}])
    diff = diff_documents(zen, v1, zen, v1b)
    assert diff.kind == "評価書の修正"  # a system's entry has no ※ item
    kinds = {c.path: c.kind for c in diff.changes}
    assert kinds["basic/systems[8]/name"] == "removed"
    assert kinds["basic/systems[7]/name"] == "changed"


def test_character_level_ops_for_japanese():
    before, after = text_ops("住民記録システムへ移行する", "住民記録標準準拠システムへ移行する")
    assert before == [("equal", "住民記録システムへ移行する")]
    assert after == [("equal", "住民記録"), ("insert", "標準準拠"), ("equal", "システムへ移行する")]
    before, after = text_ops("十分である", "課題が残されている")
    assert reconstruct(before, {"equal", "delete"}) == "十分である"
    assert reconstruct(after, {"equal", "insert"}) == "課題が残されている"


def test_long_texts_fall_back_to_lines(monkeypatch):
    # The character comparison is quadratic: on a long text it must only ever see the
    # changed line, never the whole text (its speed is measured in bench/diff.py).
    import pia.diff

    compared = []
    char_diff = pia.diff._char_diff

    def recording(a, b, a_ops, b_ops):
        compared.append((a, b))
        char_diff(a, b, a_ops, b_ops)

    monkeypatch.setattr(pia.diff, "_char_diff", recording)
    lines = [f"第{i}条 住民票の記載事項に関する規定の内容を記載する。" for i in range(3000)]
    before = "\n".join(lines)
    changed = list(lines)
    changed[1500] = "第1500条 住民票の記載事項に関する規定の内容を改めて記載する。"
    after = "\n".join(changed)
    b_ops, a_ops = text_ops(before, after)
    assert compared == [(lines[1500] + "\n", changed[1500] + "\n")]
    assert reconstruct(b_ops, {"equal", "delete"}) == before
    assert reconstruct(a_ops, {"equal", "insert"}) == after
    assert [t for t, _ in a_ops] == ["equal", "insert", "equal"]
    assert dict((t, x) for t, x in a_ops if t == "insert")["insert"] == "改めて"


def test_change_log_rows(zen):
    v1, v2 = load_demo_documents()
    v2["changelog"]["changes"].append(
        {"date": "2027-04-01", "item": "x", "before": "", "after": "", "timing": "事後", "timing_note": ""}
    )
    diff = diff_documents(zen, v1, zen, v2)
    rows = change_log_rows(diff, date(2027, 4, 15))
    assert len(rows) == len([c for c in diff.changes if not c.path.startswith("changelog/")])
    location = next(
        r
        for r in rows
        if r["item"] == "II 特定個人情報ファイルの概要 特定個人情報ファイル1 6. 特定個人情報の保管・消去 ①保管場所"
    )
    assert location["date"] == "2027-04-15"
    assert location["timing"] == "事前"
    assert "重要な変更に当たる" in location["timing_note"]
    assert "ガバメントクラウド" in location["after"]
    functions = next(r for r in rows if r["item"] == "I 基本情報 2. システム1 ②システムの機能")
    assert functions["timing"] == "事後"
    assert functions["after"].startswith("デジタル庁が定める")
    remarks = next(r for r in rows if r["item"] == "表紙 特記事項")
    assert remarks["timing"] == "事後"
    assert "重要な変更に当たらない" in remarks["timing_note"]
    assert set(functions) == {c.key for c in zen.item("changelog/changes").columns}


def test_documents_of_different_editions_are_matched_by_path(zen):
    raw = {
        "form": "zenkoumoku",
        "edition": "2099",
        "title": "t",
        "sections": [
            {
                "key": "basic",
                "number": "I",
                "title": "基本情報",
                "items": [
                    {"key": "other_bodies", "number": "8", "label": "他の評価実施機関", "type": "longtext"},
                ],
            }
        ],
    }
    newer = parse_schema(raw)
    v1, _ = load_demo_documents()
    diff = diff_documents(zen, v1, newer, {"basic": {"other_bodies": "北海道"}})
    by_path = {c.path: c for c in diff.changes}
    assert by_path["basic/other_bodies"].kind == "changed"
    assert by_path["basic/affair/name"].kind == "removed"


# ------------------------------------------------------------------ properties

SMALL_SCHEMA = parse_schema(
    {
        "form": "kiso",
        "edition": "test",
        "title": "t",
        "sections": [
            {
                "key": "a",
                "number": "I",
                "title": "基本",
                "items": [
                    {"key": "name", "label": "名称", "type": "text"},
                    {"key": "body", "label": "内容", "type": "longtext", "significant": True},
                    {"key": "count", "label": "人数", "type": "number"},
                    {"key": "kind", "label": "種類", "type": "choice", "choices": ["甲", "乙"]},
                    {
                        "key": "links",
                        "label": "接続",
                        "type": "multichoice",
                        "choices": ["甲", "その他"],
                        "other": True,
                    },
                    {"key": "items", "label": "項", "type": "numberlist"},
                    {
                        "key": "systems",
                        "number": "2",
                        "label": "システム",
                        "type": "group",
                        "item_label": "システム{n}",
                        "children": [
                            {"key": "name", "label": "名称", "type": "text"},
                            {
                                "key": "rows",
                                "label": "表",
                                "type": "table",
                                "columns": [{"key": "c", "label": "列", "type": "text"}],
                            },
                        ],
                    },
                ],
            },
        ],
    }
)

texts = st.text(max_size=60)
small_docs = st.fixed_dictionaries(
    {
        "a": st.fixed_dictionaries(
            {
                "name": texts,
                "body": texts,
                "count": st.one_of(st.none(), st.integers()),
                "kind": st.sampled_from(["", "甲", "乙"]),
                "links": st.fixed_dictionaries(
                    {"selected": st.lists(st.sampled_from(["甲", "その他"]), unique=True), "other": texts}
                ),
                "items": st.lists(st.integers(min_value=1, max_value=200)),
                "systems": st.lists(
                    st.fixed_dictionaries(
                        {
                            "name": texts,
                            "rows": st.lists(st.fixed_dictionaries({"c": texts}), max_size=3),
                        }
                    ),
                    max_size=3,
                ),
            }
        )
    }
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
arbitrary_docs = st.dictionaries(
    st.sampled_from(["cover", "basic", "files", "risks", "changelog", "x"]),
    st.one_of(
        json_values, st.dictionaries(st.sampled_from(["affair", "systems", "files", "changes", "name"]), json_values)
    ),
)


@settings(max_examples=150, deadline=None)
@given(old=small_docs, new=small_docs)
def test_property_ops_rebuild_both_texts(old, new):
    diff = diff_documents(SMALL_SCHEMA, old, SMALL_SCHEMA, new)
    for change in diff.changes:
        assert change.before != change.after
        assert_ops_rebuild(change)
    assert diff.significant == any(c.path == "a/body" for c in diff.changes)


@settings(max_examples=100, deadline=None)
@given(doc=small_docs)
def test_property_identical_documents_give_no_changes(doc):
    assert diff_documents(SMALL_SCHEMA, doc, SMALL_SCHEMA, copy.deepcopy(doc)).changes == []


@settings(max_examples=100, deadline=None)
@given(old=arbitrary_docs, new=arbitrary_docs)
def test_property_never_crashes_on_arbitrary_documents(old, new):
    zen = load_schema("zenkoumoku")
    diff = diff_documents(zen, old, zen, new)
    for change in diff.changes:
        assert_ops_rebuild(change)


@settings(max_examples=200, deadline=None)
@given(a=st.text(max_size=300), b=st.text(max_size=300), limit=st.sampled_from([0, 50, 250_000]))
def test_property_text_ops_rebuild_with_and_without_line_fallback(a, b, limit):
    before, after = text_ops(a, b, limit=limit)
    assert reconstruct(before, {"equal", "delete"}) == a
    assert reconstruct(after, {"equal", "insert"}) == b
    assert reconstruct(before, {"equal"}) == reconstruct(after, {"equal"})


def test_data_the_form_does_not_print_is_never_significant_nor_logged(zen):
    """The 項 numbers of I 6 ② are entered for the provision checks but not printed: changing
    them alone changes nothing on the form (no ※, no 変更箇所 row)."""
    v1, _ = load_demo_documents()
    v1b = copy.deepcopy(v1)
    v1b["basic"]["network"]["basis"]["provision_items"].append(170)
    v1b["basic"]["network"]["basis"]["inquiry"] = "行う"
    diff = diff_documents(zen, v1, zen, v1b)
    assert {c.path for c in diff.changes} == {"basic/network/basis/provision_items", "basic/network/basis/inquiry"}
    assert not diff.significant and diff.kind == "評価書の修正"
    assert change_log_rows(diff, date(2027, 4, 1)) == []
    v1b["basic"]["network"]["basis"]["provision_text"] += "\n(170の項を追加)"
    diff = diff_documents(zen, v1, zen, v1b)
    assert diff.kind == "重要な変更"  # the printed (情報提供の根拠) changed: ※ (001 line 73)
    assert [r["item"] for r in change_log_rows(diff, date(2027, 4, 1))] == [
        "I 基本情報 6. 情報提供ネットワークシステムによる情報連携 ②法令上の根拠 情報提供の根拠"
    ]
