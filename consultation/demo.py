"""Demo step: the consultation of reference 004 (札幌市, 住民基本台帳事務, 2025-11-12 to 2025-12-11).

It is held on the draft it consulted (第2版: the move to ガバメントクラウド that 004's opinions are
about), runs its full period, has every opinion answered and its result published: it
satisfies the 意見聴取 step of that version, and keeps the draft as put out when it opened.
"""

from __future__ import annotations

from datetime import date, datetime

from common.db import db
from common.timeutil import JST
from consultation import services
from consultation.models import Consultation

TITLE = "住民基本台帳事務に関する特定個人情報保護評価書"
PLACES = [
    "デジタル戦略推進局スマートシティ推進部住民情報課（本庁舎2階）",
    "市政刊行物コーナー（本庁舎2階）",
    "各区役所総務企画課（広聴係）",
]
WEB_URL = "http://www.city.sapporo.jp/shimin/koseki/mynumber/pia.html"
CATEGORIES = [
    {
        "key": "assessment",
        "label": "評価書に対するご意見",
        "heading": "住民基本台帳事務に関する特定個人情報保護評価に対するご意見",
    },
    {"key": "system", "label": "制度全体に関するご意見", "heading": ""},
]
#: when the demo consultation opened, was closed (the day after its period) and its result published
OPENED_AT = datetime(2025, 11, 12, 8, 45, tzinfo=JST)
CLOSED_AT = datetime(2025, 12, 12, 9, 0, tzinfo=JST)
REPORTED_ON = date(2026, 1, 9)
SYSTEM = "システム総論"
CLOUD = "クラウド化について"

