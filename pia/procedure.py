"""Hooks that tie the assessment workflow to the parts that feed it.

The consultation package and the third-party review register here what the workflow must
ask before a version moves on, what they contribute to section VI (評価実施手続), and what
must happen when a version is published (the inventory snapshot); the inventory registers
its part of section editing (the 台帳 record pickers); every part registers the panel it
adds to the assessment and version pages. :mod:`pia.assessments` calls
:func:`step_problem`, :func:`section_vi_facts`, :func:`on_publish`, :func:`panels` and
:func:`ledger`; it never imports those packages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Ledger(Protocol):
    """What section editing asks of the システム台帳 (registered by :mod:`pia.inventory`)."""

    def link_entries(self, version: Any, section_key: str, data: dict, *, actor: Any) -> dict:
        """The section's data with each system or file entry linked to the record chosen."""
        ...

    def pickers(self, section: Any) -> dict[str, list[tuple[int, str, str]]]:
        """Group key -> the records an editor may pick for it: (id, label shown, name written)."""
        ...

    def preselect(self, section: Any, section_doc: dict, values: dict[str, list[str]]) -> None:
        """Pre-select, in the form values, the record each unlinked entry's name matches."""
        ...


#: step -> callables(version) -> str | None (None when the step is satisfied, else a Japanese reason)
_CHECKS: dict[str, list[Callable]] = {}
#: part ("consultation" | "review") -> callable(version) -> dict | None
_SECTION_VI: dict[str, Callable] = {}
_ON_PUBLISH: list[Callable] = []
#: step -> callables(version, actor) run when the version enters the step
_ON_ENTER: dict[str, list[Callable]] = {}
#: callables(version, on=, action=) that raise while the version may not be submitted or published
_GATES: list[Callable] = []
#: templates other parts add to the assessment and version pages, in the order registered
_PANELS: list[str] = []
#: callables(version) -> str: the name of the body that reviewed the version (第三者点検)
_REVIEWERS: list[Callable] = []
#: the part that links entries of the document to records of the システム台帳 (see :class:`Ledger`)
_LEDGER: list[Ledger] = []

#: steps of the full procedure (全項目評価の場合): 意見聴取, 第三者点検
STEPS = {"consultation": "住民等からの意見聴取", "review": "第三者点検"}
#: 意見聴取 原則30日以上
CONSULTATION_MIN_DAYS = 30


def consultation_min_days() -> int:
    """The shortest 意見聴取 period without a 特段の理由 (app config ``HYOKA_CONSULTATION_MIN_DAYS``)."""
    from flask import current_app, has_app_context

    if has_app_context():
        return int(current_app.config.get("HYOKA_CONSULTATION_MIN_DAYS", CONSULTATION_MIN_DAYS))
    return CONSULTATION_MIN_DAYS


def register_check(step: str, func: Callable) -> None:
    """``func(version)`` returns None when ``step`` is done for ``version``, else why not."""
    if step not in STEPS:
        raise ValueError(step)
    if func not in _CHECKS.setdefault(step, []):
        _CHECKS[step].append(func)


def step_problem(step: str, version) -> str | None:
    """Why ``step`` is not yet done for ``version`` (None when done)."""
    funcs = _CHECKS.get(step, [])
    if not funcs:
        return f"{STEPS[step]}の記録がありません。"
    for func in funcs:
        problem = func(version)
        if problem:
            return problem
    return None


def register_section_vi(part: str, func: Callable) -> None:
    """``func(version)`` returns the facts of ``part`` for section VI (or None)."""
    _SECTION_VI[part] = func


def section_vi_facts(version) -> dict[str, dict]:
    """{"consultation": {...}, "review": {...}} for the parts that have something to say."""
    facts = {}
    for part, func in _SECTION_VI.items():
        value = func(version)
        if value:
            facts[part] = value
    return facts


def register_on_publish(func: Callable) -> None:
    """``func(version, actor)`` runs inside the publishing transaction."""
    if func not in _ON_PUBLISH:
        _ON_PUBLISH.append(func)


def on_publish(version, actor) -> None:
    for func in _ON_PUBLISH:
        func(version, actor)


def register_gate(func: Callable) -> None:
    """``func(version, on=date, action="提出" | "公表")`` raises while the version may not move on
    (the pre-submission checklist, :func:`pia.assessments.checklist.require_passing`)."""
    if func not in _GATES:
        _GATES.append(func)


def require_gates(version, *, on, action: str) -> None:
    for func in _GATES:
        func(version, on=on, action=action)


def register_on_enter(step: str, func: Callable) -> None:
    """``func(version, actor)`` runs when ``version`` is put to ``step`` (e.g. records the text reviewed)."""
    if step not in STEPS:
        raise ValueError(step)
    if func not in _ON_ENTER.setdefault(step, []):
        _ON_ENTER[step].append(func)


def entered(step: str, version, actor) -> None:
    for func in _ON_ENTER.get(step, []):
        func(version, actor)


def register_panel(template: str) -> None:
    """Add ``template`` to the assessment and version pages (context: ``assessment``, ``version``).

    The pages include every registered template; a missing one is an error, never skipped."""
    if template not in _PANELS:
        _PANELS.append(template)


def panels() -> list[str]:
    return list(_PANELS)


def register_reviewer(func: Callable) -> None:
    """``func(version)`` names the body that held the version's 第三者点検 ("" when none)."""
    if func not in _REVIEWERS:
        _REVIEWERS.append(func)


def reviewer(version) -> str:
    for func in _REVIEWERS:
        name = func(version)
        if name:
            return name
    return ""


def register_ledger(ledger: Ledger) -> None:
    _LEDGER[:] = [ledger]


def ledger() -> Ledger | None:
    """The システム台帳's part of section editing, when the inventory is installed."""
    return _LEDGER[0] if _LEDGER else None
