"""Demo step: the 個人情報保護審議会 and its review of the demo 住民基本台帳 assessment."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from common.db import db

REVIEW_BODY = "札幌市個人情報保護審議会"
DEMO_MEMBERS = [
    {"name": "委員A", "title": "会長・学識経験者(行政法)"},
    {"name": "委員B", "title": "学識経験者(情報セキュリティ)"},
    {"name": "委員C", "title": "弁護士"},
    {"name": "委員D", "title": "市民委員"},
]
DEMO_FINDINGS = [
    {
        "path": "risks/files[0]/use/risk2/usage_log_method",
        "text": "職員が自らの家族の情報を税額控除の確認のために閲覧した事案を踏まえ、操作履歴の点検の頻度と方法を具体的に記載すること。",
        "response": "操作履歴を毎月抽出し、業務上の必要性が確認できない照会がないかを所属長が点検すること、"
        "及び不適切な照会が疑われる場合は本人に確認することを追記した。",
        "changed": True,
        "note": "III 特定個人情報ファイルの取扱いプロセスにおけるリスク対策 3. 特定個人情報の使用 リスク2 特定個人情報の使用の記録 具体的な方法",
    },
    {
        "path": "basic/systems[0]/functions",
        "text": "既存住基システムに印鑑登録情報も格納している点について、個人番号と紐づく情報ではないことが読み手に分かるようにすること。",
        "response": "システム1 ②システムの機能の※書きにおいて、印鑑登録情報は個人番号と紐づいている情報ではない旨を既に記載しているため、"
        "評価書の修正は行わない。",
        "changed": False,
        "note": "",
    },
]


def load_demo(options) -> str | None:
    from pia.assessments.models import Affair, Assessment, AssessmentVersion
    from pia.review import services as review_services
    from pia.review.models import ReviewBody, ReviewFinding, ReviewSession
    from pia.schema import flatten, load_schema

    body = db.session.execute(sa.select(ReviewBody).filter_by(name=REVIEW_BODY)).scalar_one_or_none()
    if body is None:
        body = ReviewBody(
            name=REVIEW_BODY,
            kind="council",
            members=DEMO_MEMBERS,
            notes="札幌市個人情報保護法施行条例に基づき設置された附属機関。",
        )
        db.session.add(body)
        db.session.flush()
    affair = db.session.execute(sa.select(Affair).filter_by(code="juki")).scalar_one_or_none()
    if affair is None:
        return "第三者点検: 住民基本台帳事務(juki)の評価書がないため、点検の記録を省略しました。"
    versions = (
        db.session.execute(
            sa.select(AssessmentVersion)
            .join(Assessment)
            .where(Assessment.affair_id == affair.id)
            .order_by(AssessmentVersion.id)
        )
        .scalars()
        .all()
    )
    if not versions:
        return "第三者点検: 評価書の版がないため、点検の記録を省略しました。"
    first = versions[0]
    if (
        first.status == "published"
        and not db.session.execute(sa.select(ReviewSession.id).filter_by(version_id=first.id).limit(1)).first()
    ):
        # the review of 第1版 (before it was published on 2025-01-31), as its section VI 3 says
        review_services.save_session(
            ReviewSession(
                version_id=first.id,
                body=body,
                held_on=date(2025, 1, 17),
                method="札幌市個人情報保護審議会において、評価書(案)を説明し、審議を受けた。",
                result="特定個人情報保護評価指針に定める実施手続等に適合し、評価書の内容は妥当であるとの意見を得た。",
            ),
            actor="demo",
        )
    version = (
        next((v for v in versions if v.status == "review"), None)
        or next((v for v in reversed(versions) if v.status != "published"), None)
        or versions[-1]
    )
    if db.session.execute(sa.select(ReviewSession.id).filter_by(version_id=version.id).limit(1)).first():
        return None
    session = ReviewSession(
        version_id=version.id,
        body=body,
        held_on=date(2026, 1, 23),
        method="札幌市個人情報保護審議会において、評価書(案)及び意見募集の結果を説明し、審議を受けた。",
        result="評価書(案)の内容は、特定個人情報保護評価指針に定める実施手続等に適合し、"
        "リスク対策は妥当であると認められた。",
    )
    review_services.save_session(session, actor="demo")
    schema = load_schema(version.assessment.form, version.edition)
    labels = {item.path: item.label for item in flatten(schema, version.document)}
    for spec in DEMO_FINDINGS:
        path = spec["path"] if spec["path"] in labels else ""
        finding = ReviewFinding(
            version_id=version.id, session=session, item_path=path, item_label=labels.get(path, ""), text=spec["text"]
        )
        db.session.add(finding)
        db.session.flush()
        review_services.respond(
            finding,
            actor="demo",
            response=spec["response"],
            draft_changed=spec["changed"],
            change_version=version if spec["changed"] else None,
            change_note=spec["note"],
        )
    return f"第三者点検({REVIEW_BODY}、{version.assessment.title} {version.label}、指摘事項{len(DEMO_FINDINGS)}件)"
