"""The audit trail: who changed what, when, with the values before and after.

Every model with ``__audit__ = True`` is recorded automatically on flush (create, update,
delete). Logins, state transitions and other events are recorded with :func:`record`.
The acting user comes from the request (Flask-Login) or from :func:`acting_as` in the CLI.

No 個人番号 is ever written to the trail, which is append-only and cannot be corrected
afterwards: every value of every row (the actor's name, the object's id, the summary, the
values before and after — also a user ID typed into the login form) goes through
:func:`common.mynumber_guard.scrub` on its way in, also on the bulk path that bypasses
the ORM's flush.
"""

from __future__ import annotations

import contextlib
import contextvars
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import has_request_context, request
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from common.db import db, utcnow
from common.models import AuditEvent
from common.mynumber_guard import scrub

#: audit rows written by one INSERT statement
WRITE_BATCH = 500

_cli_actor: contextvars.ContextVar = contextvars.ContextVar("hyoka_cli_actor", default=None)

ACTIONS = {
    "create": "作成",
    "update": "更新",
    "delete": "削除",
    "transition": "状態の変更",
    "login": "ログイン",
    "login_failed": "ログイン失敗",
    "logout": "ログアウト",
    "sessions_ended": "セッションの終了",
    "import": "取込",
    "export": "出力",
    "decision": "判断",
}


@contextlib.contextmanager
def acting_as(actor):
    """Attribute changes made inside the block to ``actor`` (a User or a label such as 'cli')."""
    token = _cli_actor.set(actor)
    try:
        yield
    finally:
        _cli_actor.reset(token)


def _current_actor():
    actor = _cli_actor.get()
    if actor is not None:
        return actor
    if has_request_context():
        from flask_login import current_user

        if current_user and getattr(current_user, "is_authenticated", False):
            return current_user
        return "anonymous"
    return "system"


def _actor_fields(actor):
    if isinstance(actor, str):
        return None, actor
    return actor.id, f"{actor.display_name} ({actor.username})"


def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (str, int, float, bool, type(None), list, dict)):
        return value
    return str(value)


def _ip():
    return request.remote_addr if has_request_context() else None


def _safe(row: dict) -> dict:
    """``row`` with every 個人番号 masked in each of its values (text and JSON alike)."""
    return {key: scrub(value) for key, value in row.items()}


def record(
    action: str,
    object_type: str,
    object_id=None,
    summary: str = "",
    *,
    before=None,
    after=None,
    actor=None,
    session: Session | None = None,
) -> AuditEvent:
    """Add an audit event to the session (committed with the rest of the request)."""
    actor_id, actor_name = _actor_fields(actor if actor is not None else _current_actor())
    ev = AuditEvent(
        **_safe(
            {
                "at": utcnow(),
                "actor_id": actor_id,
                "actor_name": actor_name,
                "action": action,
                "object_type": object_type,
                "object_id": None if object_id is None else str(object_id),
                "summary": summary,
                "before": before,
                "after": after,
                "ip": _ip(),
            }
        )
    )
    (session or db.session).add(ev)
    return ev


def record_with_flush(
    obj, action: str, object_type: str, summary, *, actor=None, session: Session | None = None
) -> None:
    """Like :func:`record`, for an event about ``obj`` that is not flushed yet: the row is
    written by the flush that inserts ``obj``, in the same INSERT as that flush's own audit
    rows (no second flush and INSERT at commit). ``summary`` is a function of ``obj``,
    called once the flush has given it its id and defaults."""
    session = session or db.session
    if not inspect(obj).pending:
        record(action, object_type, _object_id(obj), summary(obj), actor=actor, session=session)
        return
    session.info.setdefault("hyoka_audit_notes", []).append((obj, action, object_type, summary, actor))


def _columns(obj):
    exclude = getattr(obj, "__audit_exclude__", set())
    return [c for c in inspect(obj).mapper.column_attrs if c.key not in exclude]


def _snapshot(obj):
    return {attr.key: _plain(getattr(obj, attr.key)) for attr in _columns(obj)}


def _changes(obj):
    state = inspect(obj)
    before, after = {}, {}
    for attr in _columns(obj):
        hist = state.attrs[attr.key].history
        if hist.has_changes():
            old = hist.deleted[0] if hist.deleted else None
            new = hist.added[0] if hist.added else None
            if _plain(old) != _plain(new):
                before[attr.key] = _plain(old)
                after[attr.key] = _plain(new)
    return before, after


