"""The official forms as data, and the pure helpers over documents."""

import copy

import pytest

from pia.assessments.demo_data import load_demo_documents
from pia.schema import (
    FORMS,
    FieldError,
    SchemaError,
    SchemaNotFound,
    cell_text,
    coerce,
    empty_document,
    field_name,
    flatten,
    get_value,
    list_editions,
    load_schema,
    name_line,
    normalise_name,
    parse_schema,
    section_completion,
    to_form_data,
    validate,
)
from pia.threshold import TARGET_COUNT_CHOICES


@pytest.fixture
def zen():
    return load_schema("zenkoumoku")


@pytest.fixture
def demo():
    return load_demo_documents()


def messages(errors, path):
    return [e.message for e in errors if e.path == path]


# ------------------------------------------------------------------ loading


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_form_loads_in_its_latest_edition(form):
    editions = list_editions(form)
    assert editions, form
    schema = load_schema(form)
    assert schema.form == form
    assert schema.edition == editions[-1]
    assert load_schema(form, editions[-1]) is schema  # cached
    assert schema.title.endswith(f"({FORMS[form]})")


def test_unknown_form_or_edition_is_refused():
    with pytest.raises(SchemaNotFound):
        load_schema("nonexistent")
    with pytest.raises(SchemaNotFound):
        load_schema("zenkoumoku", "1999")


@pytest.mark.parametrize(
    "bad_item",
    [
        {"key": "Bad-Key", "label": "x"},
        {"key": "a", "label": "x", "type": "choice"},
        {"key": "a", "label": "x", "type": "text", "choices": ["y"]},
        {"key": "a", "label": "x", "type": "multichoice", "choices": ["y"], "other": True},
        {"key": "a", "label": "x", "type": "group"},
        {"key": "a", "label": "x", "type": "text", "inventory": "system"},
        {"key": "a", "label": "x", "typo": 1},
        {"key": "a", "label": "x", "type": "text", "markdown": True},
        {"key": "a", "label": "x", "type": "text", "cell": True},
        {
            "key": "a",
            "label": "x",
            "type": "fieldset",
            "cell": True,
            "children": [{"key": "n", "label": "項", "type": "numberlist"}],
        },
        {"key": "a", "label": "x", "type": "text", "printed": False, "required": True},
    ],
)
def test_malformed_schemas_are_rejected(bad_item):
    raw = {
        "form": "kiso",
        "edition": "x",
        "title": "t",
        "sections": [{"key": "s", "number": "I", "title": "t", "items": [bad_item]}],
    }
    with pytest.raises(SchemaError):
        parse_schema(raw)


def test_zenkoumoku_has_the_sections_of_the_official_form(zen):
    assert [(s.number, s.title) for s in zen.sections] == [
        ("", "表紙"),
        ("I", "基本情報"),
        ("(別添1)", "事務の内容"),
        ("II", "特定個人情報ファイルの概要"),
        ("(別添2)", "特定個人情報ファイル記録項目"),
        ("III", "特定個人情報ファイルの取扱いプロセスにおけるリスク対策"),
        ("IV", "その他のリスク対策"),
        ("V", "開示請求、問合せ"),
        ("VI", "評価実施手続"),
        ("(別添3)", "変更箇所"),
    ]
    cover = [i.label for i in zen.section("cover").items]
    for label in (
        "評価書番号",
        "評価書名",
        "個人のプライバシー等の権利利益の保護の宣言",
        "特記事項",
        "評価実施機関名",
        "公表日",
    ):
        assert label in cover


def test_section_one_follows_reference_001(zen):
    basic = zen.section("basic")
    assert [(i.number, i.key) for i in basic.items] == [
        ("1", "affair"),
        ("2", "systems"),
        ("3", "pi_files"),
        ("4", "reason"),
        ("5", "number_use"),
        ("6", "network"),
        ("7", "department"),
        ("8", "other_bodies"),
    ]
    target = zen.item("basic/affair/target_count")
    assert list(target.choices) == [c["label"] for c in TARGET_COUNT_CHOICES]
    connections = zen.item("basic/systems[3]/connections")
    assert connections.type == "multichoice" and connections.other
    assert connections.choices == (
        "情報提供ネットワークシステム",
        "庁内連携システム",
        "住民基本台帳ネットワークシステム",
        "既存住民基本台帳システム",
        "宛名システム等",
        "税務システム",
        "その他",
    )
    assert zen.item("basic/network/implemented").choices == ("実施する", "実施しない", "未定")
    assert zen.item("basic/network/basis/provision_items").type == "numberlist"
    assert zen.item("basic/department/head_title").label == "所属長の役職名"
    assert zen.item("basic/systems").inventory == "system"
    assert [p for p, _ in zen.inventory_items("pi_file")] == ["basic/pi_files", "files/files"]