#: (topic, 寄せられたご意見, 札幌市の考え方) as published in 004; paragraphs separated by blank lines
OPINIONS = [
    (
        SYSTEM,
        "(他自治体で) アクセス権のある職員による個人情報不正閲覧事件(扶養家族で税控除目的)があったが、このような不正アクセスを防ぐために札幌市ではどのような対策を講じているのか。",
        "住民記録システムは、操作権限を各区戸籍住民課職員に限定するとともに、人事異動等に伴う権限の廃止についても定期的に確認し、権限付与が必要最低限となるよう管理しております。\n\n"
        "また、システムの操作履歴を記録・抽出する機能を備えるとともに、職員には各種研修(個人情報の取扱い、特定個人情報保護、情報セキュリティ対策、コンプライアンスなど)を通じ、システム操作履歴を記録していることや個人情報等の不正利用に伴う具体的な罰則を周知するなどし、不正操作の未然防止を図る対策を講じております。",
    ),
    (
        SYSTEM,
        "札幌市で個人番号カード(いわゆるマイナンバーカード)の写真取り違え事件が発生した。報道によると今後は複数人で確認するとあったが、12月2日健康保険証廃止で、マイナ保険証が「資格確認書」で医療機関を受診することにした政府の(強引な)政策により、マイナ保険証(電子証明)の更新、大量に交付したカード更新時期とも重なり、窓口の事務負担増となった結果ではないのかと推察する。",
        "ご指摘の事案について、市民の皆様にご迷惑をおかけしましたこと、お詫び申し上げます。\n\n"
        "当該事案は、対応した職員による不注意に加えて、組織としてのチェック機能に不備があったことにより生じたものと認識しております。今後は、同様の事案が発生しないよう、業務の流れを見直しを行うとともに、複数人による確認をより強化してまいります。",
    ),
    (
        SYSTEM,
        "厚労省は「混乱」を避けるためとして、登録済みのマイナ保険証をもつ後期高齢者には「資格確認書」を自動交付し(いわゆる2枚持ち)、期限切れ保険証を2026年3月31日まで有効にするなどの「特別措置」を広く周知することなく、さらに国民を混乱に陥れている。",
        "本評価書案の内容に関するご意見ではないため、回答を控えさせていただきますが、いただいたご意見は担当課へお伝えいたします。",
    ),
    (
        SYSTEM,
        "個人番号カードは申請取得任意だ。しかし総務省は交付枚数が1億枚突破と発表して疑問を持つ国民に不安を与えており、個人番号カード返還や登録解除数は広く公表していない。",
        "ご指摘のとおり、マイナンバーカードは本人の申請に基づき交付されるものであり、申請・取得するかどうかは任意となっております。\n\n"
        "なお、総務省では、マイナンバーカードの交付枚数から死亡や有効期限切れなどにより廃止されたカードの枚数を除いた「保有枚数」を毎月公表しております。",
    ),
    (
        SYSTEM,
        "マイナンバーシステムについて政府はこれまで分散管理だから国に情報の一元管理ではない、と説明していたが既に、市民が行政に預けている膨大な個人情報は次々と紐づけられさらに「ガバメントクラウド化」というデジタル政策(主に米国企業による)クラウド化で自治体のセキュリティ・リスク管理からあたかも開放される(リスク管理は「十分」と変更)かのようなのだが、契約は国・デジタル庁であって、国が一元管理することの証左となるのではないか。(今後、個人情報保護法を改悪して、AIデータ蓄積利用のために「同意なく」個人情報を利活用できるようになるとのことだがのほのかと言わざるを得ない)",
        "ガバメントクラウドは、クラウドサービスに高度なセキュリティ対策を施していることを評価・登録する「政府情報システムのためのセキュリティ評価制度」、通称「ISMAP(イスマップ)」に登録されたCSPにより提供されるものです。さらには「自治体の合意を得ない限り、一切の情報資産を国外へ持ち出ししないこと」や「取り扱う情報に厳格なアクセス制御を行うこと」など、国が定める高いセキュリティが確保されています。\n\n"
        "なお、セキュリティについてはCSPが担うだけでなく、国(デジタル庁)は運用管理権限や監査ログの収集などの管理領域を担い、標準準拠システムが運用されるクラウド環境については、各自自治体とその運用管理補助者としてASPが担います。\n\n"
        "標準準拠システムが設置されるクラウド内の領域は、原則各自自治体とその運用管理補助者が管理することとなり、国が当該領域にて設定作業等を行えるのは、ガバメントクラウド利用権の初期設定やシステムログ・監査ログ等の取得といった限定的な処理の場合に限られています。",
    ),
    (
        CLOUD,
        "クラウド企業の運営維持管理経費は自治体負担(税金=市民の負担)となり、想定(予算)の5倍となるとの報道もあるが、どのような状況なのか。情報は公開され、市民の理解は得られるのか。",
        "運営維持管理経費についても、常に把握・最適化に努めながら、適切な管理を講じた上で、他の経費と同様の手続きを経て、本市予算・決算に計上してまいります。",
    ),
    (
        CLOUD,
        "札幌市は、ガバメントクラウドにするための「自治体システムの標準化」は終了したのか？",
        "標準準拠システムへの移行が求められている20業務のうち、令和7年度中に特定児童扶養手当、選挙、戸籍の3業務に係るシステムを標準準拠システムへ移行する予定となっており、令和9年度までに住民記録システムを含む、残るシステムについても標準準拠システムへ移行する予定となっております。",
    ),
    (
        CLOUD,
        "国・デジタル庁が契約したクラウド化による情報漏洩はどこが責任を担うのか？",
        "ガバメントクラウドはISMAPに登録されたCSPにより提供されるクラウドサービスであり、不正アクセスなどに対する高度なセキュリティ対策が施されております。また、本市においてはガバメントクラウドの利用にあたり、個人番号を扱うシステムのみを取り扱うネットワークに、専用回線で接続することで、安全性を確保しています。\n\n"
        "万が一、個人情報の漏洩があった場合の責任とその損害賠償につきましては、事案の内容により個別に判断することとなります。CSPやデジタル庁に帰責性がある場合は、CSPやデジタル庁が損害賠償責任を負うものとされています。",
    ),
    (
        CLOUD,
        "大企業HDに対する身代金要求型不正アクセスサイバー攻撃事件が横行しているが、クラウド化した市民の膨大な個人情報がサイバー攻撃・不正アクセスされた場合は、いったい誰が責任（賠償を含む）を取るのか。",
        "上述の個人情報の漏洩時の対応と同様に、サイバー攻撃・不正アクセスを受けた際の責任とその損害賠償につきましては、事案の内容により個別に判断することとなります。CSPやデジタル庁に帰責性がある場合は、CSPやデジタル庁が損害賠償責任を負うものとされています。",
    ),
    (
        CLOUD,
        "国・デジタル庁主体のクラウド化は、AWSなどアメリカのIT企業で機微情報が管理され、情報主権を護れないばかりか地方自治権の放棄ではないか。",
        "情報主権については、本事業で利用するガバメントクラウドにおいては、デジタル庁とクラウド事業者との契約により、準拠法を日本法、裁判管轄を東京地方裁判所と定めています。また、政府機関等からの開示請求に対する主権免除に係る対応もクラウド事業者の要件として定められているほか、データの保存場所を国内に限定し、技術的なアクセス制御を講じることで、日本政府の主権及び地方公共団体の管理権限が及ぶ体制を確保しています。",
    ),
]


def _demo_version():
    """The draft of the assessment of affair ``juki`` put out for comment in 2025: its latest
    version not yet submitted (else its latest). None when the pia demo is absent."""
    try:
        from pia.assessments.models import Affair, Assessment, AssessmentVersion
    except ImportError:
        return None
    affair = db.session.execute(db.select(Affair).filter_by(code="juki")).scalar_one_or_none()
    if affair is None:
        return None
    versions = list(
        db.session.execute(
            db.select(AssessmentVersion)
            .join(Assessment)
            .where(Assessment.affair_id == affair.id)
            .order_by(AssessmentVersion.number.desc(), Assessment.id)
        ).scalars()
    )
    if not versions:
        return None
    return next((v for v in versions if v.status not in ("submitted", "published")), versions[0])


