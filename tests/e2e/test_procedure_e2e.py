"""Browser journeys through the procedure of a 全項目評価書 with a 重要な変更 (issue #13).

The honest path: 意見聴取 over a period of 30 days that has ended (with an opinion entered
from paper and answered, and the result published), 第三者点検 recorded, 提出, 公表 — and the
public portal shows the new version. The dishonest path: a consultation closed on its first
day without a reason is refused, and nothing lets the version be submitted or published.

Each test sets up its own 事務 (unique code) server-side, through the live server's app: a
published 第1版 (the demo document) and a 第2版 draft that changes a ※ item and otherwise
passes the pre-submission checklist; only the procedure's steps are left to do.

A period that has ended cannot be waited for: the consultation is created running from
31 days ago to yesterday (Japan time). The app allows that (the period rule only asks for
30 days or a reason; a start in the past is not refused), and the web form never takes an
opinion outside the period — so the opinion comes in as a letter (郵送) the officer enters.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from common.jpdate import format_date, wareki


def expect_flash(page: Page, text: str) -> None:
    expect(page.get_by_role("status").filter(has_text=text)).to_be_visible()


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _today() -> date:
    return datetime.now(ZoneInfo("Asia/Tokyo")).date()


@dataclass(frozen=True)
class Draft:
    affair_code: str
    affair_name: str
    title: str
    assessment_id: int
    version_id: int

    @property
    def version_label(self) -> str:
        return f"{self.title} 第2版"


def make_draft(live_app) -> Draft:
    """A fresh 事務 with its しきい値判断, a published 第1版 (the demo document) and a 第2版
    draft whose change of 保管場所 (a ※ item) is a 重要な変更; only the procedure fails."""
    import sqlalchemy as sa

    from common import audit
    from common.db import db
    from common.models import Department
    from pia.assessments import checklist, services
    from pia.assessments.demo_data import load_demo_documents

    tag = uuid.uuid4().hex[:8]
    code = f"e2e{tag}"
    name = f"画面試験{tag}の住民基本台帳に関する事務"
    title = f"{name} 全項目評価書"
    v1, v2 = load_demo_documents()
    with live_app.app_context(), audit.acting_as("画面試験の準備"):
        department = db.session.execute(sa.select(Department).filter_by(name="住民情報課")).scalar_one()
        affair = services.create_affair(code=code, name=name, department=department, actor=None)
        services.record_threshold(
            affair,
            actor=None,
            determined_on=date(2024, 12, 1),
            target_count=1_900_000,
            handlers=3000,
            serious_incident=False,
        )
        assessment = services.create_assessment(affair, form="zenkoumoku", actor=None, with_draft=False, title=title)
        services.add_published_version(
            assessment, v1, actor=None, submitted_on=date(2025, 1, 24), published_on=date(2025, 1, 31)
        )
        location = "files/files[0]/storage/location"
        draft = services.start_draft(
            assessment, actor=None, changes={location: v2["files"]["files"][0]["storage"]["location"]}
        )
        db.session.commit()
        assert services.change_kind(draft) == "significant"
        failed = checklist.failures(checklist.run(draft))
        assert {item.key for item in failed} == {"step:consultation", "step:review"}, [
            (item.key, item.problems) for item in failed
        ]
        return Draft(code, name, title, assessment.id, draft.id)


def version_status(live_app, draft: Draft) -> str:
    from common.db import db
    from pia.assessments.models import AssessmentVersion

    with live_app.app_context():
        return db.session.get(AssessmentVersion, draft.version_id).status


# --------------------------------------------------------------------------- pages


def open_version(page: Page, draft: Draft) -> None:
    """From the main menu to the 第2版 of the draft's assessment."""
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="評価書").click()
    expect(page.get_by_role("heading", name="特定個人情報保護評価書", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has_text=draft.affair_code)
    row.get_by_role("link", name="第2版").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(draft.version_label)


def procedure_step(page: Page, label: str):
    return page.get_by_role("list", name="手続の順序").get_by_role("listitem").filter(has_text=label)


def next_action(page: Page):
    return page.locator("#next-action")


def portal_row(page: Page, draft: Draft):
    """The draft's 事務 in the portal's list of published assessments."""
    return page.get_by_role("region", name="公表している評価書").get_by_role("row").filter(has_text=draft.affair_name)


def start_consultation_step(page: Page) -> None:
    """On the version page: the next action is to start 意見聴取; do it."""
    expect(procedure_step(page, "住民等からの意見聴取")).to_contain_text("未了")
    next_action(page).get_by_role("button", name="意見聴取を開始する").click()
    expect_flash(page, "意見聴取を開始しました。")
    expect(page.get_by_role("heading", level=1)).to_contain_text("意見聴取中")


def create_consultation(page: Page, draft: Draft, start: date, end: date) -> str:
    """As the officer: set up a consultation on the 第2版 and open it; returns its title."""
    title = _unique(f"{draft.title}（案）の意見募集 ")
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="意見募集").click()
    page.get_by_role("link", name="意見募集を作成する").click()
    expect(page.get_by_role("heading", name="意見募集の作成", level=1)).to_be_visible()
    page.get_by_label("意見を募集する評価書（版）").select_option(label=f"{draft.version_label}（意見聴取中）")
    page.get_by_label("件名（意見を募集する評価書の名称）").fill(title)
    page.get_by_label("募集の趣旨・概要").fill("住民記録システムの保管場所を変更します。ご意見をお寄せください。")
    page.get_by_label("募集開始日").fill(start.isoformat())
    page.get_by_label("募集終了日").fill(end.isoformat())
    page.get_by_role("button", name="保存する").click()
    expect_flash(page, "意見募集を作成しました。")
    expect(page.get_by_role("heading", level=1)).to_contain_text("募集前")

    page.get_by_role("button", name="募集を開始する").click()
    expect(page.get_by_role("heading", name="意見募集を開始します", level=1)).to_be_visible()
    page.get_by_role("button", name="募集を開始する").click()
    expect_flash(page, "意見募集を「募集中」にしました。")
    expect(page.get_by_role("heading", level=1)).to_contain_text("募集中")
    return title