@pytest.mark.parametrize(
    "path, significant",
    [
        ("basic/affair/name", False),
        ("basic/affair/description", True),  # 001 line 9: 「②事務の内容 ※」
        ("basic/affair/target_count", False),  # 001 line 12: 「③対象人数」 without ※
        ("basic/systems/name", False),
        ("basic/systems/functions", False),  # 001: 「②システムの機能」 of the nine systems, no ※
        ("basic/network/implemented", True),  # 001 line 73: 「6. 情報提供ネットワークシステムによる情報連携 ※」
        ("basic/number_use/legal_basis", True),
        ("basic/network/basis/provision_items", True),
        ("basic/department/name", False),
        ("files/files/basic/person_count", True),
        ("files/files/basic/person_scope", True),
        ("files/files/basic/main_items", True),
        ("files/files/acquisition/sources", True),
        ("files/files/acquisition/purpose", True),
        ("files/files/entrustment/entrusted", True),
        ("files/files/provision/recipients/name", True),
        ("files/files/provision/transferees/name", True),
        ("files/files/storage/location", True),
        ("files/files/storage/erasure", False),
        ("risks/files/use/risk2/sufficiency", True),
        ("risks/files/storage/risk1/incident", False),
        ("other_measures/audit/self_check", True),
        ("disclosure/inquiry/contact", False),
        ("procedure/consultation/method", False),
        ("changelog/changes/date", False),
    ],
)
def test_significant_items_follow_the_guideline(zen, path, significant):
    assert zen.item(path).significant is significant


def test_risk_processes_have_their_official_risks(zen):
    risks = zen.item("risks/files")
    processes = {c.key: c for c in risks.children}
    assert [
        processes[k].number for k in ("acquisition", "use", "entrustment", "transfer", "network", "storage")
    ] == list("234567")
    assert (
        processes["transfer"].label
        == "特定個人情報の提供・移転(委託や情報提供ネットワークシステムを通じた提供を除く。)"
    )
    acq = {c.key: c.label for c in processes["acquisition"].children}
    assert acq["risk1"] == "目的外の入手が行われるリスク"
    assert acq["risk2"] == "不適切な方法で入手が行われるリスク"
    risk2 = zen.item("risks/files/use/risk2")
    assert risk2.label == "権限のない者(元職員、アクセス権限のない職員等)によって不正に使用されるリスク"
    sub = [c.label for c in risk2.children]
    for label in (
        "ユーザ認証の管理",
        "アクセス権限の発効・失効の管理",
        "アクセス権限の管理",
        "特定個人情報の使用の記録",
    ):
        assert label in sub
    for schema_risk in zen.section("risks").iter_items():
        if schema_risk.type == "fieldset" and schema_risk.number.startswith("リスク"):
            (sufficiency,) = [c for c in schema_risk.children if c.key == "sufficiency"]
            assert sufficiency.label == "リスクへの対策は十分か"
            assert sufficiency.choices == ("特に力を入れている", "十分である", "課題が残されている")


