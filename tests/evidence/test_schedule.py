"""What ``flask tick`` does for the evidence (the daily checkpoint and check run) and the
evidence's notifications (a new 高 finding to the auditors, an overdue feed to the owner)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from common.db import db, utcnow
from common.models import AuditEvent
from common.schedule import tick
from common.timeutil import today_jst
from evidence.models import Finding, LogCheckpoint
from evidence.schedule import feed_overdue_notices, high_finding_notices
from tests.conftest import mail_text
from tests.evidence.conftest import access_csv


def _checkpoints() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(LogCheckpoint)).scalar_one()


def _outcome(outcomes, name):
    return next(o for o in outcomes if o.job.name == name)


@pytest.fixture
def imported(feed):
    """One access batch of JUKI on 2025-04-01 (three events by staff u1)."""
    result = feed("access", access_csv(*(f"e{i},2025-04-01T09:0{i}:00+09:00,JUKI,u1,view,S{i},T1,," for i in range(3))))
    db.session.commit()
    assert result.stored
    return result


class TestDailyCheckpoint:
    @pytest.fixture
    def app_config(self, tmp_path):
        return {"HYOKA_EVIDENCE_CHECKPOINT_DIR": str(tmp_path / "worm")}

    def test_none_without_any_batch(self, app, juki):
        tick()
        assert _checkpoints() == 0

    def test_one_a_day_with_its_copy(self, app, imported, tmp_path):
        before = _checkpoints()
        outcome = _outcome(tick(), "evidence_checkpoint")
        assert not outcome.failed and "に署名しました" in outcome.message
        assert _checkpoints() == before + 1
        latest = db.session.execute(sa.select(LogCheckpoint).order_by(LogCheckpoint.id.desc())).scalars().first()
        assert (tmp_path / "worm" / f"checkpoint-{latest.id:010d}.txt").read_text(encoding="utf-8") == latest.note
        tick()
        assert _checkpoints() == before + 1
        app.config["HYOKA_CLOCK_OFFSET_DAYS"] = 1
        tick()
        assert _checkpoints() == before + 2

    def test_off_when_configured(self, app, imported):
        app.config["HYOKA_TICK_EVIDENCE_CHECKPOINT"] = False
        before = _checkpoints()
        assert "設定により行いません" in _outcome(tick(), "evidence_checkpoint").message
        assert _checkpoints() == before

    def test_a_key_too_open_fails_the_job_with_the_reason(self, app, imported):
        from evidence import transparency

        transparency.load_signer(create=True)
        transparency.key_path().chmod(0o644)
        outcome = _outcome(tick(), "evidence_checkpoint")
        assert outcome.failed and "chmod 600" in outcome.message


def test_the_check_run_is_daily_when_configured(app, imported):
    def runs():
        return db.session.execute(
            sa.select(AuditEvent.actor_name).where(AuditEvent.object_type == "evidence_check_run")
        ).all()

    outcome = _outcome(tick(), "evidence_checks")
    assert "HYOKA_TICK_EVIDENCE_CHECKS=1" in outcome.message and runs() == []
    app.config["HYOKA_TICK_EVIDENCE_CHECKS"] = True
    outcome = _outcome(tick(), "evidence_checks")
    assert not outcome.failed and "を点検しました" in outcome.message
    tick()
    assert [tuple(r) for r in runs()] == [("tick",)]


def _finding(key, severity="high", found_at=None, **extra):
    finding = Finding(
        check="after_hours",
        key=key,
        system="JUKI",
        user_id="u1",
        day=date(2025, 4, 1),
        severity=severity,
        details={"subject_id": "S0"},
        found_at=found_at or utcnow(),
        **extra,
    )
    db.session.add(finding)
    db.session.commit()
    return finding


def test_a_new_high_finding_is_announced_to_the_auditors_without_whom_it_is_about(app, juki, make_user):
    from evidence.checks import CHECKS

    auditor = make_user("auditor")
    make_user("officer")
    new = _finding("u1/2025-04-01")
    _finding("u2/2025-04-01", severity="medium")
    _finding("u3/2025-04-01", found_at=utcnow() - timedelta(days=2))
    _finding("u4/2025-04-01", decision="false_positive")
    [notice] = high_finding_notices(today_jst())
    assert notice.key == f"evidence_high:{new.id}"
    assert [u.id for u in notice.recipients] == [auditor.id]
    text = "\n".join(notice.paragraphs)
    assert f"点検: {CHECKS['after_hours'].title}" in text and "システム: 既存住基システム" in text
    assert "対象日: 2025年4月1日" in text
    assert "u1" not in text and "S0" not in text  # neither the staff member nor the resident
    assert notice.link.endswith(f"/evidence/findings/{new.id}")


def test_an_overdue_feed_is_announced_to_the_owner_department(app, imported, juki, department, make_user):
    owner = department("情報システム課")
    juki.owner_department = owner
    db.session.commit()
    editor = make_user("editor", departments=["情報システム課"])
    reviewer = make_user("reviewer", departments=["情報システム課"])  # cannot open the system page
    make_user("editor", departments=["住民情報課"])
    assert list(feed_overdue_notices(date(2025, 4, 3))) == []
    [notice] = feed_overdue_notices(date(2025, 4, 4))
    assert notice.key == "feed_overdue:JUKI:2025-04-01"
    assert "2025年4月1日の分までしか届いていません(3日間届いていません)" in notice.paragraphs[0]
    assert [u.id for u in notice.recipients] == [editor.id]
    assert reviewer.id not in [u.id for u in notice.recipients]
    assert notice.link.endswith(f"/inventory/systems/{juki.id}")


class TestMailed:
    @pytest.fixture
    def app_config(self, smtp_server):
        return smtp_server.config

    def test_the_auditor_gets_the_high_finding_once(self, app, smtp_server, juki, make_user):
        auditor = make_user("auditor")
        auditor.email = "kansa@city.example.lg.jp"
        db.session.commit()
        finding = _finding("u1/2025-04-01")
        tick()
        tick()
        [message] = smtp_server.messages
        assert message.envelope_to == [auditor.email]
        assert "重要度「高」の検知" in message["Subject"]
        assert f"https://hyoka.city.example.lg.jp/pia/evidence/findings/{finding.id}" in mail_text(message)