# --------------------------------------------------------------------------- the honest path


def test_full_procedure_leads_to_publication(page, live_server, live_app, login_as, request):
    draft = make_draft(live_app)
    today = _today()
    login_as("officer")
    open_version(page, draft)

    # the procedure in its legal order, 意見聴取 first
    steps = page.get_by_role("list", name="手続の順序").get_by_role("listitem")
    expect(steps).to_have_text(
        [
            re.compile(label)
            for label in (
                "しきい値判断",
                "評価書の作成",
                "住民等からの意見聴取",
                "第三者点検",
                "個人情報保護委員会への提出",
                "公表",
            )
        ]
    )
    expect(procedure_step(page, "しきい値判断")).to_contain_text("完了")
    expect(procedure_step(page, "評価書の作成")).to_contain_text("完了")
    start_consultation_step(page)

    # --- 意見聴取: from today, 30 days ----------------------------------------------------
    # (a consultation whose period already lies in the past cannot be opened: it would count
    # days on which the draft was never out)
    start, end = today, today + timedelta(days=29)
    title = create_consultation(page, draft, start, end)
    expect(page.get_by_text("（30日間）")).to_be_visible()

    # a letter received during the period, entered by the officer
    page.get_by_role("link", name="郵送・持参・FAXを登録").click()
    expect(page.get_by_role("heading", name="郵送・持参・FAXで受け付けた意見の登録", level=1)).to_be_visible()
    page.get_by_label("郵送", exact=True).check()
    page.get_by_label("受付日").fill(today.isoformat())
    page.get_by_label("氏名・団体名（公表しません）").fill("札幌 太郎")
    opinion = _unique("ガバメントクラウドに保存するデータの消去方法を示してほしい。")
    page.get_by_label("意見の内容（書き起こし）").fill(opinion)
    page.get_by_role("button", name="登録する").click()
    expect_flash(page, "郵送の意見を登録しました")
    expect(page.get_by_role("heading", name=re.compile("^受付番号 "), level=1)).to_be_visible()

    # its opinion gets 市の考え方
    row = page.get_by_role("row").filter(has_text=opinion)
    expect(row).to_have_count(1)
    expect(row.get_by_text("未入力")).to_be_visible()
    row.get_by_role("link", name="編集").click()
    reply = _unique("消去の方法は評価書II 5.に記載しています。")
    page.get_by_label("市の考え方").fill(reply)
    page.get_by_role("button", name="保存する").click()
    expect_flash(page, "意見を保存しました。")
    expect(page.get_by_role("row").filter(has_text=opinion)).to_contain_text(reply)

    # 30 days later (the test app's clock moves on; nothing else does): the period has ended,
    # closing needs no reason
    live_app.config["HYOKA_CLOCK_OFFSET_DAYS"] = 30
    request.addfinalizer(lambda: live_app.config.pop("HYOKA_CLOCK_OFFSET_DAYS", None))
    today = today + timedelta(days=30)
    menu = page.get_by_role("navigation", name="意見募集のメニュー")
    menu.get_by_role("link", name="概要").click()
    expect(page.get_by_role("heading", name=re.compile(r"意見1件・市の考え方未入力0件"))).to_be_visible()
    page.get_by_role("button", name="募集を終了する").click()
    expect(page.get_by_role("heading", name=re.compile("意見募集を締め切る"), level=1)).to_be_visible()
    page.get_by_role("button", name="締め切る", exact=True).click()
    expect_flash(page, "意見募集を「募集終了」にしました。")
    expect(page.get_by_text("募集期間の終了前")).to_have_count(0)

    menu.get_by_role("link", name="公表前の確認").click()
    page.get_by_role("button", name="伏せ字の結果を確認した").click()
    expect_flash(page, "公表する文面の確認を記録しました")
    page.get_by_role("button", name="結果を公表する").click()
    expect(page.get_by_role("heading", name="意見募集の結果を公表します", level=1)).to_be_visible()
    page.get_by_role("button", name="結果を公表する").click()
    expect_flash(page, "結果を公表しました。")
    expect(page.get_by_role("heading", level=1)).to_contain_text("結果公表済み")
    expect(page.get_by_role("status").filter(has_text="住民等からの意見聴取の手続を終えています")).to_be_visible()

    # --- back on the version: 意見聴取 done; back to 作成中, then 第三者点検 ---------------------
    open_version(page, draft)
    consultation_step = procedure_step(page, "住民等からの意見聴取")
    expect(consultation_step).to_contain_text("完了")
    expect(consultation_step).to_contain_text(f"{start.year}年{start.month}月{start.day}日")
    # the one next action: back to 作成中, to reflect the opinions
    next_action(page).get_by_role("button", name="作成中に戻し、意見を評価書に反映する").click()
    expect_flash(page, "作成中に戻しました。")
    expect(procedure_step(page, "第三者点検")).to_contain_text("未了")
    next_action(page).get_by_role("button", name="第三者点検に付す").click()
    expect_flash(page, "第三者点検に付しました。")
    expect(page.get_by_role("heading", level=1)).to_contain_text("第三者点検中")

    next_action(page).get_by_role("link", name="第三者点検の結果を記録する").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(draft.version_label)
    expect(page.get_by_text("第三者点検の実施結果が記録されていません。")).to_be_visible()
    page.get_by_role("link", name="点検の実施を記録").click()
    expect(page.get_by_role("heading", name="第三者点検の実施を記録", level=1)).to_be_visible()
    page.get_by_label("点検を行った機関").select_option(label="札幌市個人情報保護審議会")
    expect(page.get_by_label("実施日")).to_have_value(format_date(today))  # as the field asks for it
    page.get_by_label("方法").fill("札幌市個人情報保護審議会において審議")
    result = _unique("評価書(案)の内容は適当であると認める。")
    page.get_by_label("結果").fill(result)
    page.get_by_role("button", name="保存する").click()
    expect_flash(page, "第三者点検の実施を記録しました。")
    expect(page.get_by_text("第三者点検の記録はそろっています(評価書の提出に進めます)。")).to_be_visible()
    expect(page.get_by_role("cell", name=result)).to_be_visible()

    # --- 提出 and 公表 ------------------------------------------------------------------
    open_version(page, draft)
    expect(procedure_step(page, "第三者点検")).to_contain_text("完了")
    expect(procedure_step(page, "第三者点検")).to_contain_text("札幌市個人情報保護審議会")
    page.get_by_role("link", name="提出前の確認").click()
    expect(page.get_by_text("すべて確認済み")).to_be_visible()
    expect(page.get_by_text("要対応")).to_have_count(0)
    page.get_by_role("link", name="第2版に戻る").click()

    actions = next_action(page)
    actions.get_by_label("提出日(個人情報保護委員会)").fill(wareki(today))  # 和暦 typed by hand
    actions.get_by_role("button", name="提出済みにする").click()
    expect(page.get_by_role("heading", name="第2版を提出済みにします", level=1)).to_be_visible()
    page.get_by_role("button", name="提出済みにする").click()
    expect_flash(page, "提出済みにしました。")
    expect(page.get_by_role("heading", level=1)).to_contain_text("提出済み")
    expect(procedure_step(page, "個人情報保護委員会への提出")).to_contain_text("完了")

    actions.get_by_label("公表日").fill(today.isoformat())
    actions.get_by_role("button", name="公表する").click()
    expect(page.get_by_role("heading", name="第2版を公表します", level=1)).to_be_visible()
    # publishing renders and stores the PDF/A (a few seconds; minutes on a loaded machine)
    page.get_by_role("button", name="公表する", exact=True).click(timeout=180_000)
    expect_flash(page, "公表済みにしました。")
    expect(page.get_by_role("heading", level=1)).to_contain_text("公表済み")
    expect(procedure_step(page, "公表")).to_contain_text("完了")
    expect(actions).to_contain_text("この版は公表済みです。")
    assert version_status(live_app, draft) == "published"

    # --- the public portal shows 第2版 as the version in force -------------------------------
    page.goto(f"{live_server}/public/")
    published = portal_row(page, draft)
    expect(published).to_have_count(1)
    expect(published).to_contain_text("第2版(過去の版 1件)")
    published.get_by_role("link", name="全項目評価書", exact=True).click()
    expect(page.get_by_role("heading", name=draft.title, level=1)).to_be_visible()
    versions = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="公表日"))
    current = versions.get_by_role("row").filter(has_text="現在の版")
    expect(current).to_have_count(1)
    expect(current.get_by_role("rowheader")).to_contain_text("第2版")
    expect(versions.get_by_role("rowheader", name="第1版")).to_be_visible()
    # the consultation's result is listed with the past consultations
    page.goto(f"{live_server}/public/")
    past = page.get_by_role("region", name="これまでの意見募集").get_by_role("row").filter(has_text=title)
    expect(past).to_contain_text("寄せられたご意見と考え方")