def test_juten_has_no_commission_approval_and_has_the_serious_incident_items():
    """The 重点項目評価書: no 個人情報保護委員会の承認 (cover 承認日, V 4: 全項目 only); III 7 has the
    重大事故 items of the 全項目評価書 (III 7 リスク1⑨), outside the ※ of III."""
    juten, zen = load_schema("juten"), load_schema("zenkoumoku")
    for schema in (juten,):
        labels = [i.label for s in schema.sections for i in s.iter_items()]
        assert not any("承認" in label for label in labels)
        assert [i.key for i in schema.section("cover").items] == [
            "assessment_number",
            "name",
            "declaration",
            "remarks",
            "body_name",
            "published_on",
        ]
        assert [i.key for i in schema.section("procedure").items] == ["basic_assessment", "consultation", "third_party"]
    assert zen.item("cover/ppc_approval_date") and zen.item("procedure/ppc_approval")
    storage = juten.item("risks/files/storage")
    incident = {c.key: c for c in storage.children}
    for key in ("incident", "incident_detail", "prevention"):
        assert incident[key].label == zen.item(f"risks/files/storage/risk1/{key}").label
        assert not incident[key].significant
    assert incident["incident"].choices == ("発生あり", "発生なし")
    assert storage.significant and incident["sufficiency"].significant


def test_stored_juten_documents_with_the_removed_keys_still_validate():
    juten = load_schema("juten")
    doc = empty_document(juten)
    before = validate(juten, doc)
    doc["cover"]["ppc_approval_date"] = "2024-03-01"
    doc["procedure"]["ppc_approval"] = {"submitted_on": "2024-02-01", "review": "審査済み"}
    assert validate(juten, doc) == before
    assert not any(f.path.endswith(("ppc_approval_date", "submitted_on", "review")) for f in flatten(juten, doc))


def test_legal_basis_is_one_printed_cell_with_data_kept_for_the_checks(zen):
    basis = zen.item("basic/network/basis")
    assert basis.cell and basis.significant
    printed = {c.key: c.printed for c in basis.children}
    assert printed == {
        "provision_text": True,
        "provision_items": False,
        "inquiry": False,
        "inquiry_text": True,
        "inquiry_items": False,
    }
    assert (
        cell_text(
            basis,
            {"provision_text": "番号法第19条第8号", "provision_items": [1], "inquiry": "行わない", "inquiry_text": ""},
        )
        == "(情報提供の根拠)\n番号法第19条第8号"
    )
    assert cell_text(basis, {"inquiry_text": "(情報照会の根拠)\nなし"}) == "(情報照会の根拠)\nなし"
    assert cell_text(basis, {"provision_text": "…の表（情報提供の根拠）:…"}) == "…の表（情報提供の根拠）:…"
    assert cell_text(basis, None) == ""


def test_kiso_threshold_items_and_changelog_columns():
    kiso = load_schema("kiso")
    assert [s.key for s in kiso.sections][:4] == ["cover", "related", "threshold_items", "threshold_result"]
    assert list(kiso.item("threshold_items/target/count").choices) == [c["label"] for c in TARGET_COUNT_CHOICES]
    for form in FORMS:
        table = load_schema(form).item("changelog/changes")
        assert [c.label for c in table.columns] == [
            "変更日",
            "項目",
            "変更前の記載",
            "変更後の記載",
            "提出時期",
            "提出時期に係る説明",
        ]


def test_item_lookup_accepts_indices_and_refuses_unknown_paths(zen):
    assert zen.item("basic/systems[8]/name") is zen.item("basic/systems/name")
    with pytest.raises(KeyError):
        zen.item("basic/nothing")
    with pytest.raises(KeyError):
        zen.item("basic")


# ------------------------------------------------------------------ validate


def test_demo_documents_validate_without_errors(zen, demo):
    v1, v2 = demo
    assert validate(zen, v1) == []
    assert validate(zen, v2) == []


def test_demo_section_one_is_as_written_in_001(demo):
    v1, _ = demo
    basic = v1["basic"]
    assert basic["affair"]["name"] == "住民基本台帳に関する事務"
    assert basic["affair"]["target_count"] == "30万人以上"
    assert len(basic["systems"]) == 9
    assert basic["systems"][3]["connections"]["selected"] == ["情報提供ネットワークシステム", "その他"]
    assert [f["name"] for f in basic["pi_files"]] == [
        "住民基本台帳ファイル",
        "本人確認情報ファイル",
        "送付先情報ファイル",
    ]
    items = basic["network"]["basis"]["provision_items"]
    assert items[:6] == [1, 2, 3, 5, 7, 11] and items[-1] == 166 and len(items) == 60
    assert all(type(n) is int for n in items) and items == sorted(set(items))
    assert basic["network"]["basis"]["inquiry"] == "行わない"
    assert basic["department"] == {
        "name": "札幌市 デジタル戦略推進局 スマートシティ推進部 住民情報課",
        "head_title": "住民情報課長",
    }
    assert v1["cover"]["body_name"] == "札幌市長"


