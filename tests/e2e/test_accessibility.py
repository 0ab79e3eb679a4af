"""Accessibility: axe-core finds no serious or critical violation on the main pages.

Every role signs in and opens the pages of its daily work, and a resident opens the public
portal; on each page axe-core (npm, pinned in package-lock.json; ``make test`` runs
``npm ci``) checks the rules of WCAG 2.0 and 2.1, levels A and AA, in Chromium. A page fails
with every serious or critical violation listed: the rule, its help text, the elements
(CSS selectors) and what axe says is wrong with them. Minor and moderate findings are not
counted here.

The pages are those of the demo, plus a fresh 評価書 (a published 第1版 and a 第2版 draft
of the demo documents) with a consultation running today, so that the public page shows its
opinion form and no other test's changes decide what is checked.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: the impacts that fail a page; HYOKA_AXE_IMPACTS=minor,moderate,serious,critical lists them all
COUNTED = set(os.environ.get("HYOKA_AXE_IMPACTS", "serious,critical").split(","))

#: the main pages of each role; {names} are filled from :class:`Subjects`
PAGES: dict[str, dict[str, str]] = {
    "officer": {
        "dashboard": "/",
        "assessments": "/assessments",
        "assessment": "/assessments/{assessment}",
        "version": "/versions/{draft}",
        "section-basic": "/versions/{draft}/sections/basic",
        "section-files": "/versions/{draft}/sections/files",
        "section-risks": "/versions/{draft}/sections/risks",
        "checklist": "/versions/{draft}/checklist",
        "compare": "/assessments/{assessment}/compare",
        "version-inventory": "/versions/{draft}/inventory",
        "new-assessment": "/assessments/new",
        "deadlines": "/deadlines",
        "actions": "/actions",
        "search": "/search?q=住民",
        "inventory": "/inventory",
        "system": "/inventory/systems/{system}",
        "system-edit": "/inventory/systems/{system}/edit",
        "pi-file": "/inventory/files/{pi_file}",
        "consultations": "/consultations/",
        "consultation": "/consultations/{consultation}",
        "consultation-open": "/consultations/{open_consultation}",
        "consultation-form": "/consultations/{open_consultation}/edit",
        "opinions": "/consultations/{consultation}/opinions",
        "opinion-edit": "/consultations/opinions/{opinion}/edit",
        "paper-submission": "/consultations/{open_consultation}/submissions/new",
        "consultation-report": "/consultations/{consultation}/report",
        "reviews": "/reviews",
        "review-version": "/reviews/versions/{reviewed}",
        "review-session-form": "/reviews/versions/{draft}/sessions/new",
        "evidence": "/evidence/",
        "findings": "/evidence/findings",
        "cases": "/evidence/cases",
        "case": "/evidence/cases/{case}",
        "disclosure": "/evidence/disclosure",
        "audit-log": "/admin/audit",
        "audit-event": "/admin/audit/{audit_event}",
        "password": "/account/password",
        "notifications": "/account/notifications",
    },
    "editor": {
        "dashboard": "/",
        "assessments": "/assessments",
        "version": "/versions/{draft}",
        "section-basic": "/versions/{draft}/sections/basic",
        "section-files": "/versions/{draft}/sections/files",
        "checklist": "/versions/{draft}/checklist",
        "compare": "/assessments/{assessment}/compare",
        "actions": "/actions",
        "inventory": "/inventory",
        "system": "/inventory/systems/{system}",
        "password": "/account/password",
    },
    "reviewer": {
        "dashboard": "/",
        "reviews": "/reviews",
        "review-version": "/reviews/versions/{under_review}",
        "version": "/versions/{under_review}",
        "notifications": "/account/notifications",
    },
    "auditor": {
        "dashboard": "/",
        "evidence": "/evidence/",
        "findings": "/evidence/findings",
        "finding": "/evidence/findings/{finding}",
        "cases": "/evidence/cases",
        "case": "/evidence/cases/{case}",
        "batches": "/evidence/batches",
        "checks": "/evidence/checks",
        "reports": "/evidence/reports",
        "report": "/evidence/reports/{evidence_assessment}?from={evidence_from}&to={evidence_to}",
        "assessments": "/assessments",
        "inventory": "/inventory",
        "password": "/account/password",
    },
    "admin": {
        "dashboard": "/",
        "users": "/admin/users",
        "user-new": "/admin/users/new",
        "user": "/admin/users/{user}",
        "departments": "/admin/departments",
        "tokens": "/admin/tokens",
        "audit-log": "/admin/audit",
        "audit-event": "/admin/audit/{audit_event}",
        "check-settings": "/evidence/checks/{check}",
        "inventory-import": "/inventory/import",
    },
    "public": {
        "login": "/login",
        "index": "/public/",
        "assessment": "/public/assessments/{assessment}",
        "changes": "/public/assessments/{assessment}/versions/1/changes",
        "consultation-form": "/public/consultations/{open_consultation}",
        "consultation-draft": "/public/consultations/{open_consultation}/draft",
        "consultation-report": "/public/consultations/{consultation}/report",
        "search": "/public/search?q=住民",
        "checkpoints": "/public/checkpoints",
    },
}


@dataclass(frozen=True)
class Subjects:
    """Ids the pages are filled with."""

    assessment: int  # the fresh one: a published 第1版 and a 第2版 draft
    draft: int
    open_consultation: int  # on the draft, running today
    consultation: int  # the demo's consultation with opinions and a result report
    opinion: int
    reviewed: int  # a version with a 第三者点検 session
    under_review: int  # a second fresh 評価書's draft, 第三者点検中 (what reviewers may read)
    system: int
    pi_file: int
    finding: int
    evidence_assessment: int
    evidence_from: str  # the days the demo's evidence covers
    evidence_to: str
    audit_event: int
    user: int
    check: str
    case: int  # the demo's open 調査案件


_SUBJECTS: dict[str, Subjects] = {}
_COOKIES: dict[tuple[str, str], list] = {}


def _fresh_assessment(services, department, v1, v2):
    """A new 事務 with a published 第1版 (the demo document) and a 第2版 draft whose change
    of 保管場所 is a 重要な変更 (意見聴取 and 第三者点検 apply)."""
    tag = uuid.uuid4().hex[:8]
    name = f"画面点検{tag}の住民基本台帳に関する事務"
    affair = services.create_affair(code=f"a11y{tag}", name=name, department=department, actor=None)
    services.record_threshold(
        affair,
        actor=None,
        determined_on=date(2024, 12, 1),
        target_count=1_900_000,
        handlers=3000,
        serious_incident=False,
    )
    assessment = services.create_assessment(
        affair, form="zenkoumoku", actor=None, with_draft=False, title=f"{name} 全項目評価書"
    )
    services.add_published_version(
        assessment, v1, actor=None, submitted_on=date(2025, 1, 24), published_on=date(2025, 1, 31)
    )
    location = "files/files[0]/storage/location"
    draft = services.start_draft(
        assessment, actor=None, changes={location: v2["files"]["files"][0]["storage"]["location"]}
    )
    return assessment, draft


def _prepare(live_app) -> Subjects:
    import sqlalchemy as sa

    from common import audit
    from common.db import db
    from common.models import AuditEvent, Department, User
    from consultation import services as consultation_services
    from consultation.models import Consultation, Opinion
    from evidence.cases import Case
    from evidence.models import AccessDay, Finding
    from pia.assessments import services
    from pia.assessments.demo_data import load_demo_documents
    from pia.assessments.models import Assessment
    from pia.inventory.models import PiFile, System
    from pia.review.models import ReviewSession

    def first(statement):
        return db.session.execute(statement.limit(1)).scalars().first()

    today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
    v1, v2 = load_demo_documents()
    with live_app.app_context(), audit.acting_as("画面試験の準備"):
        department = db.session.execute(sa.select(Department).filter_by(name="住民情報課")).scalar_one()
        assessment, draft = _fresh_assessment(services, department, v1, v2)
        consultation = consultation_services.create_consultation(
            draft,
            actor=None,
            title=f"{assessment.title}（案）",
            description="評価書を見直しました。ご意見をお寄せください。",
            start_date=today - timedelta(days=1),
            end_date=today + timedelta(days=29),
            channels=["post", "hand", "web"],
            eligibility="どなたでもご意見を提出できます。",
        )
        consultation.transition("open", actor=None, today=today)
        # reviewers read only versions 第三者点検中: the procedure's earlier steps are not
        # what these pages are about, so the second draft is moved there directly
        _, in_review = _fresh_assessment(services, department, v1, v2)
        in_review.start_review(["review"], {})
        reported = first(
            sa.select(Consultation)
            .where(Consultation.status == "reported", Consultation.opinions.any())
            .order_by(Consultation.id)
        )
        session = first(sa.select(ReviewSession).order_by(ReviewSession.id))
        finding = first(sa.select(Finding).order_by(Finding.id))
        evidence_from, evidence_to = db.session.execute(
            sa.select(sa.func.min(AccessDay.day), sa.func.max(AccessDay.day))
        ).one()
        subjects = Subjects(
            assessment=assessment.id,
            draft=draft.id,
            open_consultation=consultation.id,
            consultation=reported.id,
            opinion=first(sa.select(Opinion.id).where(Opinion.consultation_id == reported.id).order_by(Opinion.id)),
            reviewed=session.version_id,
            under_review=in_review.id,
            system=first(sa.select(System.id).order_by(System.id)),
            pi_file=first(sa.select(PiFile.id).order_by(PiFile.id)),
            finding=finding.id,
            evidence_assessment=first(sa.select(Assessment.id).order_by(Assessment.id)),
            evidence_from=evidence_from.isoformat(),
            evidence_to=evidence_to.isoformat(),
            audit_event=first(sa.select(AuditEvent.id).order_by(AuditEvent.id.desc())),
            user=first(sa.select(User.id).filter_by(username="editor")),
            check=finding.check,
            case=first(sa.select(Case.id).order_by(Case.id)),
        )
        db.session.commit()
    return subjects


@pytest.fixture
def subjects(live_server, live_app) -> Subjects:
    if live_server not in _SUBJECTS:
        _SUBJECTS[live_server] = _prepare(live_app)
    return _SUBJECTS[live_server]


@pytest.fixture
def signed_in(page, live_server, browser, browser_context_args):
    """``signed_in(role)``: the page's context carries the session of that demo account
    (signed in once per server and role, in a context of its own; ``again=True`` signs in
    anew, for a session another test ended by signing out, which ends them all)."""

    def do(role: str, again: bool = False) -> None:
        key = (live_server, role)
        if again or key not in _COOKIES:
            context = browser.new_context(**browser_context_args)
            try:
                login = context.new_page()
                login.goto(f"{live_server}/login")
                login.get_by_label("ユーザーID").fill(role)
                login.get_by_label("パスワード").fill("hyoka-demo")
                login.get_by_role("button", name="ログイン").click()
                login.wait_for_url(f"{live_server}/")
                _COOKIES[key] = context.cookies()
            finally:
                context.close()
        page.context.add_cookies(_COOKIES[key])

    return do


def _on_login_page(page) -> bool:
    return urlsplit(page.url).path == "/login"


def _violations(page) -> list[dict]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # evaluated through the DevTools protocol: the pages' CSP (no inline script) stays as it is
        page.evaluate(AXE.read_text(encoding="utf-8"))
    return page.evaluate(
        """tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})
            .then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(' '), impact: n.impact,
                    summary: n.failureSummary}))})))""",
        TAGS,
    )


def _describe(where: str, violations: list[dict]) -> str:
    lines = [f"{where}: {len(violations)} accessibility violation(s) ({', '.join(sorted(COUNTED))})"]
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:15]:
            summary = " / ".join(line.strip() for line in (node["summary"] or "").splitlines()[1:3])
            lines.append(f"    {node['target']}  {summary}")
        if len(v["nodes"]) > 15:
            lines.append(f"    … and {len(v['nodes']) - 15} more")
    return "\n".join(lines)


def test_axe_core_is_installed():
    assert AXE.exists(), f"{AXE} is missing: run `make test` (or `npm ci`) to install axe-core"


@pytest.mark.parametrize(
    "role,name",
    [pytest.param(role, name, id=f"{role}-{name}") for role, pages in PAGES.items() for name in pages],
)
def test_no_serious_violation(page, live_server, subjects, signed_in, role, name):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make test` (or `npm ci`) to install axe-core")
    if role != "public":
        signed_in(role)
    path = PAGES[role][name].format(**subjects.__dict__)
    response = page.goto(f"{live_server}{path}")
    if role != "public" and _on_login_page(page):
        signed_in(role, again=True)
        response = page.goto(f"{live_server}{path}")
    assert response is not None and response.status == 200, (path, response and response.status)
    assert role == "public" or not _on_login_page(page), f"{role} was sent to the login page from {path}"
    page.wait_for_load_state("load")
    if (role, name) == ("public", "consultation-form"):
        # the opinion form is what this page is checked for
        assert page.locator("form textarea").count() >= 1, "the public consultation page shows no opinion form"
    violations = [v for v in _violations(page) if v["impact"] in COUNTED]
    assert not violations, _describe(f"{role} {path}", violations)


#: pages reached by pressing a button on a main page: (role, page, button) -> what it shows;
#: forms are sent without the browser's own checks (novalidate) so the server's errors show
AFTER_A_CLICK: dict[str, tuple[str, str, str, str]] = {
    "officer-delete-version-confirmation": ("officer", "/versions/{draft}", "この版を削除", "を削除します"),
    "officer-new-affair-errors": ("officer", "/affairs/new", "登録してしきい値判断へ進む", "入力"),
    "officer-new-assessment-errors": ("officer", "/assessments/new", "作成する", "入力"),
    "admin-new-user-errors": ("admin", "/admin/users/new", "保存する", "入力"),
}


@pytest.mark.parametrize("case", list(AFTER_A_CLICK))
def test_no_serious_violation_after_a_click(page, live_server, subjects, signed_in, case):
    """Confirmation pages and forms returned with errors (nothing is changed: the
    confirmation is not given, the forms are empty)."""
    role, path, button, shown = AFTER_A_CLICK[case]
    signed_in(role)
    path = path.format(**subjects.__dict__)
    page.goto(f"{live_server}{path}")
    if _on_login_page(page):
        signed_in(role, again=True)
        page.goto(f"{live_server}{path}")
    page.evaluate("document.querySelectorAll('form').forEach(f => f.setAttribute('novalidate', ''))")
    page.get_by_role("main").get_by_role("button", name=button, exact=True).first.click()
    page.wait_for_load_state("load")
    assert shown in page.locator("main").inner_text(), f"{case}: the page after the click is not the expected one"
    if case.endswith("-errors"):
        # each field marked invalid is described by its error message (read out on reaching it)
        fields = page.evaluate(
            """() => [...document.querySelectorAll('main [aria-invalid="true"]')].map(el => ({
                name: el.name, explained: (el.getAttribute('aria-describedby') || '').split(' ').some(id => {
                    const e = id && document.getElementById(id);
                    return !!e && !!e.querySelector('[role=alert]') && e.textContent.trim() !== ''; })}))"""
        )
        assert fields, f"{case}: no field is marked invalid"
        assert all(f["explained"] for f in fields), fields
    violations = [v for v in _violations(page) if v["impact"] in COUNTED]
    assert not violations, _describe(f"{role} {path} after pressing {button}", violations)


def test_the_check_fails_on_a_serious_violation(page, live_server):
    """The check itself: a page with an unlabelled field and an empty button is refused."""
    page.goto(f"{live_server}/login")
    page.evaluate(
        """() => { const f = document.createElement('form');
            f.innerHTML = '<input type="text" name="x"><button type="submit"></button>';
            document.querySelector('main').appendChild(f); }"""
    )
    found = {v["id"] for v in _violations(page) if v["impact"] in COUNTED}
    assert {"label", "button-name"} <= found, found
