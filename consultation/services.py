"""Operations on consultations: setting up, intake by every channel, opinions, form letters
and the review of what will be published. Services flush; the request (or CLI) commits.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from flask import current_app

from common import audit
from common.db import db, utcnow
from common.jpdate import format_date
from common.masking import LABELS, MY_NUMBER, mask, scan
from common.timeutil import JST, today_jst
from common.uploads import GIF, JPEG, PDF, PNG, TIFF, UploadRejected, check_upload, holds_my_number
from consultation.models import (
    CHANNELS,
    DEFAULT_CATEGORIES,
    NUMBER_AT_COMMIT,
    NUMBERING_LOCK,
    PAPER_CHANNELS,
    Consultation,
    FormLetterGroup,
    Opinion,
    Submission,
    SubmissionFile,
    min_period_days,
)

SCAN_TYPES = {PDF, PNG, JPEG, GIF, TIFF}
DEFAULT_MAX_SCAN_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_MAIL_BYTES = 30 * 1024 * 1024


class IntakeError(ValueError):
    """Intake refused; ``messages`` are shown to the officer."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


# --- consultations --------------------------------------------------------------------


def consultation_for(version) -> Consultation | None:
    """The consultation held on ``version`` itself (the latest one when there were several).

    A consultation on an earlier version never counts for a later one: each version that
    needs 意見聴取 (a first version, a 重要な変更) has its own.
    """
    return (
        db.session.execute(db.select(Consultation).filter_by(version_id=version.id).order_by(Consultation.id.desc()))
        .scalars()
        .first()
    )


def procedure_problems(consultation: Consultation, *, today: date | None = None) -> list[str]:
    """Why the consultation does not (yet) satisfy the 意見聴取 step of its version: each
    unmet condition as a Japanese sentence (empty when the step is done).

    Done means: the period has ended (``today`` after its end date, Japan time) or it was
    closed early with a 特段の理由; a period shorter than the minimum has its reason; every
    opinion has a reply; the result has been published (state 結果公表済み).
    """
    today = today or today_jst()
    c = consultation
    name = f"意見募集「{c.title}」"
    if c.status == "scheduled":
        return [f"{name}はまだ開始されていません（募集期間: {format_date(c.start_date)}～{format_date(c.end_date)}）。"]
    problems = []
    if c.is_shortened and not (c.shortened_reason or "").strip():
        late = f"{format_date(c.opened_on)}に開始されたため、" if c.opened_late else ""
        problems.append(
            f"{name}は{late}募集期間が{c.actual_period_days}日間で{min_period_days()}日に満たないのに、"
            "期間を短縮する特段の理由が記録されていません。"
        )
    if c.closed_early:
        if not (c.early_close_reason or "").strip():
            problems.append(
                f"{name}は募集期間の終了日（{format_date(c.end_date)}）より前に締め切られましたが、"
                "締め切った特段の理由が記録されていません。"
            )
    elif today <= c.end_date:
        problems.append(f"{name}の募集期間（{format_date(c.end_date)}まで）が終了していません。")
    unanswered = unanswered_count(c)
    if unanswered:
        problems.append(f"市の考え方が入力されていない意見が{unanswered}件あります。")
    if c.status != "reported":
        problems.append("意見募集の結果（寄せられたご意見と市の考え方）が公表されていません。")
    return problems


def create_consultation(version, *, actor, **values) -> Consultation:
    """Create a consultation (state 募集前) for an assessment version.

    ``values`` are column values (title, start_date, end_date, places, channels …).
    """
    values.setdefault("categories", [dict(c) for c in DEFAULT_CATEGORIES])
    values.setdefault("form_fields", {"name": "optional", "address": "optional", "contact": "optional"})
    consultation = Consultation(version_id=version.id, **values)
    problem = consultation.period_problem()
    if problem:
        raise ValueError(problem)
    db.session.add(consultation)
    db.session.flush()
    return consultation


