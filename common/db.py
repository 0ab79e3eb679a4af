"""The database handle, the metadata naming convention and database-level guards.

Guards that must hold even against a direct SQL session (append-only tables, immutable
rows) are written as triggers for SQLite and PostgreSQL. They are created with the tables
(``after_create``) for tests and by the migrations in production; see :func:`guard`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

#: JSON stored as JSONB on PostgreSQL, JSON text elsewhere.
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware datetimes, stored as UTC; SQLite gives them back aware too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


@contextmanager
def savepoint() -> Iterator:
    """``db.session.begin_nested()`` that stays inside the session's transaction on every engine.

    SQLite's driver opens a transaction only before a write; a SAVEPOINT issued first would
    open one of its own, and releasing it would commit at once, out of reach of the request's
    rollback. So on SQLite the transaction is begun first when none is open.
    """
    conn = db.session.connection()
    if conn.dialect.name == "sqlite" and not conn.connection.dbapi_connection.in_transaction:
        conn.exec_driver_sql("BEGIN")
    with db.session.begin_nested() as nested:
        yield nested


class GuardViolation(Exception):
    """An attempt to change rows that the database keeps immutable."""


#: (table, trigger name, {dialect: [statements]}) for every trigger of the models, in creation order
TRIGGERS: list[tuple[str, str, dict[str, list[str]]]] = []


def guard_sql(
    table: str,
    name: str,
    *,
    operations=("UPDATE", "DELETE"),
    when: str | None = None,
    message: str = "immutable row",
    delete_allowed_when: str | None = None,
) -> dict[str, list[str]]:
    """SQL creating a trigger that aborts ``operations`` on ``table`` (when ``when`` holds of OLD).

    ``delete_allowed_when`` is the one way around it: a condition on OLD (a subquery of a marker
    table, say) under which a DELETE passes. ``evidence.retention`` opens it, inside its own
    transaction, for the batches it archives; any other DELETE is still refused.
    """

    def condition(op: str | None) -> str | None:
        if not (delete_allowed_when and op in ("DELETE", None)):
            return when
        allowed = delete_allowed_when if op else f"TG_OP = 'DELETE' AND {delete_allowed_when}"
        return " AND ".join([*([f"({when})"] if when else []), f"NOT ({allowed})"])

    sqlite = []
    for op in operations:
        cond = condition(op)
        sqlite.append(
            f"CREATE TRIGGER {name}_{op.lower()} BEFORE {op} ON {table} FOR EACH ROW{f' WHEN {cond}' if cond else ''} "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )
    pg_when = condition(None if "DELETE" in operations else operations[0])
    pg_cond = f"IF {pg_when} THEN " if pg_when else ""
    pg_end = " END IF;" if pg_when else ""
    postgres = [
        f"CREATE OR REPLACE FUNCTION {name}_fn() RETURNS trigger AS $$ BEGIN "
        f"{pg_cond}RAISE EXCEPTION '{message}';{pg_end} "
        f"IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
        f"CREATE TRIGGER {name} BEFORE {' OR '.join(operations)} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}_fn()",
    ]
    return {"sqlite": sqlite, "postgresql": postgres}


def trigger(table: sa.Table, name: str, statements: dict[str, list[str]]) -> None:
    """Attach a database trigger to ``table``: ``statements`` per dialect create it.

    The statements run when the table is created from the models (the tests); migrations
    emit the same SQL, and a test checks that every registered trigger exists after
    ``flask db upgrade``.
    """
    TRIGGERS.append((table.name, name, statements))
    for dialect, stmts in statements.items():
        for stmt in stmts:
            sa.event.listen(table, "after_create", sa.DDL(stmt).execute_if(dialect=dialect))


def guard(table: sa.Table, name: str, **kwargs) -> None:
    """Attach a database trigger that keeps rows of ``table`` from changing (:func:`guard_sql`)."""
    trigger(table, name, guard_sql(table.name, name, **kwargs))


def drop_trigger(connection, table: str, name: str) -> None:
    """Drop a trigger (on PostgreSQL with its function ``{name}_fn()``) (migrations' downgrade)."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    elif connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name}_fn()")


def drop_guard_sql(connection, table: str, name: str, operations=("UPDATE", "DELETE")) -> None:
    """Drop a guard created from :func:`guard_sql` (used by migrations' downgrade)."""
    if connection.dialect.name == "sqlite":
        for op in operations:
            drop_trigger(connection, table, f"{name}_{op.lower()}")
    else:
        drop_trigger(connection, table, name)


def dialect_insert(table: sa.Table):
    """An INSERT of ``table`` for the engine of ``db.session``, with ``on_conflict_do_*``
    (SQLite and PostgreSQL spell the upsert alike; SQLAlchemy builds it per dialect)."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()


@contextmanager
def unit_of_work() -> Iterator[None]:
    """A door's transaction (a CLI command, a request, a file of the drop folder): commit the
    session when the block ends, roll it back when it raises. Services only flush, so what
    they wrote in the block is stored all together or not at all."""
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