def _object_id(obj):
    ident = inspect(obj).mapper.primary_key_from_instance(obj)
    if not ident or all(i is None for i in ident):
        return None
    return str(ident[0]) if len(ident) == 1 else "/".join(str(i) for i in ident)


def _is_audited(obj):
    return getattr(type(obj), "__audit__", False)


@event.listens_for(Session, "before_flush")
def _collect(session, flush_context, instances):
    pending = session.info.setdefault("hyoka_audit", [])
    for obj in session.new:
        if _is_audited(obj):
            pending.append(("create", obj, None, None))
    for obj in session.dirty:
        if _is_audited(obj) and session.is_modified(obj, include_collections=False):
            before, after = _changes(obj)
            if before or after:
                pending.append(("update", obj, before, after))
    for obj in session.deleted:
        if _is_audited(obj):
            pending.append(("delete", obj, _snapshot(obj), None))


@event.listens_for(Session, "after_flush")
def _write(session, flush_context):
    pending = session.info.pop("hyoka_audit", [])
    notes = session.info.pop("hyoka_audit_notes", [])
    if not pending and not notes:
        return
    actor_id, actor_name = _actor_fields(_current_actor())
    ip = _ip()
    rows = []
    for action, obj, before, after in pending:
        if action == "create":
            after = _snapshot(obj)
        rows.append(
            {
                "at": utcnow(),
                "actor_id": actor_id,
                "actor_name": actor_name,
                "action": action,
                "object_type": type(obj).__name__,
                "object_id": _object_id(obj),
                "summary": "",
                "before": before,
                "after": after,
                "ip": ip,
            }
        )
    for obj, action, object_type, summary, actor in notes:
        note_actor_id, note_actor_name = (actor_id, actor_name) if actor is None else _actor_fields(actor)
        rows.append(
            {
                "at": utcnow(),
                "actor_id": note_actor_id,
                "actor_name": note_actor_name,
                "action": action,
                "object_type": object_type,
                "object_id": _object_id(obj),
                "summary": summary(obj),
                "before": None,
                "after": None,
                "ip": ip,
            }
        )
    rows = [_safe(row) for row in rows]
    connection = session.connection()
    for start in range(0, len(rows), WRITE_BATCH):
        batch = rows[start : start + WRITE_BATCH]
        stmt = _insert_rows(len(batch))
        if stmt is None:
            connection.execute(sa.insert(AuditEvent.__table__).values(batch))
        else:
            connection.execute(
                stmt, {f"{column}_{i}": row[column] for i, row in enumerate(batch) for column in _COLUMNS}
            )


@event.listens_for(Session, "after_rollback")
def _forget(session):
    """Rows of a flush that failed (the objects were not written) are not kept for the next."""
    session.info.pop("hyoka_audit", None)
    session.info.pop("hyoka_audit_notes", None)


_COLUMNS = ("at", "actor_id", "actor_name", "action", "object_type", "object_id", "summary", "before", "after", "ip")
#: row counts that come back (a request's few rows, a bulk import's full batches)
_KEPT_COUNTS = frozenset(range(1, 17)) | {WRITE_BATCH}
_INSERTS: dict[int, sa.TextClause] = {}


def _insert_rows(count: int) -> sa.TextClause | None:
    """The audit rows go in one INSERT … VALUES (…), (…) per batch: a single round trip
    without the pipeline an executemany goes through (batches keep under PostgreSQL's
    65,535 bound parameters). SQLAlchemy does not cache the compiled form of a multi-row
    insert() and compiles it anew each time; for the row counts that come back, the
    statement is text, made once per process, whose compiled form is cached. None for
    another count (a bulk import's last batch): the caller compiles an insert() once."""
    if count not in _KEPT_COUNTS:
        return None
    stmt = _INSERTS.get(count)
    if stmt is None:
        table = AuditEvent.__table__
        rows = ", ".join("(" + ", ".join(f":{column}_{i}" for column in _COLUMNS) + ")" for i in range(count))
        stmt = _INSERTS[count] = sa.text(f"INSERT INTO {table.name} ({', '.join(_COLUMNS)}) VALUES {rows}").bindparams(
            *(sa.bindparam(f"{column}_{i}", type_=table.c[column].type) for i in range(count) for column in _COLUMNS)
        )
    return stmt


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse(mapper, connection, target):
    raise ValueError("the audit trail is append-only")