def update_consultation(consultation: Consultation, *, actor, **values) -> None:
    """Change the settings. Once opened, the consultation stays on its version (the draft
    put out for comment is kept with it)."""
    if (
        consultation.status != "scheduled"
        and values.get("version_id", consultation.version_id) != consultation.version_id
    ):
        raise ValueError("募集を開始した意見募集の対象の評価書（版）は変更できません。")
    for key, value in values.items():
        setattr(consultation, key, value)
    problem = consultation.period_problem()
    if problem:
        raise ValueError(problem)
    db.session.flush()


# --- files ----------------------------------------------------------------------------


def upload_dir() -> Path:
    path = Path(current_app.config["HYOKA_UPLOAD_DIR"]) / "consultation"
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_path(stored: SubmissionFile) -> Path:
    return upload_dir() / stored.sha256


def _store(submission: Submission, checked, data: bytes) -> SubmissionFile:
    path = upload_dir() / checked.sha256
    if not path.exists():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    stored = SubmissionFile(
        filename=checked.safe_name, content_type=checked.content_type, size=checked.size, sha256=checked.sha256
    )
    submission.files.append(stored)
    return stored


def check_scan(filename: str, data: bytes):
    """Check a scanned page (PDF or image) by content and size; raise UploadRejected."""
    limit = current_app.config.get("CONSULTATION_MAX_SCAN_BYTES", DEFAULT_MAX_SCAN_BYTES)
    return check_upload(filename, data, allowed=SCAN_TYPES, max_bytes=limit)


# --- intake ---------------------------------------------------------------------------


def mask_my_numbers(text: str) -> tuple[str, int]:
    """``text`` with every 個人番号 replaced by ［個人番号］ at intake (none is ever stored)."""
    hits = [h for h in scan(text or "") if h.kind == MY_NUMBER]
    for hit in reversed(hits):
        text = text[: hit.start] + LABELS[MY_NUMBER] + text[hit.end :]
    return text or "", len(hits)


def _content_notes(filename: str, data: bytes, content_type: str) -> list[str]:
    """Notes for the officer about a stored file whose text holds a 個人番号 (or cannot be read).

    Files of submissions are never published (only officers download them, and the report
    shows none); a file with a 個人番号 in its text is kept for the officer, who reads the
    opinion from it, and flagged on the submission so that it is not passed on.
    """
    found = holds_my_number(data, content_type)
    if found:
        return [
            f"添付ファイル「{filename}」の文字に個人番号と判定される番号が含まれています。"
            "ファイルは職員のみが閲覧でき、公表されません。外部に渡さないでください。"
        ]
    if found is None:
        return [f"添付ファイル「{filename}」の文字を読み取れず、個人番号が含まれていないか確認できませんでした。"]
    return []


def _intake_note(count: int) -> str:
    return f"受付時に、個人番号と判定される番号（{count}か所）を伏せ字にして保存しました。" if count else ""


def _first_category(consultation: Consultation) -> str:
    return consultation.category_list()[0]["key"]


def _next_position(consultation: Consultation) -> int:
    return _next_numbers(consultation, None)[0]


_opinions = Opinion.__table__.c
#: built once (a statement built on each submission costs more than running it): the last
#: entries of the indexes on (consultation, position) and (consultation, category, number),
#: read as two subqueries so that each is one step down its index
_NEXT_NUMBERS = db.select(
    db.select(db.func.max(_opinions.position))
    .where(_opinions.consultation_id == db.bindparam("consultation_id"))
    .scalar_subquery(),
    db.select(db.func.max(_opinions.number))
    .where(_opinions.consultation_id == db.bindparam("consultation_id"), _opinions.category == db.bindparam("category"))
    .scalar_subquery(),
)
_LOCK_NUMBERING = {
    "postgresql": db.text("SELECT pg_advisory_xact_lock(:namespace, :consultation_id)"),
    # SQLite has one writer at a time: a write that changes nothing makes this transaction it
    "sqlite": db.text("UPDATE consultations SET id = id WHERE id = :consultation_id"),
}