def test_empty_document_reports_required_items(zen):
    errors = validate(zen, empty_document(zen))
    assert "必須項目です" in messages(errors, "basic/affair/name")
    assert "必須項目です" in messages(errors, "basic/systems")
    assert all(isinstance(e, FieldError) for e in errors)


def test_validate_can_be_limited_to_sections(zen):
    errors = validate(zen, empty_document(zen), sections=["cover"])
    assert errors and all(e.path.startswith("cover/") for e in errors)


def test_validate_reports_bad_values_in_japanese(zen, demo):
    doc = copy.deepcopy(demo[0])
    doc["basic"]["affair"]["target_count"] = "50万人"
    doc["files"]["files"][0]["entrustment"]["count"] = "三"
    doc["procedure"]["third_party"]["date"] = "2026-02-30"
    doc["basic"]["systems"][0]["connections"] = {"selected": ["その他"], "other": ""}
    doc["basic"]["systems"][1]["connections"] = {"selected": ["FAX"], "other": ""}
    doc["basic"]["network"]["basis"]["provision_items"] = [1, "x", 0, 1]
    errors = validate(zen, doc)
    assert messages(errors, "basic/affair/target_count") == ["選択肢にない値です"]
    assert messages(errors, "files/files[0]/entrustment/count") == ["数値で入力してください"]
    assert messages(errors, "procedure/third_party/date") == ["2026年2月30日という日はありません。"]
    assert messages(errors, "basic/systems[0]/connections/other") == [
        "「その他」を選んだ場合は、内容を入力してください"
    ]
    assert messages(errors, "basic/systems[1]/connections") == ["選択肢にない値です"]
    assert messages(errors, "basic/network/basis/provision_items[1]") == ["数値で入力してください"]
    assert messages(errors, "basic/network/basis/provision_items[2]") == ["1以上の数値で入力してください"]
    assert messages(errors, "basic/network/basis/provision_items") == ["同じ番号が重複しています"]


def test_validate_survives_documents_of_the_wrong_shape(zen):
    assert validate(zen, {"basic": "x", "files": {"files": "y"}, "risks": {"files": [3]}})


# ------------------------------------------------------------------ HTML forms


def test_coerce_builds_nested_groups_from_flat_fields(zen):
    form = {
        "affair-name": "  住民基本台帳に関する事務 ",
        "affair-description": "一行目\r\n二行目",
        "affair-target_count": "30万人以上",
        "systems-0-name": "既存住基システム",
        "systems-0-connections": ["その他", "庁内連携システム"],
        "systems-0-connections-other": "住基ネット中間サーバ",
        "systems-7-name": "住基ネット",
        "systems-3-name": "",  # an empty row added by the page and left blank
        "network-basis-provision_items": "１、2,3  166",
        "other_bodies": "-",
    }
    section = coerce(zen, "basic", form)
    assert section["affair"]["name"] == "住民基本台帳に関する事務"
    assert section["affair"]["description"] == "一行目\n二行目"
    assert [s["name"] for s in section["systems"]] == ["既存住基システム", "住基ネット"]
    assert section["systems"][0]["connections"] == {
        "selected": ["庁内連携システム", "その他"],
        "other": "住基ネット中間サーバ",
    }
    assert section["network"]["basis"]["provision_items"] == [1, 2, 3, 166]
    assert section["department"] == {"name": "", "head_title": ""}
    assert section["pi_files"] == []


