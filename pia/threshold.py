"""しきい値判断: which assessments a 事務 must undergo. Pure; the rules are data.

``DEFAULT_RULES`` is the table of the guideline as data an officer can edit (and a
caller can replace by passing ``rules=``). Rules are tried in order; the first whose
target-count range contains the count and whose condition holds decides the forms.

A rule:

``target_min`` / ``target_max``
    the range of 対象人数, ``target_min <= count < target_max`` (``None`` = no upper bound)
``when``
    optional condition; it holds when *any* of its entries holds:
    ``handlers_at_least: n`` (取扱者数 ≥ n) or ``serious_incident: true``
    (a 特定個人情報に関する重大事故 in the past year). Without ``when`` the rule always holds.
``forms``
    the form keys required (see :data:`pia.schema.FORMS`); empty = none required
``note``
    Japanese description shown to officers
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "target_min": 0,
        "target_max": 1_000,
        "forms": [],
        "note": "対象人数1,000人未満: 評価の実施は義務付けられない(任意に実施可)",
    },
    {
        "target_min": 1_000,
        "target_max": 10_000,
        "forms": ["kiso"],
        "note": "対象人数1,000人以上1万人未満: 基礎項目評価",
    },
    {
        "target_min": 10_000,
        "target_max": 100_000,
        "when": {"handlers_at_least": 500, "serious_incident": True},
        "forms": ["kiso", "juten"],
        "note": "対象人数1万人以上10万人未満で、取扱者数500人以上又は重大事故の発生あり: 基礎項目評価及び重点項目評価",
    },
    {
        "target_min": 10_000,
        "target_max": 100_000,
        "forms": ["kiso"],
        "note": "対象人数1万人以上10万人未満(上記以外): 基礎項目評価",
    },
    {
        "target_min": 100_000,
        "target_max": 300_000,
        "when": {"handlers_at_least": 500, "serious_incident": True},
        "forms": ["kiso", "zenkoumoku"],
        "note": "対象人数10万人以上30万人未満で、取扱者数500人以上又は重大事故の発生あり: 基礎項目評価及び全項目評価",
    },
    {
        "target_min": 100_000,
        "target_max": 300_000,
        "forms": ["kiso", "juten"],
        "note": "対象人数10万人以上30万人未満(上記以外): 基礎項目評価及び重点項目評価",
    },
    {
        "target_min": 300_000,
        "target_max": None,
        "forms": ["kiso", "zenkoumoku"],
        "note": "対象人数30万人以上: 基礎項目評価及び全項目評価",
    },
]

#: The five 対象人数 choices of the forms, with their bounds (min <= n < max).
TARGET_COUNT_CHOICES: list[dict[str, Any]] = [
    {"label": "1,000人未満", "min": 0, "max": 1_000},
    {"label": "1,000人以上1万人未満", "min": 1_000, "max": 10_000},
    {"label": "1万人以上10万人未満", "min": 10_000, "max": 100_000},
    {"label": "10万人以上30万人未満", "min": 100_000, "max": 300_000},
    {"label": "30万人以上", "min": 300_000, "max": None},
]

#: How demanding each form is; a 事務's level is that of its most demanding form.
FORM_LEVELS = {"kiso": 1, "juten": 2, "zenkoumoku": 3}

ASSESSMENT_NAMES = {"kiso": "基礎項目評価", "juten": "重点項目評価", "zenkoumoku": "全項目評価"}

NOT_REQUIRED = "評価の実施は義務付けられていません(任意)"


class RuleError(ValueError):
    """The rules do not cover the given inputs or are malformed."""


def _in_range(rule: Mapping[str, Any], count: int) -> bool:
    upper = rule.get("target_max")
    return rule.get("target_min", 0) <= count and (upper is None or count < upper)


def _condition_holds(when: Mapping[str, Any] | None, handlers: int, serious_incident: bool) -> bool:
    if not when:
        return True
    at_least = when.get("handlers_at_least")
    if at_least is not None and handlers >= at_least:
        return True
    return bool(when.get("serious_incident")) and serious_incident


def matching_rule(
    target_count: int,
    handlers: int,
    serious_incident: bool,
    rules: Sequence[Mapping[str, Any]] = DEFAULT_RULES,
) -> Mapping[str, Any]:
    """The first rule that applies (so the caller can show its ``note``)."""
    if target_count < 0 or handlers < 0:
        raise RuleError("対象人数と取扱者数は0以上で指定してください")
    for rule in rules:
        if _in_range(rule, target_count) and _condition_holds(rule.get("when"), handlers, serious_incident):
            return rule
    raise RuleError(f"対象人数{target_count}人に当てはまる判断基準がありません")


def required_forms(
    target_count: int,
    handlers: int,
    serious_incident: bool,
    rules: Sequence[Mapping[str, Any]] = DEFAULT_RULES,
) -> tuple[str, ...]:
    """The forms required, least demanding first; ``()`` when none is required."""
    rule = matching_rule(target_count, handlers, serious_incident, rules)
    return _ordered(rule.get("forms") or ())


def _ordered(forms: Iterable[str]) -> tuple[str, ...]:
    unknown = [f for f in forms if f not in FORM_LEVELS]
    if unknown:
        raise RuleError(f"unknown forms: {unknown}")
    return tuple(sorted(set(forms), key=FORM_LEVELS.__getitem__))


def requirement_level(forms: Iterable[str]) -> int:
    """0 (none) .. 3 (全項目評価); a higher number means a more demanding requirement."""
    return max((FORM_LEVELS[f] for f in forms), default=0)


def is_rise(before: Iterable[str], after: Iterable[str]) -> bool:
    """True when the しきい値判断結果 rose (the assessment must be done again)."""
    return requirement_level(after) > requirement_level(before)


def describe(forms: Iterable[str]) -> str:
    """「基礎項目評価及び全項目評価」, or 「評価の実施は義務付けられていません(任意)」."""
    ordered = _ordered(forms)
    if not ordered:
        return NOT_REQUIRED
    return "及び".join(ASSESSMENT_NAMES[f] for f in ordered)


def target_count_choice(count: int) -> str:
    """The 対象人数 choice label for a head count (e.g. 1,961,000 → 「30万人以上」)."""
    if count < 0:
        raise RuleError("対象人数は0以上で指定してください")
    for choice in TARGET_COUNT_CHOICES:
        if choice["min"] <= count and (choice["max"] is None or count < choice["max"]):
            return choice["label"]
    raise RuleError(f"対象人数{count}人に当てはまる区分がありません")


def target_count_bounds(label: str) -> tuple[int, int | None]:
    """(min, max) of a 対象人数 choice label; KeyError for an unknown label."""
    for choice in TARGET_COUNT_CHOICES:
        if choice["label"] == label:
            return choice["min"], choice["max"]
    raise KeyError(label)