def _lock_numbering(consultation_id: int) -> None:
    """Until this transaction ends, no other one numbers opinions of the consultation (also
    not the database's numbering at commit, :func:`consultation.models.numbering_trigger_sql`).

    The next position and No. are the largest so far plus one: two transactions numbering
    at once would otherwise both read the same largest and give the same No.
    """
    statement = _LOCK_NUMBERING[db.session.get_bind().dialect.name]
    db.session.execute(statement, {"namespace": NUMBERING_LOCK, "consultation_id": consultation_id})


def _next_numbers(consultation: Consultation, category: str | None) -> tuple[int, int]:
    """The next position in the consultation and the next No. in ``category`` (one query).

    Takes the consultation's numbering lock first: the numbers stay free for this
    transaction until it ends.
    """
    _lock_numbering(consultation.id)
    position, number = db.session.execute(
        _NEXT_NUMBERS, {"consultation_id": consultation.id, "category": category}
    ).one()
    return (position or 0) + 1, (number or 0) + 1


def _initial_opinion(
    submission: Submission, *, consultation: Consultation | None = None, at_commit: bool = False
) -> None:
    """A new submission starts as one opinion holding its whole text; officers split it.

    It is appended at the end: it takes the next position and the next No. of its category,
    which is what renumber() would give it — without rewriting every opinion on each
    submission. With ``at_commit`` the database gives them when the transaction commits
    (for a transaction that commits right after, see :func:`submit_web`). With
    ``consultation`` given, the opinion refers to it by its id (see :func:`submit_web`).
    """
    if not submission.body.strip():
        return
    target = consultation or submission.consultation
    category = _first_category(target)
    position, number = (NUMBER_AT_COMMIT, None) if at_commit else _next_numbers(target, category)
    link = {"consultation_id": consultation.id} if consultation is not None else {"consultation": target}
    db.session.add(
        Opinion(
            **link,
            submission=submission,
            position=position,
            summary=submission.body.strip(),
            category=category,
            number=number,
        )
    )
    db.session.flush()


def submit_web(
    consultation: Consultation,
    *,
    body: str,
    name: str = "",
    address: str = "",
    contact: str = "",
    submitter_kind: str = "individual",
    consent: bool = False,
    today: date | None = None,
) -> Submission:
    """Record an opinion sent through the public web form; returns it with its receipt number."""
    today = today or today_jst()
    if not consultation.accepts_on(today):
        raise IntakeError(["この意見募集は現在受け付けていません。"])
    body, masked = mask_my_numbers(body.strip())
    # the submission and its opinion refer to the consultation by its id: through the
    # relationships, the consultation would join the flush for its (unloaded) collections
    # of submissions and opinions, which the unit of work then processes (0.5 ms of a
    # 7 ms submission); nothing here reads those collections before the commit
    submission = Submission(
        consultation_id=consultation.id,
        channel="web",
        received_on=today,
        submitter_kind=submitter_kind,
        name=name.strip(),
        address=address.strip(),
        contact=contact.strip(),
        body=body,
        consent=consent,
        note=_intake_note(masked),
    )
    db.session.add(submission)
    # written by the flush below, with the rows of the submission and its opinion
    audit.record_with_flush(
        submission,
        "create",
        "consultation_submission",
        lambda s: f"Webフォームから意見を受け付け（受付番号 {s.receipt_number}）",
        actor="public",
    )
    # numbered by the database at commit: the numbering lock is then held for the moment of
    # the commit only (the caller commits at once; nothing reads the numbers before)
    _initial_opinion(submission, consultation=consultation, at_commit=True)
    db.session.flush()  # (the submission alone when it has no text to make an opinion of)
    return submission