# --------------------------------------------------------------------------- the dishonest path


def test_closing_on_the_first_day_without_reason_leaves_nothing_to_publish(page, live_server, live_app, login_as):
    draft = make_draft(live_app)
    today = _today()
    login_as("officer")
    open_version(page, draft)
    start_consultation_step(page)
    create_consultation(page, draft, today, today + timedelta(days=29))

    # --- closing on its first day: the confirmation page asks for the 特段の理由 --------------
    page.get_by_role("button", name="募集を終了する").click()
    expect(page.get_by_role("heading", name=re.compile("意見募集を締め切る"), level=1)).to_be_visible()
    expect(page.get_by_text("期間を30日残して受付を終了します")).to_be_visible()
    expect(page.get_by_label("締め切る特段の理由")).to_have_value("")
    page.get_by_role("button", name="期間の終了前に締め切る").click()
    errors = page.get_by_role("alert").filter(has_text="入力内容を確認してください")
    expect(errors).to_be_visible()
    expect(errors).to_contain_text("締め切る特段の理由を記載してください")
    expect(page.get_by_role("heading", level=1)).to_contain_text("募集中")
    page.get_by_role("link", name="締め切らずに戻る").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("募集中")

    # --- the version page offers no 提出; the checklist names the unmet 意見聴取 -------------
    open_version(page, draft)
    consultation_step = procedure_step(page, "住民等からの意見聴取")
    expect(consultation_step).to_contain_text("実施中")
    expect(consultation_step).to_contain_text("が終了していません")
    expect(procedure_step(page, "個人情報保護委員会への提出")).to_contain_text("未了")
    expect(next_action(page)).to_contain_text("意見募集を終え、結果を記録する")
    for label in ("提出済みにする", "公表する", "第三者点検に付す"):
        expect(page.get_by_role("button", name=label)).to_have_count(0)
    expect(page.get_by_label("提出日(個人情報保護委員会)")).to_have_count(0)

    page.get_by_role("link", name="提出前の確認").click()
    expect(page.get_by_role("heading", name=re.compile("^提出前の確認"), level=1)).to_be_visible()
    step = page.locator("#check-step-consultation")
    expect(step).to_contain_text("住民等からの意見聴取を終えている")
    expect(step).to_contain_text("要対応")
    end = today + timedelta(days=29)
    expect(step).to_contain_text(f"の募集期間（{end.year}年{end.month}月{end.day}日まで）が終了していません。")
    expect(step).to_contain_text("結果（寄せられたご意見と市の考え方）が公表されていません")
    expect(page.locator("#check-step-review")).to_contain_text("要対応")
    page.get_by_role("link", name="第2版に戻る").click()

    # --- direct POSTs of the moves the page does not offer are refused ---------------------
    version_url = f"{live_server}/versions/{draft.version_id}"
    token = page.locator("input[name=csrf_token]").first.input_value()
    # 提出, posted from the browser as a crafted form
    page.evaluate(
        """([action, token, day]) => {
        const form = document.createElement("form");
        form.method = "post";
        form.action = action;
        for (const [name, value] of [["csrf_token", token], ["on", day], ["confirm", "yes"]]) {
            const input = document.createElement("input");
            input.type = "hidden"; input.name = name; input.value = value;
            form.appendChild(input);
        }
        document.body.appendChild(form);
        form.submit();
    }""",
        [f"{version_url}/transition/submit", token, today.isoformat()],
    )
    expect(page.get_by_role("status").filter(has_text="提出")).to_contain_text(
        "全項目評価の手続(意見聴取・第三者点検)を終えてから提出してください。"
    )
    expect(page.get_by_role("heading", level=1)).to_contain_text("意見聴取中")

    # 第三者点検 and 公表, posted with the session's cookies: each refused, with the reason
    for action, data in (
        ("review", {"csrf_token": token}),
        ("publish", {"csrf_token": token, "on": today.isoformat(), "confirm": "yes"}),
    ):
        response = page.request.post(f"{version_url}/transition/{action}", form=data)
        assert response.ok, (action, response.status)  # the version page, after the redirect
        body = response.text()
        assert response.url == version_url, (action, response.url)
        assert "が終了していません" in body, (action, body[:2000])
        assert "公表済みにしました" not in body and "第三者点検に付しました" not in body
    assert version_status(live_app, draft) == "consultation"

    # --- nothing published: the portal still has 第1版 only ---------------------------------
    page.goto(f"{live_server}/public/")
    listed = portal_row(page, draft)
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text("第1版")
    expect(listed).not_to_contain_text("第2版")
    listed.get_by_role("link", name="全項目評価書", exact=True).click()
    versions = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="公表日"))
    expect(versions.get_by_role("rowheader")).to_have_count(1)
    expect(versions.get_by_role("row").filter(has_text="現在の版").get_by_role("rowheader")).to_contain_text("第1版")
    expect(page.get_by_text("第2版")).to_have_count(0)