def _first_version():
    """第1版 of the assessment of affair ``juki`` when it is published (its 2024 consultation)."""
    from pia.assessments.models import Affair, Assessment, AssessmentVersion

    return (
        db.session.execute(
            db.select(AssessmentVersion)
            .join(Assessment)
            .join(Affair)
            .where(Affair.code == "juki", AssessmentVersion.number == 1, AssessmentVersion.status == "published")
        )
        .scalars()
        .first()
    )


def _load_first_consultation(actor) -> None:
    """The consultation on 第1版 (2024-11-13 to 2024-12-12, no opinions), as its section VI 2 says."""
    version = _first_version()
    if (
        version is None
        or db.session.execute(db.select(Consultation.id).filter_by(version_id=version.id)).first() is not None
    ):
        return
    consultation = services.create_consultation(
        version,
        actor=actor,
        title=TITLE,
        description="住民基本台帳事務に関する特定個人情報保護評価書（全項目評価書）の案に対する意見募集（第1版）。",
        start_date=date(2024, 11, 13),
        end_date=date(2024, 12, 12),
        places=list(PLACES),
        web_url=WEB_URL,
        channels=["post", "hand", "fax", "email"],
        eligibility="どなたでもご意見を提出できます。",
        form_fields={"name": "required", "address": "optional", "contact": "optional"},
        categories=[dict(c) for c in CATEGORIES],
    )
    consultation.transition("open", actor=actor, today=date(2024, 11, 13))
    services.close_consultation(consultation, actor=actor, today=date(2024, 12, 13))
    services.mark_reviewed(consultation, actor=actor)
    services.publish_result(consultation, actor=actor, on=date(2024, 12, 20))
    consultation.opened_at = datetime(2024, 11, 13, 8, 45, tzinfo=JST)
    consultation.closed_at = datetime(2024, 12, 13, 9, 0, tzinfo=JST)
    consultation.reported_at = datetime(2024, 12, 20, 10, 0, tzinfo=JST)
    db.session.flush()


def load_demo(options) -> str | None:
    version = _demo_version()
    if version is None:
        return "住民基本台帳事務（juki）の評価書がないため、意見募集のデモデータを省略しました。"
    existing = db.session.execute(
        db.select(Consultation).filter_by(version_id=version.id, title=TITLE)
    ).scalar_one_or_none()
    if existing is not None:
        return None
    actor = "demo"
    consultation = services.create_consultation(
        version,
        actor=actor,
        title=TITLE,
        description=(
            "マイナンバー制度における住民基本台帳事務について、特定個人情報保護評価書（全項目評価書）の案を"
            "公表し、市民の皆様からご意見を募集します。"
        ),
        start_date=date(2025, 11, 12),
        end_date=date(2025, 12, 11),
        places=list(PLACES),
        web_url=WEB_URL,
        channels=["post", "hand", "fax", "email"],
        channel_info={
            "post": "〒060-8611 札幌市中央区北1条西2丁目 札幌市デジタル戦略推進局スマートシティ推進部住民情報課",
            "hand": "住民情報課（本庁舎2階）、各区役所総務企画課（広聴係）",
            "fax": "住民情報課あて（デモデータのため番号は記載していません）",
            "email": "住民情報課あて（デモデータのためアドレスは記載していません）",
        },
        eligibility="どなたでもご意見を提出できます。",
        form_fields={"name": "required", "address": "optional", "contact": "optional"},
        consent_text="いただいたご意見は、氏名・住所・連絡先を除き、概要として公表することがあります。",
        categories=[dict(c) for c in CATEGORIES],
    )
    consultation.transition("open", actor=actor, today=OPENED_AT.date())
    body = "\n\n".join(summary for _, summary, _ in OPINIONS)
    submission = services.add_paper_submission(
        consultation,
        actor=None,
        channel="post",
        received_on=date(2025, 12, 10),
        submitter_kind="organisation",
        name="（デモ）市民団体",
        body=body,
    )
    first = submission.opinions[0]
    opinions = services.split_opinion(first, [summary for _, summary, _ in OPINIONS], actor=actor)
    for opinion, (topic, _summary, reply) in zip(opinions, OPINIONS):
        services.update_opinion(opinion, actor=actor, category="assessment", topic=topic, reply=reply)
    services.close_consultation(consultation, actor=actor, today=CLOSED_AT.date())
    services.mark_reviewed(consultation, actor=actor)
    services.publish_result(consultation, actor=actor, on=REPORTED_ON)
    # the demo is loaded today; its record shows the days it happened
    consultation.opened_at, consultation.closed_at = OPENED_AT, CLOSED_AT
    consultation.reported_at = datetime.combine(REPORTED_ON, datetime.min.time(), tzinfo=JST).replace(hour=10)
    db.session.flush()
    _load_first_consultation(actor)
    return (
        f"意見募集「{TITLE}」（{version.label}、意見10件、結果公表済み）と"
        "第1版の意見募集（2024年、意見なし）を作成しました。"
    )