def add_paper_submission(
    consultation: Consultation,
    *,
    actor,
    channel: str,
    received_on: date,
    submitter_kind: str = "individual",
    name: str = "",
    address: str = "",
    contact: str = "",
    body: str = "",
    scan: tuple[str, bytes] | None = None,
    note: str = "",
) -> Submission:
    """Enter an opinion received by 郵送, 持参 or FAX, with its scanned pages.

    Raises :class:`UploadRejected` for a scan that is not a PDF or image or too large.
    """
    if channel not in PAPER_CHANNELS:
        raise ValueError(f"not a paper channel: {channel}")
    checked = check_scan(*scan) if scan else None
    body, masked = mask_my_numbers((body or "").strip())
    note = "\n".join(n for n in (note, _intake_note(masked)) if n)
    submission = Submission(
        consultation=consultation,
        channel=channel,
        received_on=received_on,
        submitter_kind=submitter_kind,
        name=name.strip(),
        address=address.strip(),
        contact=contact.strip(),
        body=body,
        note=note,
        created_by_id=getattr(actor, "id", None),
    )
    db.session.add(submission)
    if checked:
        _store(submission, checked, scan[1])
        flagged = _content_notes(checked.safe_name, scan[1], checked.content_type)
        if flagged:
            submission.note = "\n".join(n for n in (submission.note, *flagged) if n)
    db.session.flush()
    _initial_opinion(submission)
    return submission


_HEX_TO_LETTERS = str.maketrans("0123456789abcdef", "ghijklmnopabcdef")


def mail_key(fingerprint: str) -> str:
    """What is stored to recognise a message again: a digest of its fingerprint, written
    without digits (a Message-ID may hold a run of digits that reads as a 個人番号, which
    the database guard would mask, and the key would no longer match)."""
    return "m:" + hashlib.sha256(fingerprint.encode("utf-8")).hexdigest().translate(_HEX_TO_LETTERS)


@dataclass
class MailImportResult:
    created: list[Submission] = field(default_factory=list)
    #: (file name, subject, why it is a duplicate)
    duplicates: list[tuple[str, str, str]] = field(default_factory=list)