def test_coerce_normalises_numbers_and_dates_and_keeps_bad_input_for_validation(zen):
    section = coerce(
        zen,
        "procedure",
        {
            "basic_assessment-date": "2025/10/2",
            "third_party-date": "令和8年2月30日",
            "consultation-period-start": "２０２５年１１月１２日",
            "consultation-period-end": "R7.12.11",
        },
    )
    assert section["basic_assessment"]["date"] == "2025-10-02"
    assert section["consultation"]["period"]["start"] == "2025-11-12"
    assert section["consultation"]["period"]["end"] == "2025-12-11"
    assert section["third_party"]["date"] == "令和8年2月30日"  # kept as typed
    doc = {"procedure": section}
    assert messages(validate(zen, doc, sections=["procedure"]), "procedure/third_party/date") == [
        "2026年2月30日という日はありません。"
    ]
    files = coerce(
        zen,
        "files",
        {"files-0-name": "x", "files-0-entrustment-count": "１,２００", "files-1-entrustment-count": "abc"},
    )
    assert files["files"][0]["entrustment"]["count"] == 1200
    assert files["files"][1]["entrustment"]["count"] == "abc"


def test_to_form_data_and_coerce_round_trip_the_demo(zen, demo):
    for doc in demo:
        for section in zen.sections:
            fields = to_form_data(zen, section.key, doc[section.key])
            back = {section.key: coerce(zen, section.key, fields)}
            prefix = section.key + "/"
            original = [f for f in flatten(zen, doc) if f.path.startswith(prefix)]
            assert [f for f in flatten(zen, back) if f.path.startswith(prefix)] == original


def test_field_name_matches_coerce_naming():
    assert field_name("basic/systems[0]/name") == "systems-0-name"
    assert field_name("basic/network/basis/provision_items") == "network-basis-provision_items"


# ------------------------------------------------------------------ completion and flatten


def test_section_completion_counts_required_items(zen, demo):
    empty = section_completion(zen, empty_document(zen))
    assert empty["basic"][0] == 0 and empty["basic"][1] > 0
    full = section_completion(zen, demo[0])
    assert all(filled == total for filled, total in full.values())
    doc = copy.deepcopy(demo[0])
    doc["basic"]["department"]["name"] = ""
    filled, total = section_completion(zen, doc)["basic"]
    assert filled == total - 1


def test_flatten_gives_stable_paths_and_human_labels(zen, demo):
    flat = {f.path: f for f in flatten(zen, demo[0])}
    name = flat["basic/systems[0]/name"]
    assert name.label == "I 基本情報 2. システム1 ①システムの名称"
    assert name.text == "住民記録・印鑑オンラインシステム(以下「既存住基システム」という。)"
    assert not name.significant
    assert flat["basic/systems[0]/connections"].text == "その他(住基ネット中間サーバ、システム基盤(個人基本))"
    assert flat["basic/network/basis/provision_items"].text.startswith("1、2、3、5、7、11、")
    storage = flat["files/files[0]/storage/location"]
    assert storage.significant
    assert storage.label == "II 特定個人情報ファイルの概要 特定個人情報ファイル1 6. 特定個人情報の保管・消去 ①保管場所"
    assert flat["record_items/files[1]/items[2]/name"].text == "氏名"
    assert get_value(demo[0], "record_items/files[1]/items[2]/name") == "氏名"


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_form_empty_document_only_lacks_required_items(form):
    schema = load_schema(form)
    doc = empty_document(schema)
    errors = validate(schema, doc)
    assert errors and {e.message for e in errors} == {"必須項目です"}
    for section in schema.sections:
        fields = to_form_data(schema, section.key, doc[section.key])
        assert coerce(schema, section.key, fields) == doc[section.key]


@pytest.mark.parametrize("form", ["zenkoumoku", "juten"])
def test_the_system_name_takes_a_note_on_further_lines_as_001_does(form):
    item = load_schema(form).item("basic/systems/name")
    assert item.type == "longtext" and not item.markdown and "2行目以降" in item.help


def test_names_compare_by_their_first_line():
    named = "住基ネット\n※本市の住基ネットの構成としては、札幌市コミュニケーションサーバを設置し、…"
    assert name_line(named) == "住基ネット"
    assert name_line("\n  既存住基システム  \n注記") == "既存住基システム"
    assert name_line("") == "" and name_line("   \n ") == ""
    assert normalise_name(named) == normalise_name("住基ネット")
    assert (
        normalise_name("住民記録・印鑑オンラインシステム(以下「既存住基システム」という。)")
        == "住民記録・印鑑オンラインシステム"
    )
