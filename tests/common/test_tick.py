"""``flask tick``: every job once, in order; a failing job does not stop the others and makes
the command exit 1; one tick at a time; a day claimed once."""

from __future__ import annotations

import fcntl
import os

import pytest

from common.db import db
from common.schedule import claim_day, forget_day, register_job, tick
from common.timeutil import today_jst


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def test_the_command_runs_every_job_and_says_what_each_did(app, runner):
    result = runner.invoke(args=["tick"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith("の定時処理")
    assert lines[1:] == [
        "[完了] 意見募集の開始・締切: 対象はありません。",
        "[完了] 証跡ログのチェックポイント: 対象はありません。",
        "[完了] 証跡の点検: 設定により行いません(HYOKA_TICK_EVIDENCE_CHECKS=1 で毎日実行します)。",
        "[完了] 通知メール: メールの送信先サーバーが設定されていない(HYOKA_SMTP_HOST)ため、通知メールは送りません。",
    ]
    assert runner.invoke(args=["tick", "--quiet"]).output == ""


def test_a_failing_job_is_rolled_back_the_others_still_run_and_the_command_fails(app, runner, make_user):
    ran = []
    user = make_user("admin")

    def broken(today):
        user.display_name = "途中まで"
        db.session.flush()
        raise RuntimeError("設定ファイルが読めません。")

    def later(today):
        ran.append(today)
        return "済みました。"

    register_job(app, "broken", "壊れた処理", broken, order=1)
    register_job(app, "later", "後の処理", later, order=2)
    result = runner.invoke(args=["tick", "--quiet"])
    assert result.exit_code == 1
    assert "[失敗] 壊れた処理: 設定ファイルが読めません。" in result.output
    assert ran == [today_jst()]
    db.session.refresh(user)
    assert user.display_name != "途中まで"


def test_an_unexpected_error_is_named_without_its_details(app):
    def broken(today):
        raise KeyError("secret")

    register_job(app, "broken", "壊れた処理", broken, order=1)
    outcome = tick()[0]
    assert outcome.failed and outcome.message == "予期しないエラー(KeyError)"


def test_a_second_tick_while_one_runs_does_nothing(app, runner):
    ran = []
    register_job(app, "count", "数える", lambda today: ran.append(today), order=1)
    fd = os.open(app.config["HYOKA_TICK_LOCK"], os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert tick() is None
        result = runner.invoke(args=["tick"])
        assert result.exit_code == 0 and "別の tick が実行中" in result.output
    finally:
        os.close(fd)
    assert ran == []
    assert tick() is not None and len(ran) == 1


def test_a_day_is_claimed_once_and_can_be_freed(app):
    today = today_jst()
    assert claim_day("job", today) is True
    assert claim_day("job", today) is False
    assert claim_day("other", today) is True
    db.session.rollback()  # the claim goes with the caller's transaction
    assert claim_day("job", today) is True
    db.session.commit()
    forget_day("job", today)
    assert claim_day("job", today) is True