def import_mail(consultation: Consultation, files: list[tuple[str, bytes]], *, actor) -> MailImportResult:
    """Import opinions sent by e-mail from ``.eml`` files and mbox files.

    All or nothing: when any message cannot be read, :class:`IntakeError` lists every
    problem and nothing is imported. The same message seen twice (in this upload or
    already imported) is skipped and reported as a duplicate.
    """
    from consultation.mail import MailParseError, parse_eml, parse_mbox

    limit = current_app.config.get("CONSULTATION_MAX_MAIL_BYTES", DEFAULT_MAX_MAIL_BYTES)
    errors: list[str] = []
    parsed = []
    for filename, data in files:
        if len(data) > limit:
            errors.append(f"{filename}: ファイルが大きすぎます。")
            continue
        lower = filename.lower()
        try:
            if lower.endswith(".eml"):
                parsed.append((filename, parse_eml(data)))
            elif lower.endswith((".mbox", ".mbx")) or data.lstrip(b"\r\n").startswith(b"From "):
                for item in parse_mbox(data):
                    if isinstance(item, MailParseError):
                        errors.append(f"{filename}: {item}")
                    else:
                        parsed.append((filename, item))
            else:
                errors.append(f"{filename}: .eml または mbox 形式のファイルを選んでください。")
        except MailParseError as error:
            errors.append(f"{filename}: {error}")
    if not files:
        errors.append("ファイルを選んでください。")
    if errors:
        raise IntakeError(errors)

    existing = set(
        db.session.execute(
            db.select(Submission.fingerprint)
            .filter_by(consultation_id=consultation.id)
            .where(Submission.fingerprint.is_not(None))
        ).scalars()
    )
    result = MailImportResult()
    for filename, mail in parsed:
        fingerprint = mail_key(mail.fingerprint)
        if fingerprint in existing:
            result.duplicates.append((filename, mail.subject, "同じメールが既に取り込まれています。"))
            continue
        existing.add(fingerprint)
        received = mail.date.astimezone(JST).date() if mail.date else today_jst()
        body, masked = mask_my_numbers(mail.body.strip())
        subject, masked_subject = mask_my_numbers(mail.subject)
        # the sender's header cannot be corrected by the officer: masked, and said so
        sender_name, masked_name = mask_my_numbers(mail.sender_name)
        sender_address, masked_address = mask_my_numbers(mail.sender_address)
        notes = [n for n in (_intake_note(masked + masked_subject),) if n]
        if masked_name or masked_address:
            notes.append(
                "差出人の名前またはメールアドレスに個人番号と判定される番号があったため、伏せ字にして保存しました。"
            )
        submission = Submission(
            consultation=consultation,
            channel="email",
            received_on=received,
            name=sender_name[:200],
            contact=sender_address[:200],
            subject=subject[:300],
            body=body,
            fingerprint=fingerprint,
            created_by_id=getattr(actor, "id", None),
        )
        db.session.add(submission)
        for attachment in mail.attachments:
            filename, masked_filename = mask_my_numbers(attachment.filename)
            if masked_filename:
                notes.append(
                    f"添付ファイル「{filename}」の名前に個人番号と判定される番号があったため、伏せ字にしました。"
                )
            try:
                checked = check_scan(filename, attachment.data)
            except UploadRejected as rejected:
                notes.append(f"添付ファイル「{filename}」は保存していません（{rejected.message}）")
                continue
            _store(submission, checked, attachment.data)
            notes += _content_notes(filename, attachment.data, checked.content_type)
        submission.note = "\n".join(notes)
        db.session.flush()
        _initial_opinion(submission)
        result.created.append(submission)
    audit.record(
        "import",
        "consultation",
        consultation.id,
        f"電子メールの意見を取り込み（{len(result.created)}件、重複{len(result.duplicates)}件）",
        actor=actor,
    )
    db.session.flush()
    return result


# --- opinions -------------------------------------------------------------------------


def ordered_opinions(consultation: Consultation) -> list[Opinion]:
    return list(
        db.session.execute(
            db.select(Opinion).filter_by(consultation_id=consultation.id).order_by(Opinion.position, Opinion.id)
        ).scalars()
    )


def renumber(consultation: Consultation) -> None:
    """Positions 1..n in the current order; No. 1..n within each category for the opinions
    the report lists (form-letter copies carry no number of their own)."""
    _lock_numbering(consultation.id)
    counters: dict[str, int] = {}
    for position, opinion in enumerate(ordered_opinions(consultation), start=1):
        opinion.position = position
        if opinion.represented_by_id:
            opinion.number = None
            continue
        counters[opinion.category] = counters.get(opinion.category, 0) + 1
        opinion.number = counters[opinion.category]
    db.session.flush()


def split_opinion(opinion: Opinion, parts: list[str], *, actor) -> list[Opinion]:
    """Split an opinion into ``parts`` (the first keeps the opinion; the rest follow it)."""
    parts = [mask_my_numbers(p.strip())[0] for p in parts if p.strip()]
    if len(parts) < 2:
        raise ValueError("分割するには、区切り線（----）で2つ以上に分けてください。")
    consultation = opinion.consultation
    _lock_numbering(consultation.id)
    following = [o for o in ordered_opinions(consultation) if o.position > opinion.position]
    for o in following:
        o.position += len(parts) - 1
    opinion.summary = parts[0]
    created = [opinion]
    for offset, text in enumerate(parts[1:], start=1):
        new = Opinion(
            consultation=consultation,
            submission=opinion.submission,
            position=opinion.position + offset,
            summary=text,
            category=opinion.category,
            topic=opinion.topic,
        )
        db.session.add(new)
        created.append(new)
    db.session.flush()
    renumber(consultation)
    audit.record("update", "consultation_opinion", opinion.id, f"意見を{len(parts)}件に分割", actor=actor)
    return created


