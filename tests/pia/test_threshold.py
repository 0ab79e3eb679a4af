"""しきい値判断: every row of the DOMAIN.md table at its boundaries."""

import copy

import pytest

from pia.threshold import (
    DEFAULT_RULES,
    TARGET_COUNT_CHOICES,
    RuleError,
    describe,
    is_rise,
    matching_rule,
    required_forms,
    requirement_level,
    target_count_bounds,
    target_count_choice,
)

NONE = ()
KISO = ("kiso",)
KISO_JUTEN = ("kiso", "juten")
KISO_ZEN = ("kiso", "zenkoumoku")


@pytest.mark.parametrize(
    "count, handlers, incident, expected",
    [
        # under 1,000: none, whatever the other inputs
        (0, 0, False, NONE),
        (999, 0, False, NONE),
        (999, 10_000, True, NONE),
        # 1,000 – under 10,000: 基礎
        (1_000, 0, False, KISO),
        (9_999, 0, False, KISO),
        (9_999, 500, True, KISO),
        # 10,000 – under 100,000: 基礎 + 重点 with 500+ handlers or an incident
        (10_000, 500, False, KISO_JUTEN),
        (99_999, 500, False, KISO_JUTEN),
        (10_000, 0, True, KISO_JUTEN),
        (99_999, 499, True, KISO_JUTEN),
        # ... otherwise 基礎
        (10_000, 499, False, KISO),
        (99_999, 499, False, KISO),
        # 100,000 – under 300,000: 基礎 + 全項目 with 500+ handlers or an incident
        (100_000, 500, False, KISO_ZEN),
        (299_999, 500, False, KISO_ZEN),
        (100_000, 0, True, KISO_ZEN),
        (299_999, 499, True, KISO_ZEN),
        # ... otherwise 基礎 + 重点
        (100_000, 499, False, KISO_JUTEN),
        (299_999, 499, False, KISO_JUTEN),
        # 300,000 and over: 基礎 + 全項目
        (300_000, 0, False, KISO_ZEN),
        (1_961_000, 0, False, KISO_ZEN),
    ],
)
def test_required_forms_follow_the_table(count, handlers, incident, expected):
    assert required_forms(count, handlers, incident) == expected


def test_describe_in_japanese():
    assert describe(KISO_ZEN) == "基礎項目評価及び全項目評価"
    assert describe(("zenkoumoku", "kiso")) == "基礎項目評価及び全項目評価"
    assert describe(KISO_JUTEN) == "基礎項目評価及び重点項目評価"
    assert describe(KISO) == "基礎項目評価"
    assert describe(NONE) == "評価の実施は義務付けられていません(任意)"


def test_requirement_level_orders_the_results_so_a_rise_is_detected():
    levels = [requirement_level(f) for f in (NONE, KISO, KISO_JUTEN, KISO_ZEN)]
    assert levels == sorted(levels) and len(set(levels)) == 4
    assert is_rise(KISO, KISO_JUTEN)
    assert not is_rise(KISO_ZEN, KISO_JUTEN)
    assert not is_rise(KISO, KISO)
    # growing past 100,000 people with 500 handlers raises the requirement
    assert is_rise(required_forms(99_999, 600, False), required_forms(100_000, 600, False))


def test_rules_are_data_an_officer_can_change():
    rules = copy.deepcopy(DEFAULT_RULES)
    for rule in rules:
        if "when" in rule:
            rule["when"]["handlers_at_least"] = 300
    assert required_forms(50_000, 300, False, rules) == KISO_JUTEN
    assert required_forms(50_000, 300, False) == KISO
    assert DEFAULT_RULES[2]["when"]["handlers_at_least"] == 500  # the default is untouched


def test_matching_rule_explains_the_result():
    assert "重大事故" in matching_rule(150_000, 0, True)["note"]


def test_rules_that_do_not_cover_the_input_or_bad_input_raise():
    with pytest.raises(RuleError):
        required_forms(500_000, 0, False, DEFAULT_RULES[:3])
    with pytest.raises(RuleError):
        required_forms(-1, 0, False)
    with pytest.raises(RuleError):
        required_forms(5_000, 0, False, [{"target_min": 0, "target_max": None, "forms": ["bogus"]}])


@pytest.mark.parametrize(
    "count, label",
    [
        (0, "1,000人未満"),
        (999, "1,000人未満"),
        (1_000, "1,000人以上1万人未満"),
        (9_999, "1,000人以上1万人未満"),
        (10_000, "1万人以上10万人未満"),
        (99_999, "1万人以上10万人未満"),
        (100_000, "10万人以上30万人未満"),
        (299_999, "10万人以上30万人未満"),
        (300_000, "30万人以上"),
    ],
)
def test_target_count_choices(count, label):
    assert target_count_choice(count) == label
    low, high = target_count_bounds(label)
    assert low <= count and (high is None or count < high)


def test_target_count_choices_use_the_same_bounds_as_the_rules():
    bounds = {(c["min"], c["max"]) for c in TARGET_COUNT_CHOICES}
    assert {(r["target_min"], r["target_max"]) for r in DEFAULT_RULES} == bounds
    # every choice decides the same forms at both of its ends (when no condition applies)
    for choice in TARGET_COUNT_CHOICES:
        top = (choice["max"] or 10_000_000) - 1
        assert required_forms(choice["min"], 0, False) == required_forms(top, 0, False)