def add_opinion(submission: Submission, *, actor, summary: str = "") -> Opinion:
    consultation = submission.consultation
    opinion = Opinion(
        consultation=consultation,
        submission=submission,
        position=_next_position(consultation),
        summary=mask_my_numbers(summary)[0],
        category=_first_category(consultation),
    )
    db.session.add(opinion)
    db.session.flush()
    renumber(consultation)
    return opinion


#: the texts of an opinion that the result report publishes
_PUBLISHED_TEXTS = ("summary", "reply", "topic")


def update_opinion(opinion: Opinion, *, actor, **values) -> None:
    """Change an opinion; a representative's copies follow its category, topic and reply.

    The texts the report publishes (summary, reply, topic) are stored with every 個人番号
    masked, as at intake.
    """
    for key in _PUBLISHED_TEXTS:
        if isinstance(values.get(key), str):
            values[key] = mask_my_numbers(values[key])[0]
    for key, value in values.items():
        setattr(opinion, key, value)
    for copy in opinion.copies:
        _copy_fields(opinion, copy)
    db.session.flush()
    renumber(opinion.consultation)


def move_opinion(opinion: Opinion, direction: int, *, actor) -> None:
    """Move one place up (-1) or down (+1) in the order of the report."""
    _lock_numbering(opinion.consultation_id)
    ordered = ordered_opinions(opinion.consultation)
    index = ordered.index(opinion)
    target = index + direction
    if 0 <= target < len(ordered):
        ordered[index], ordered[target] = ordered[target], ordered[index]
        for position, o in enumerate(ordered, start=1):
            o.position = position
        db.session.flush()
    renumber(opinion.consultation)


def delete_opinion(opinion: Opinion, *, actor) -> None:
    consultation = opinion.consultation
    for copy in list(opinion.copies):
        copy.represented_by = None
    db.session.delete(opinion)
    db.session.flush()
    db.session.expire(consultation, ["opinions"])
    renumber(consultation)


def unanswered_count(consultation: Consultation) -> int:
    return sum(1 for o in consultation.opinions if not o.has_reply)


# --- form letters ---------------------------------------------------------------------

#: similarity from which two submissions count as the same form letter
DEFAULT_THRESHOLD = 0.85


def group_form_letters(consultation: Consultation, *, actor, threshold: float | None = None) -> list[FormLetterGroup]:
    """Group identical or near-identical submissions that are not grouped yet."""
    from consultation.clustering import cluster

    threshold = (
        threshold
        if threshold is not None
        else current_app.config.get("CONSULTATION_FORM_LETTER_THRESHOLD", DEFAULT_THRESHOLD)
    )
    candidates = {s.id: s for s in consultation.submissions if s.group_id is None and s.body.strip()}
    created = []
    for found in cluster([(key, s.body) for key, s in candidates.items()], threshold=threshold):
        if len(found) < 2:
            continue
        group = FormLetterGroup(consultation=consultation, representative_id=found.representative_key)
        db.session.add(group)
        for key in found.keys:
            candidates[key].group = group
            candidates[key].similarity = round(found.similarities[key], 3)
        created.append(group)
    db.session.flush()
    if created:
        audit.record(
            "update",
            "consultation",
            consultation.id,
            f"同一・類似の意見を{len(created)}グループにまとめました",
            actor=actor,
        )
    return created


def _copy_fields(source: Opinion, target: Opinion) -> None:
    target.summary = source.summary
    target.category = source.category
    target.topic = source.topic
    target.target_path = source.target_path
    target.reply = source.reply
    target.changed = source.changed
    target.change_version_id = source.change_version_id
    target.change_path = source.change_path


def answer_group(group: FormLetterGroup, *, actor) -> int:
    """Answer the whole group with the representative's opinions: every other member's
    opinions become copies that follow the representative's. Returns the copies made."""
    representative = group.representative
    if representative is None:
        raise ValueError("代表の意見がありません。")
    source = [o for o in representative.opinions if o.represented_by_id is None]
    if not source:
        raise ValueError("代表の提出について、先に意見を分割・入力してください。")
    made = 0
    consultation = group.consultation
    for member in group.members:
        if member.id == representative.id:
            continue
        for old in list(member.opinions):
            db.session.delete(old)
        db.session.flush()
        for opinion in source:
            copy = Opinion(
                consultation=consultation,
                submission=member,
                position=_next_position(consultation),
                represented_by=opinion,
            )
            _copy_fields(opinion, copy)
            db.session.add(copy)
            db.session.flush()
            made += 1
    db.session.expire(consultation, ["opinions"])
    renumber(consultation)
    audit.record(
        "update",
        "consultation_group",
        group.id,
        f"同一・類似の意見{len(group.members)}件に代表の意見と市の考え方を適用",
        actor=actor,
    )
    return made


def set_representative(group: FormLetterGroup, submission: Submission, *, actor) -> None:
    if submission.group_id != group.id:
        raise ValueError("グループに含まれない提出です。")
    group.representative_id = submission.id
    from consultation.clustering import similarity

    for member in group.members:
        member.similarity = 1.0 if member is submission else round(similarity(submission.body, member.body), 3)
    db.session.flush()


def ungroup(submission: Submission, *, actor) -> None:
    """Take a submission out of its group; its copied opinions become its own again."""
    group = submission.group
    if group is None:
        return
    for opinion in submission.opinions:
        opinion.represented_by = None
    submission.group = None
    submission.similarity = None
    db.session.flush()
    remaining = [m for m in group.members if m.id != submission.id]
    if len(remaining) < 2:
        for member in remaining:
            member.group = None
            member.similarity = None
            for opinion in member.opinions:
                opinion.represented_by = None
        db.session.delete(group)
    elif group.representative_id == submission.id:
        group.representative_id = remaining[0].id
    db.session.flush()
    renumber(submission.consultation)


# --- publication review (masking) -----------------------------------------------------


@dataclass(frozen=True)
class ReviewHit:
    kind: str  #: my_number | phone | email | address
    text: str
    at_intake: bool = False  #: masked when the opinion was received (the number is not stored)


@dataclass
class ReviewItem:
    opinion: Opinion
    field: str  #: "summary" | "reply"
    label: str
    original: str
    masked: str
    hits: list


def published_opinions(consultation: Consultation) -> list[Opinion]:
    """The opinions the report lists (form-letter copies are represented by their original)."""
    return [o for o in ordered_opinions(consultation) if o.represented_by_id is None]


def review_items(consultation: Consultation) -> list[ReviewItem]:
    """Every text that the report will publish, scanned for personal data."""
    items = []
    for opinion in published_opinions(consultation):
        for field_name, label in (("summary", "寄せられたご意見"), ("reply", "市の考え方"), ("topic", "見出し")):
            text = getattr(opinion, field_name) or ""
            result = mask(text)
            hits = [ReviewHit(h.kind, h.text) for h in result.hits]
            hits += [ReviewHit(MY_NUMBER, LABELS[MY_NUMBER], True)] * text.count(LABELS[MY_NUMBER])
            items.append(ReviewItem(opinion, field_name, label, text, result.text, hits))
    return items


def review_digest(consultation: Consultation) -> str:
    payload = [[o.id, o.topic, o.summary, o.reply, o.category] for o in published_opinions(consultation)]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


def review_is_current(consultation: Consultation) -> bool:
    return consultation.review_digest is not None and consultation.review_digest == review_digest(consultation)


def mark_reviewed(consultation: Consultation, *, actor) -> int:
    """Record that the officer has seen every masked text; returns the number of hits."""
    hits = sum(len(item.hits) for item in review_items(consultation))
    consultation.review_digest = review_digest(consultation)
    consultation.reviewed_at = utcnow()
    consultation.reviewed_by_id = getattr(actor, "id", None)
    audit.record(
        "decision",
        "consultation",
        consultation.id,
        f"公表する文面の個人情報の確認を完了（マスキング{hits}箇所）",
        actor=actor,
    )
    db.session.flush()
    return hits


def publish_problems(consultation: Consultation) -> list[str]:
    """What keeps the result report from being published."""
    problems = []
    if consultation.status != "closed":
        problems.append("募集終了後でなければ結果を公表できません。")
    missing = [o for o in published_opinions(consultation) if not o.has_reply]
    if missing:
        problems.append(f"市の考え方が入力されていない意見が{len(missing)}件あります。")
    if not review_is_current(consultation):
        problems.append(
            "公表する文面の個人情報の確認（マスキングの確認）が済んでいないか、確認後に内容が変更されています。"
        )
    return problems


def publish_result(consultation: Consultation, *, actor, on: date | None = None) -> None:
    problems = publish_problems(consultation)
    if problems:
        raise ValueError(" ".join(problems))
    consultation.reported_on = on or today_jst()
    consultation.mark_reported(actor=actor)
    db.session.flush()


def channel_choices(consultation: Consultation | None = None):
    return [
        (key, label) for key, label in CHANNELS.items() if consultation is None or key in (consultation.channels or [])
    ]


# --- the draft put out for comment ----------------------------------------------------


def draft_view(consultation: Consultation):
    """The sections of the draft as put out for comment (from the kept snapshot), for
    ``templates/pia/assessments/_document.html``; None before the consultation opened."""
    document = consultation.snapshot_document()
    if document is None:
        return None
    from pia.assessments.render import document_view

    return document_view(consultation.version, document=document)


def draft_pdf(consultation: Consultation) -> bytes:
    """The PDF of the draft as put out for comment (marked 「案」), from the kept snapshot."""
    document = consultation.snapshot_document()
    if document is None:
        raise ValueError("the consultation has not opened")
    from pia.publication.pdf import render_version

    return render_version(consultation.version, document=document).pdf


def draft_filename(consultation: Consultation) -> str:
    """「<評価書名>_第2版_案.pdf」, the name taken from the kept draft's cover."""
    document = consultation.snapshot_document() or {}
    cover = document.get("cover") if isinstance(document.get("cover"), dict) else {}
    name = cover.get("name") or consultation.version.assessment.title
    return f"{name}_{consultation.version.label}_案.pdf".replace("/", "／").replace(" ", "_")


# --- closing --------------------------------------------------------------------------


def close_consultation(consultation: Consultation, *, actor, reason: str = "", today: date | None = None) -> None:
    """締切: end the intake. Before the end of the period it needs ``reason`` (特段の理由,
    printed in section VI); raises :class:`consultation.models.InvalidTransition`."""
    consultation.close(actor=actor, reason=reason, today=today or today_jst())
    db.session.flush()


def record_early_close_reason(consultation: Consultation, *, actor, reason: str) -> None:
    """Record the 特段の理由 of a consultation closed before the end of its period without
    one (closed before the reason was asked for)."""
    reason = (reason or "").strip()
    if not consultation.closed_early:
        raise ValueError("この意見募集は募集期間の終了前に締め切られていません。")
    if not reason:
        raise ValueError("締め切った特段の理由を入力してください。")
    before = consultation.early_close_reason
    consultation.early_close_reason = reason
    audit.record(
        "update",
        "consultation",
        consultation.id,
        f"意見募集「{consultation.title}」の締め切った特段の理由を記録",
        before={"early_close_reason": before},
        after={"early_close_reason": reason},
        actor=actor,
    )
    db.session.flush()
