"""The ten checks: what the stored evidence shows against what the assessment declares.

Every check is set-based SQL (SQLAlchemy Core, run on SQLite and PostgreSQL): the
per-user-day summary (:class:`evidence.models.AccessDay`) narrows the work to the few
user-days worth looking at, and the events are then reached through their
``(system, user_id, occurred_at, result, event_id)`` index (which holds all they read) and
their ``(user_id, subject_id)`` index — no Python loop ever walks the events. Parameters live in :class:`evidence.models.CheckConfig` (defaults
below); each check names the assessment items (paths of ``pia/schemas/zenkoumoku-2024.yaml``)
it gives evidence for.

``run_checks(...)`` computes the findings and upserts them by their stable key, so a second
run over the same data yields the same findings and keeps their triage.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from common.db import UTCDateTime, db, utcnow
from evidence import explanations
from evidence.explain import explain
from evidence.models import (
    AccessDay,
    AccessEvent,
    Assignment,
    CheckConfig,
    Finding,
    Grant,
    Provision,
    Relation,
    event_facts,
)
from evidence.sql import dialect, json_object

TOKYO = ZoneInfo("Asia/Tokyo")
UTC = UTC


@dataclass(frozen=True)
class CheckDef:
    name: str
    title: str
    description: str
    severity: str
    #: default parameters; an administrator's CheckConfig row overrides them
    defaults: dict = field(default_factory=dict)
    #: (schema item path, label) of the assessment items this check gives evidence for
    items: tuple[tuple[str, str], ...] = ()
    #: ``event`` | ``user_day`` | ``user_system`` | ``record``
    key_kind: str = "event"
    #: never suppressed by settings: always run, at its own severity (parameters still apply)
    always: bool = False


_USE_R2 = "III 3. 特定個人情報の使用 リスク2"
ITEM_GRANT_MGMT = ("risks/files/use/risk2/grant_management", f"{_USE_R2}「アクセス権限の管理」")
ITEM_GRANT_LIFE = ("risks/files/use/risk2/grant_lifecycle", f"{_USE_R2}「アクセス権限の発効・失効の管理」")
ITEM_USAGE_LOG = ("risks/files/use/risk2/usage_log", f"{_USE_R2}「特定個人情報の使用の記録」")
ITEM_AUTH = ("risks/files/use/risk2/authentication", f"{_USE_R2}「ユーザ認証の管理」")
ITEM_OUTSIDE_WORK = (
    "risks/files/use/risk3/measures",
    "III 3. 特定個人情報の使用 リスク3「従業者が事務外で使用するリスク」",
)
ITEM_COPY = (
    "risks/files/use/risk4/measures",
    "III 3. 特定個人情報の使用 リスク4「特定個人情報ファイルが不正に複製されるリスク」",
)
ITEM_PROVISION_BASIS = (
    "basic/network/basis/provision_items",
    "I 6. 情報提供ネットワークシステムによる情報連携「情報提供の根拠」",
)
ITEM_INQUIRY = ("basic/network/basis/inquiry", "I 6. 情報提供ネットワークシステムによる情報連携「情報照会の実施」")
ITEM_NW_PROVIDE = (
    "risks/files/network/risk5/measures",
    "III 6. 情報提供ネットワークシステムとの接続 リスク5「不正な提供が行われるリスク」",
)
ITEM_NW_INQUIRE = (
    "risks/files/network/risk1/measures",
    "III 6. 情報提供ネットワークシステムとの接続 リスク1「目的外の入手が行われるリスク」",
)

CHECKS: dict[str, CheckDef] = {
    c.name: c
    for c in [
        CheckDef(
            "no_grant",
            "権限のない操作",
            "その時点で有効な権限を持たない利用者による操作",
            "high",
            {},
            (ITEM_GRANT_MGMT, ITEM_USAGE_LOG),
        ),
        CheckDef(
            "after_transfer",
            "異動後の操作",
            "権限は有効だが、システムの利用を認められた所属に配置されていない利用者による操作",
            "high",
            {},
            (ITEM_GRANT_LIFE, ITEM_GRANT_MGMT),
        ),
        CheckDef(
            "stale_grant",
            "異動後も残る権限",
            "利用を認められた所属をすべて離れてから一定日数を過ぎても有効な権限",
            "medium",
            {"days": 14},
            (ITEM_GRANT_LIFE,),
            "user_system",
        ),
        CheckDef(
            "self_or_family",
            "本人・家族の記録の参照",
            "職員本人またはその世帯・親族の住民記録に対する操作",
            "high",
            {},
            (ITEM_OUTSIDE_WORK, ITEM_USAGE_LOG),
        ),
        CheckDef(
            "after_hours",
            "時間外・閉庁日の操作",
            "業務時間外、土日、祝日、年末年始(12月29日〜1月3日)の操作",
            "low",
            {"start": "08:00", "end": "19:00", "systems": {}},
            (ITEM_OUTSIDE_WORK, ITEM_USAGE_LOG),
        ),
        CheckDef(
            "bulk_access",
            "大量参照",
            "1人が1日に一定数を超える住民の記録を操作",
            "medium",
            {"subjects": 200},
            (ITEM_COPY, ITEM_OUTSIDE_WORK),
            "user_day",
        ),
        CheckDef(
            "denied_spike",
            "拒否の急増",
            "1人が1日に一定回数を超えて操作を拒否された",
            "medium",
            {"denied": 10},
            (ITEM_AUTH, ITEM_GRANT_MGMT),
            "user_day",
        ),
        CheckDef(
            "dormant_grant",
            "使われていない権限",
            "一定日数使われていない有効な権限",
            "low",
            {"days": 90},
            (ITEM_GRANT_MGMT,),
            "user_system",
        ),
        CheckDef(
            "provision_outside_basis",
            "根拠外の提供",
            "評価書が情報提供の根拠として記載していない主務省令第2条の表の項による提供",
            "high",
            {"info_item_affairs": {"住民票関係情報": "juki"}},
            (ITEM_PROVISION_BASIS, ITEM_NW_PROVIDE),
            "record",
        ),
        CheckDef(
            "inquiry_declared_none",
            "照会しないとした事務の照会",
            "評価書で情報照会を行わないとした事務による情報照会",
            "high",
            {"info_item_affairs": {"住民票関係情報": "juki"}},
            (ITEM_INQUIRY, ITEM_NW_INQUIRE),
            "record",
        ),
        CheckDef(
            "protected_subject",
            "支援措置対象者の記録の操作",
            "支援措置(DV・ストーカー等)の対象の住民の記録に対する、業務上の説明(所属が扱った受付記録)のない操作",
            "high",
            {},
            (ITEM_OUTSIDE_WORK, ITEM_USAGE_LOG),
            always=True,
        ),
        CheckDef(
            "coworker_record",
            "職員の記録の参照",
            "他の職員本人の住民記録に対する、業務上の説明(所属が扱った受付記録)のない操作",
            "high",
            {},
            (ITEM_OUTSIDE_WORK, ITEM_USAGE_LOG),
        ),
        CheckDef(
            "unexplained_access",
            "説明のない参照",
            "受付記録のあるシステムで、1人が1日に一定数以上の住民の記録を操作し、その多くに業務上の説明"
            "(前後の開庁日に所属が扱った受付記録)がない",
            "medium",
            {
                "subjects": 20,
                "percent": 50,
                "before": explanations.DEFAULT_BEFORE,
                "after": explanations.DEFAULT_AFTER,
                "windows": {},
            },
            (ITEM_OUTSIDE_WORK, ITEM_COPY, ITEM_USAGE_LOG),
            "user_day",
        ),
    ]
}

# ---------------------------------------------------------------------------
# Configuration and context
# ---------------------------------------------------------------------------


@dataclass
class CheckSettings:
    enabled: bool
    severity: str
    params: dict


def settings_for(name: str) -> CheckSettings:
    """The effective settings of a check: defaults overlaid with the stored CheckConfig."""
    check = CHECKS[name]
    row = db.session.get(CheckConfig, name)
    params = dict(check.defaults)
    if row is not None:
        params.update(row.params or {})
    if check.always:
        return CheckSettings(enabled=True, severity=check.severity, params=params)
    return CheckSettings(
        enabled=True if row is None else row.enabled,
        severity=(row.severity if row is not None and row.severity else check.severity),
        params=params,
    )


def save_settings(name: str, *, enabled: bool, severity: str | None, params: dict) -> CheckConfig:
    row = db.session.get(CheckConfig, name)
    if row is None:
        row = CheckConfig(check=name)
        db.session.add(row)
    row.enabled, row.severity, row.params = enabled, severity, params
    return row


def declared_basis(affair_code: str):
    """What the assessment of ``affair_code`` declares (``pia.assessments.services.declared_basis``)."""
    try:
        from pia.assessments import services
    except ImportError:
        return None
    func = getattr(services, "declared_basis", None)
    return func(affair_code) if func else None


def closed_days(start: date, end: date) -> list[date]:
    """Weekends, national holidays (``holidays.Japan``) and 12/29–1/3 between start and end."""
    import holidays  # imported here: only a check needs it, not every command at start-up

    jp = holidays.Japan(years=range(start.year, end.year + 1))
    out = []
    day = start
    while day <= end:
        if day.weekday() >= 5 or day in jp or (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3):
            out.append(day)
        day += timedelta(days=1)
    return out


#: Systems that operate every day (24/365), by system code: ``HYOKA_EVIDENCE_OPEN_EVERY_DAY``
#: in the app config (a list of codes, or a comma-separated string from the environment).
OPEN_EVERY_DAY_KEY = "HYOKA_EVIDENCE_OPEN_EVERY_DAY"


def open_every_day() -> set[str]:
    """Codes of the systems configured to operate every day (no closed days)."""
    from flask import current_app

    value = current_app.config.get(OPEN_EVERY_DAY_KEY) or ()
    if isinstance(value, str):
        value = value.split(",")
    return {code.strip() for code in value if code.strip()}


def operating_days(system: str, days: list[date]) -> list[date]:
    """The days of ``days`` on which ``system`` operates: every day for a system configured as
    open every day, otherwise the business days (no weekend, holiday or 12/29–1/3)."""
    if not days or system in open_every_day():
        return list(days)
    closed = set(closed_days(min(days), max(days)))
    return [day for day in days if day not in closed]


def day_start_utc(day: date) -> datetime:
    return datetime.combine(day, time(), TOKYO).astimezone(UTC)


@dataclass
class Period:
    """JST days ``start``..``end`` (inclusive); None when unbounded."""

    start: date | None = None
    end: date | None = None

    @property
    def as_of(self) -> date:
        """The day grants are judged on: the period's end, else the last day with data."""
        from common.timeutil import today_jst

        if self.end:
            return self.end
        bounds = self.bounds()
        return bounds[1] if bounds else today_jst()

    def event_filter(self, column):
        conds = []
        if self.start:
            conds.append(column >= day_start_utc(self.start))
        if self.end:
            conds.append(column < day_start_utc(self.end + timedelta(days=1)))
        return sa.and_(sa.true(), *conds)

    def day_filter(self, column):
        conds = []
        if self.start:
            conds.append(column >= self.start)
        if self.end:
            conds.append(column <= self.end)
        return sa.and_(sa.true(), *conds)

    def bounds(self) -> tuple[date, date] | None:
        """Concrete first and last day (from the data when unbounded); None without data."""
        d = AccessDay.__table__
        p = Provision.__table__
        lo, hi = self.start, self.end
        if lo is None or hi is None:
            row = db.session.execute(sa.select(sa.func.min(d.c.day), sa.func.max(d.c.day))).one()
            prow = db.session.execute(sa.select(sa.func.min(p.c.occurred_at), sa.func.max(p.c.occurred_at))).one()
            days = [x for x in (row[0], row[1]) if x is not None]
            days += [x.astimezone(TOKYO).date() for x in prow if x is not None]
            if not days:
                return None
            lo = lo or min(days)
            hi = hi or max(days)
        return lo, hi


# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------


def clock_before(column, day_start, clock: str):
    """SQL: the UTC timestamp ``column``, which falls on the JST day starting at the instant
    ``day_start``, is before the JST wall-clock time ``clock`` ('HH:MM:SS') of that day."""
    if dialect() == "postgresql":
        # a timestamp comparison: no per-row formatting (Japan keeps no summer time)
        return column < day_start + sa.cast(sa.literal(clock), sa.Interval)
    return sa.func.time(column, "+9 hours") < clock


def effective(table, key_cols: tuple[str, ...]):
    """Rows of an append-only versioned table that no later row of the same key supersedes."""
    later = table.alias()
    return (
        sa.and_(*[])
        if not key_cols
        else ~sa.exists().where(*[later.c[c] == table.c[c] for c in key_cols], later.c.id > table.c.id)
    )


GRANT_KEY = ("system", "user_id", "role", "granted_at")
ASSIGNMENT_KEY = ("user_id", "department", "start_date")
RELATION_KEY = ("user_id", "subject_id")


def grant_active_on(g, day_col):
    """A grant is in force from granted_at up to and including revoked_at."""
    return sa.and_(g.c.granted_at <= day_col, sa.or_(g.c.revoked_at.is_(None), g.c.revoked_at >= day_col))


def assignment_on(a, day_col):
    return sa.and_(a.c.start_date <= day_col, sa.or_(a.c.end_date.is_(None), a.c.end_date >= day_col))


def authorised_departments() -> dict[str, set[str]]:
    """System code -> the departments (by name and by code, as feeds may write either) the
    inventory authorises to use it."""
    from common.models import Department
    from pia.inventory.models import System
    from pia.inventory.models import system_departments as sd

    dept, sys_ = Department.__table__, System.__table__
    out: dict[str, set[str]] = {}
    for system, name, code in db.session.execute(
        sa.select(sys_.c.code, dept.c.name, dept.c.code).select_from(
            sys_.join(sd, sd.c.system_id == sys_.c.id).join(dept, dept.c.id == sd.c.department_id)
        )
    ):
        out.setdefault(system, set()).update((name, code))
    return out


def authorised_for(auth: dict[str, set[str]], system_col, department_col):
    """SQL: ``department_col`` is authorised for ``system_col`` (the few pairs as literals,
    which the planner sees exactly, instead of a subquery it runs once per candidate)."""
    return sa.or_(
        sa.false(),
        *[sa.and_(system_col == system, department_col.in_(sorted(depts))) for system, depts in sorted(auth.items())],
    )


def _jst(value: datetime) -> datetime:
    return value.astimezone(TOKYO)


# ---------------------------------------------------------------------------
# Storing findings
# ---------------------------------------------------------------------------
#
# A finding row holds the facts (check, key, system, user, event or record, day, time,
# severity, details); its Japanese explanation is written from them when shown
# (:func:`evidence.explain.explain`). Event checks store their findings with one
# ``INSERT … SELECT … ON CONFLICT (check, key) DO NOTHING`` each, so the events never travel
# to Python and a finding already stored — with its triage — is left as it is.

FINDING_COLUMNS = (
    "check",
    "key",
    "system",
    "user_id",
    "event_id",
    "record_id",
    "day",
    "occurred_at",
    "severity",
    "details",
    "found_at",
)


def _insert():
    table = Finding.__table__
    if dialect() == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


@dataclass
class _FindingStore:
    """Where the findings of the check being run go (one per check and run, passed to its
    runner): stored when their key is new and, when earlier findings of the period are to
    be swept (see :func:`_sweep`), kept: SQL findings in a temporary table, the keys of
    findings computed in Python in a set."""

    sweep: bool
    table: sa.Table | None = None
    keys: set = field(default_factory=set)

    def select(self, select: sa.Select) -> int:
        """Store the findings ``select`` yields (columns in FINDING_COLUMNS order) whose key
        is not stored yet; returns how many. An anti-join rather than ON CONFLICT: a third
        cheaper on PostgreSQL, and safe because runs are serialised (:func:`run_checks`).
        When sweeping, the rows go through a temporary table first, so the SELECT runs
        once for storing and sweeping."""
        f = Finding.__table__
        new: sa.Table | sa.Subquery
        if self.sweep:
            if self.table is None:
                self.table = _found_table()
                self.table.create(db.session.connection())
            db.session.execute(sa.insert(self.table).from_select(list(FINDING_COLUMNS), select))
            new = self.table
        else:
            new = select.subquery("found")
        if dialect() == "sqlite":
            # the key's unique index is probed by the INSERT anyway: an anti-join would probe
            # it once more per row (SQLite reads "WHERE 1" so as to parse the ON CONFLICT)
            stmt = (
                _insert()
                .from_select(list(FINDING_COLUMNS), sa.select(*new.c).where(sa.true()))
                .on_conflict_do_nothing(index_elements=["check", "key"])
            )
        else:
            stmt = sa.insert(f).from_select(
                list(FINDING_COLUMNS),
                sa.select(*new.c).where(~sa.exists().where(f.c.check == new.c.check, f.c.key == new.c.key)),
            )
        with _hash_joins(isinstance(new, sa.Table)):
            # SQLAlchemy keeps an INSERT's rowcount only when asked
            return _rowcount(stmt.execution_options(preserve_rowcount=True))

    def rows(self, rows: list[dict]) -> int:
        """Store findings computed in Python (the small checks); returns how many were new."""
        if self.sweep:
            self.keys.update(row["key"] for row in rows)
        now = utcnow()
        values = [{**{c: row.get(c) for c in FINDING_COLUMNS}, "found_at": now} for row in rows]
        # one statement compiled once, sent as an executemany (SQLAlchemy batches it into
        # multi-row INSERTs itself): a ``.values(list)`` per 500 rows was compiled anew each
        # time, about 2.5 ms per finding, which made the check suite cost seconds as soon as a
        # check found thousands of rows. The rows it returns are the new ones.
        stmt = _insert().on_conflict_do_nothing(index_elements=["check", "key"]).returning(Finding.__table__.c.id)
        new = 0
        for i in range(0, len(values), 1000):
            new += len(db.session.execute(stmt, values[i : i + 1000]).all())
        return new


def _found_table() -> sa.Table:
    """The temporary table that holds what a check's SELECTs produced, for one check."""
    f = Finding.__table__
    return sa.Table(
        "hyoka_found",
        sa.MetaData(),
        *[sa.Column(name, f.c[name].type) for name in FINDING_COLUMNS],
        prefixes=["TEMPORARY"],
    )


@contextmanager
def _hash_joins(wanted: bool = True):
    """On PostgreSQL, plan the statements inside without nested loops. For joins of the
    temporary table and of findings stored moments ago: neither has statistics yet
    (autovacuum analyses them later), so both look like a row or two and a nested loop
    over thousands of rows (seconds) would be chosen; hash joins are right at any size."""
    if not wanted or dialect() != "postgresql":
        yield
        return
    db.session.execute(sa.text("SET LOCAL enable_nestloop = off"))
    try:
        yield
    finally:
        db.session.execute(sa.text("SET LOCAL enable_nestloop = on"))


def _events_on_candidate_days(e, cand):
    """The events of each candidate (system, user, day) row: ``e`` joined to ``cand`` by the day's bounds."""
    return e.join(
        cand,
        sa.and_(
            e.c.system == cand.c.system,
            e.c.user_id == cand.c.user_id,
            e.c.occurred_at >= cand.c.day_start,
            e.c.occurred_at < cand.c.day_end,
        ),
    )


def _event_select(check: str, cfg: CheckSettings, events, day, where, **details):
    """SELECT of event findings: ``events`` is the access table (or an alias), ``day`` the
    JST day of the event, ``details`` the facts the event itself does not hold (its action,
    subject and result are read from it when the finding is shown: ``Finding.facts``)."""
    e = events
    return sa.select(
        sa.literal(check).label("check"),
        (e.c.system + sa.literal("/") + e.c.event_id).label("key"),
        e.c.system,
        e.c.user_id,
        e.c.event_id,
        sa.null().label("record_id"),
        day.label("day"),
        e.c.occurred_at,
        sa.literal(cfg.severity).label("severity"),
        (json_object(details) if details else _empty_json()).label("details"),
        sa.literal(utcnow(), UTCDateTime()).label("found_at"),
    ).where(*where)


def _rowcount(statement) -> int:
    """Rows an INSERT or UPDATE wrote (a DML statement's result is a CursorResult)."""
    result = db.session.execute(statement)
    assert isinstance(result, sa.CursorResult)
    return result.rowcount


def _empty_json():
    """SQL: the constant empty JSON object (one value for every row, not built per row)."""
    if dialect() == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        return sa.cast(sa.literal_column("'{}'"), JSONB)
    return sa.literal_column("'{}'")


def _event_day(e):
    from evidence.ingest import local_date

    return local_date(db.session.connection(), e.c.occurred_at)


# ---------------------------------------------------------------------------
# The checks: each stores its findings over ``period``
# ---------------------------------------------------------------------------


def check_no_grant(period: Period, cfg: CheckSettings, store: _FindingStore) -> int:
    e, d, g = AccessEvent.__table__, AccessDay.__table__, Grant.__table__.alias("g")
    cand = (
        sa.select(d.c.system, d.c.user_id, d.c.day, d.c.day_start, d.c.day_end)
        .where(
            period.day_filter(d.c.day),
            ~sa.exists().where(
                g.c.system == d.c.system,
                g.c.user_id == d.c.user_id,
                grant_active_on(g, d.c.day),
                effective(g, GRANT_KEY),
            ),
        )
        .subquery("cand")
    )
    joined = _events_on_candidate_days(e, cand)
    q = _event_select(
        "no_grant", cfg, e, cand.c.day, [e.c.result == "success", period.event_filter(e.c.occurred_at)]
    ).select_from(joined)
    return store.select(q)


def check_after_transfer(period: Period, cfg: CheckSettings, store: _FindingStore) -> int:
    """User-days with a grant in force but no assignment, that day, to a department the
    inventory authorises for the system (read from the summary and the small state tables),
    then the events of those user-days."""
    e, d = AccessEvent.__table__, AccessDay.__table__
    g, a = Grant.__table__.alias("g"), Assignment.__table__.alias("a")
    auth = authorised_departments()
    if not auth:
        return 0  # no system has authorised departments: nothing to hold the users against
    cand = (
        sa.select(d.c.system, d.c.user_id, d.c.day, d.c.day_start, d.c.day_end)
        .where(
            period.day_filter(d.c.day),
            d.c.system.in_(sorted(auth)),
            sa.exists().where(
                g.c.system == d.c.system,
                g.c.user_id == d.c.user_id,
                grant_active_on(g, d.c.day),
                effective(g, GRANT_KEY),
            ),
            ~sa.exists().where(
                a.c.user_id == d.c.user_id,
                assignment_on(a, d.c.day),
                authorised_for(auth, d.c.system, a.c.department),
                effective(a, ASSIGNMENT_KEY),
            ),
        )
        .subquery("cand")
    )
    joined = _events_on_candidate_days(e, cand)
    return store.select(
        _event_select(
            "after_transfer", cfg, e, cand.c.day, [e.c.result == "success", period.event_filter(e.c.occurred_at)]
        ).select_from(joined)
    )


def check_stale_grant(period: Period, cfg: CheckSettings, store: _FindingStore) -> int:
    """Grants and assignments are small tables: the intervals are compared in Python."""
    g, a = Grant.__table__.alias("g"), Assignment.__table__.alias("a")
    auth = authorised_departments()
    days = int(cfg.params.get("days", 14))
    as_of = period.as_of
    grants = db.session.execute(
        sa.select(g.c.system, g.c.user_id, g.c.role, g.c.granted_at, g.c.revoked_at).where(effective(g, GRANT_KEY))
    ).all()
    spans: dict[tuple[str, str], set[tuple[date, date | None]]] = {}
    for user, department, start, end in db.session.execute(
        sa.select(a.c.user_id, a.c.department, a.c.start_date, a.c.end_date).where(effective(a, ASSIGNMENT_KEY))
    ):
        for system, depts in auth.items():
            if department in depts:
                spans.setdefault((system, user), set()).add((start, end))
    out: dict[str, dict] = {}
    for row in grants:
        mine = sorted(spans.get((row.system, row.user_id), []))
        for start, end in mine:
            if end is None or end >= as_of:
                continue
            # left on ``end`` unless another authorised assignment continues it
            back = [
                s
                for s, e in mine
                if s <= end + timedelta(days=days + 1) and (e is None or e > end) and (s, e) != (start, end)
            ]
            if back:
                continue
            deadline = end + timedelta(days=days)
            if row.granted_at > deadline or deadline >= as_of:
                continue
            if row.revoked_at is not None and row.revoked_at <= deadline:
                continue
            key = f"{row.user_id}/{row.system}"
            if key in out:
                if row.role not in out[key]["details"]["roles"]:
                    out[key]["details"]["roles"].append(row.role)
                continue
            out[key] = {
                "check": "stale_grant",
                "key": key,
                "system": row.system,
                "user_id": row.user_id,
                "day": end + timedelta(days=days + 1),
                "severity": cfg.severity,
                "details": {
                    "roles": [row.role],
                    "left_on": end.isoformat(),
                    "revoked_at": row.revoked_at and row.revoked_at.isoformat(),
                    "days": days,
                    "as_of": as_of.isoformat(),
                },
            }
            break
    return store.rows(list(out.values()))


def check_self_or_family(period: Period, cfg: CheckSettings, store: _FindingStore) -> int:
    e, r = AccessEvent.__table__, Relation.__table__.alias("r")
    q = _event_select(
        "self_or_family",
        cfg,
        e,
        _event_day(e),
        [effective(r, RELATION_KEY), period.event_filter(e.c.occurred_at)],
        relation=r.c.relation,
    ).select_from(r.join(e, sa.and_(e.c.subject_id == r.c.subject_id, e.c.user_id == r.c.user_id)))
    return store.select(q)


def _hours(cfg: CheckSettings, system: str) -> tuple[str, str]:
    own = (cfg.params.get("systems") or {}).get(system) or {}
    start = own.get("start") or cfg.params.get("start") or "08:00"
    end = own.get("end") or cfg.params.get("end") or "19:00"
    return f"{start}:00"[:8], f"{end}:00"[:8]


def check_after_hours(period: Period, cfg: CheckSettings, store: _FindingStore) -> int:
    """User-days on a closed day, or starting before / ending after business hours (read
    from the summary), then only their events outside the hours."""
    e, d = AccessEvent.__table__, AccessDay.__table__
    bounds = period.bounds()
    if bounds is None:
        return 0
    closed = closed_days(*bounds)
    systems = db.session.execute(sa.select(d.c.system).distinct().where(period.day_filter(d.c.day))).scalars().all()
    new = 0
    for system in systems:
        start, end = _hours(cfg, system)
        day_is_closed = d.c.day.in_(closed) if closed else sa.false()
        cand = (
            sa.select(d.c.system, d.c.user_id, d.c.day, d.c.day_start, d.c.day_end, day_is_closed.label("closed"))
            .where(
                d.c.system == system,
                period.day_filter(d.c.day),
                sa.or_(
                    day_is_closed,
                    clock_before(d.c.first_at, d.c.day_start, start),
                    ~clock_before(d.c.last_at, d.c.day_start, end),
                ),
            )
            .subquery("cand")
        )
        joined = e.join(
            cand,
            sa.and_(
                e.c.system == cand.c.system,
                e.c.user_id == cand.c.user_id,
                e.c.occurred_at >= cand.c.day_start,
                e.c.occurred_at < cand.c.day_end,
            ),
        )
        closed_flag = (
            sa.case((cand.c.closed, sa.true()), else_=sa.false())
            if dialect() == "postgresql"
            else sa.func.json(sa.case((cand.c.closed, "true"), else_="false"))
        )
        new += store.select(
            _event_select(
                "after_hours",
                cfg,
                e,
                cand.c.day,
                [
                    period.event_filter(e.c.occurred_at),
                    sa.or_(
                        cand.c.closed,
                        clock_before(e.c.occurred_at, cand.c.day_start, start),
                        ~clock_before(e.c.occurred_at, cand.c.day_start, end),
                    ),
                ],
                start=sa.literal(start[:5]),
                end=sa.literal(end[:5]),
                closed=closed_flag,
            ).select_from(joined)
        )
    return new


def _systems_agg(column):
    if dialect() == "postgresql":
        return sa.func.string_agg(column, sa.literal_column("','"))
    return sa.func.group_concat(column, ",")


def _user_day_select(check: str, cfg: CheckSettings, d, **details) -> sa.Select:
    """SELECT of user-day findings over the summary ``d`` grouped by (user_id, day), in
    FINDING_COLUMNS order (for :meth:`_FindingStore.select`): key ``user/YYYY-MM-DD``, the
    systems of the user-day, the facts ``details``."""
    # SQLite stores the date as its 'YYYY-MM-DD' text already; a cast keeps ``+`` a string
    # concatenation (a Date operand would make it a numeric addition)
    day_text = sa.func.to_char(d.c.day, "YYYY-MM-DD") if dialect() == "postgresql" else sa.cast(d.c.day, sa.String)
    return sa.select(
        sa.literal(check).label("check"),
        (d.c.user_id + sa.literal("/") + day_text).label("key"),
        _systems_agg(d.c.system).label("system"),
        d.c.user_id,
        sa.null().label("event_id"),
        sa.null().label("record_id"),
        d.c.day,
        sa.cast(sa.null(), UTCDateTime()).label("occurred_at"),
        sa.literal(cfg.severity).label("severity"),
        json_object(details).label("details"),
        sa.literal(utcnow(), UTCDateTime()).label("found_at"),
    ).group_by(d.c.user_id, d.c.day)


def check_bulk_access(period: Period, cfg: CheckSettings, store: _FindingStore) -> int:
    """Set-based like the event checks (one INSERT … SELECT): once the events of a user-day
    are many, every user-day may be over the limit, and thousands of findings must not
    travel through Python."""
    d, heavy = AccessDay.__table__, AccessDay.__table__.alias("heavy")
    limit = int(cfg.params.get("subjects", 200))
    # only the user-days over the limit in some system are grouped (grouping every user-day
    # with its systems' names costs more than the whole check otherwise)
    q = (
        _user_day_select(
            "bulk_access",
            cfg,
            d,
            subjects=sa.func.max(d.c.subjects),
            events=sa.func.sum(d.c.events),
            limit=sa.literal_column(str(limit)),
        )
        .where(
            period.day_filter(d.c.day),
            sa.tuple_(d.c.user_id, d.c.day).in_(
                sa.select(heavy.c.user_id, heavy.c.day).where(period.day_filter(heavy.c.day), heavy.c.subjects > limit)
            ),
        )
        .having(sa.func.max(d.c.subjects) > limit)
    )
    return store.select(q)


def check_denied_spike(period: Period, cfg: CheckSettings, store: _FindingStore) -> int:
    d = AccessDay.__table__
    limit = int(cfg.params.get("denied", 10))
    q = (
        _user_day_select("denied_spike", cfg, d, denied=sa.func.sum(d.c.denied), limit=sa.literal_column(str(limit)))
        .where(period.day_filter(d.c.day), d.c.denied > 0)
        .having(sa.func.sum(d.c.denied) > limit)
    )
    return store.select(q)


def check_dormant_grant(period: Period, cfg: CheckSettings, store: _FindingStore) -> int:
    d, g = AccessDay.__table__, Grant.__table__.alias("g")
    days = int(cfg.params.get("days", 90))
    as_of = period.as_of
    since = as_of - timedelta(days=days)
    # only systems whose access feed reaches back far enough to tell: one user-day on or
    # before ``since`` is enough (an EXISTS on the summary's key, not a min() over all of it)
    early = AccessDay.__table__.alias("early")
    covered = sa.exists().where(early.c.system == g.c.system, early.c.day <= since)
    last_use = (
        sa.select(sa.func.max(d.c.day))
        .where(d.c.system == g.c.system, d.c.user_id == g.c.user_id, d.c.day <= as_of)
        .scalar_subquery()
    )
    q = sa.select(g.c.system, g.c.user_id, g.c.role, g.c.granted_at, last_use.label("last_use")).where(
        effective(g, GRANT_KEY),
        grant_active_on(g, sa.literal(as_of, sa.Date)),
        g.c.granted_at <= since,
        covered,
        ~sa.exists().where(d.c.system == g.c.system, d.c.user_id == g.c.user_id, d.c.day > since, d.c.day <= as_of),
    )
    out: dict[str, dict] = {}
    for row in db.session.execute(q):
        key = f"{row.user_id}/{row.system}"
        if key in out:
            out[key]["details"]["roles"].append(row.role)
            continue
        out[key] = {
            "check": "dormant_grant",
            "key": key,
            "system": row.system,
            "user_id": row.user_id,
            "day": as_of,
            "severity": cfg.severity,
            "details": {
                "roles": [row.role],
                "last_use": row.last_use and row.last_use.isoformat(),
                "as_of": as_of.isoformat(),
                "days": days,
            },
        }
    return store.rows(list(out.values()))


def _affair_expr(p, mapping: dict):
    if not mapping:
        return p.c.affair
    return sa.func.coalesce(
        p.c.affair, sa.case(*[(p.c.info_item == info, affair) for info, affair in mapping.items()], else_=None)
    )


def _record_row(check, row, severity, **details) -> dict:
    return {
        "check": check,
        "key": row.record_id,
        "record_id": row.record_id,
        "day": _jst(row.occurred_at).date(),
        "occurred_at": row.occurred_at,
        "severity": severity,
        "details": {
            "direction": row.direction,
            "counterpart": row.counterpart,
            "table_item": row.table_item,
            "info_item": row.info_item,
            "affair": row.affair_code,
            **details,
        },
    }


def _provisions(period: Period, cfg: CheckSettings, direction: str):
    p = Provision.__table__
    affair = _affair_expr(p, cfg.params.get("info_item_affairs") or {})
    affairs = (
        db.session.execute(
            sa.select(affair).distinct().where(p.c.direction == direction, period.event_filter(p.c.occurred_at))
        )
        .scalars()
        .all()
    )
    return p, affair, [a for a in affairs if a]


def check_provision_outside_basis(period: Period, cfg: CheckSettings, store: _FindingStore) -> int:
    p, affair, affairs = _provisions(period, cfg, "provide")
    out = []
    for code in affairs:
        basis = declared_basis(code)
        if basis is None:
            continue
        items = sorted(basis.provision_items)
        q = sa.select(p, affair.label("affair_code")).where(
            p.c.direction == "provide",
            affair == code,
            period.event_filter(p.c.occurred_at),
            p.c.table_item.not_in(items) if items else sa.true(),
        )
        out += [
            _record_row(
                "provision_outside_basis",
                row,
                cfg.severity,
                declared=items,
                assessment_id=getattr(basis, "assessment_id", None),
            )
            for row in db.session.execute(q)
        ]
    return store.rows(out)


def check_inquiry_declared_none(period: Period, cfg: CheckSettings, store: _FindingStore) -> int:
    p, affair, affairs = _provisions(period, cfg, "inquire")
    out = []
    for code in affairs:
        basis = declared_basis(code)
        if basis is None or basis.inquires:
            continue
        q = sa.select(p, affair.label("affair_code")).where(
            p.c.direction == "inquire", affair == code, period.event_filter(p.c.occurred_at)
        )
        out += [
            _record_row("inquiry_declared_none", row, cfg.severity, assessment_id=getattr(basis, "assessment_id", None))
            for row in db.session.execute(q)
        ]
    return store.rows(out)


def explanation_rules() -> explanations.Rules:
    """What :mod:`evidence.explanations` takes from here: the business calendar, the window's
    settings (those of ``unexplained_access``) and the SQL of versioned rows."""
    return explanations.Rules(
        closed_days=closed_days,
        every_day=frozenset(open_every_day()),
        params=settings_for(explanations.WINDOW_CHECK).params,
        effective=effective,
    )


def check_protected_subject(period: Period, cfg: CheckSettings, store: _FindingStore) -> int:
    return explanations.check_protected_subject(period, cfg, store, explanation_rules())


def check_coworker_record(period: Period, cfg: CheckSettings, store: _FindingStore) -> int:
    return explanations.check_coworker_record(period, cfg, store, explanation_rules())


def check_unexplained_access(period: Period, cfg: CheckSettings, store: _FindingStore) -> int:
    return explanations.check_unexplained_access(period, cfg, store, explanation_rules())


RUNNERS = {
    "no_grant": check_no_grant,
    "after_transfer": check_after_transfer,
    "stale_grant": check_stale_grant,
    "self_or_family": check_self_or_family,
    "after_hours": check_after_hours,
    "bulk_access": check_bulk_access,
    "denied_spike": check_denied_spike,
    "dormant_grant": check_dormant_grant,
    "provision_outside_basis": check_provision_outside_basis,
    "inquiry_declared_none": check_inquiry_declared_none,
    "protected_subject": check_protected_subject,
    "coworker_record": check_coworker_record,
    "unexplained_access": check_unexplained_access,
}
assert set(RUNNERS) == set(CHECKS)


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------

#: PostgreSQL advisory lock that serialises check runs
CHECKS_LOCK_KEY = 7_246_002


@dataclass
class CheckRun:
    """What one run of the checks stored: per check, the new findings and all findings of
    the period (new and earlier, with their triage)."""

    period: Period
    checks: list[str]
    new: dict[str, int]
    total: dict[str, int]
    #: per check, findings stored earlier that this run no longer produced (marked 解消) …
    cleared: dict[str, int] = field(default_factory=dict)
    #: … and findings marked 解消 earlier that it produced again
    restored: dict[str, int] = field(default_factory=dict)

    @property
    def found(self) -> int:
        return sum(self.total.values())


def run_checks(period: Period | None = None, only: list[str] | None = None) -> CheckRun:
    """Run every enabled check over ``period`` and store the findings (flushes; the caller
    commits). Findings already stored keep their row, id and triage."""
    period = period or Period()
    if dialect() == "postgresql":
        # one run at a time (SQLite has a single writer anyway): a finding is stored once
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHECKS_LOCK_KEY})
        # the range joins look expensive to the planner, which then JIT-compiles queries that
        # run in milliseconds; compiling costs more than it saves here
        db.session.execute(sa.text("SET LOCAL jit = off"))
    settings = {name: settings_for(name) for name in RUNNERS if not only or name in only}
    ran = [name for name, cfg in settings.items() if cfg.enabled]
    before = _counts(ran, period)
    new, swept = {}, {}
    for name in ran:
        # findings stored before whose key the check no longer produces (a later feed showed
        # the grant, the assignment …) are marked 解消, and unmarked when produced again;
        # nothing to compare on a first run over the period
        stored, cleared = before[name]
        store = _FindingStore(sweep=stored > 0)
        new[name] = RUNNERS[name](period, settings[name], store)
        swept[name] = _sweep(name, period, store, cleared > 0) if stored else (0, 0)
    after = _counts(ran, period)
    return CheckRun(
        period=period,
        checks=ran,
        new=new,
        total={name: stored - cleared for name, (stored, cleared) in after.items()},
        cleared={name: n for name, (n, _) in swept.items()},
        restored={name: n for name, (_, n) in swept.items()},
    )


def _sweep(check: str, period: Period, produced: _FindingStore, any_cleared: bool) -> tuple[int, int]:
    """Mark ``cleared_at`` on the period's findings of ``check`` that were not produced,
    and clear it on those produced again. Returns (newly cleared, restored)."""
    f = Finding.__table__
    scope = sa.and_(f.c.check == check, period.day_filter(f.c.day))
    now = utcnow()
    if produced.table is not None or not produced.keys:
        tmp = produced.table
        was: sa.ColumnElement[bool]
        if tmp is None:
            was = sa.false()  # the check produced nothing at all
        elif dialect() == "postgresql":
            was = sa.exists().where(tmp.c.key == f.c.key)  # planned as a hash (anti-)join
        else:
            was = f.c.key.in_(sa.select(tmp.c.key))  # SQLite: one temporary index, not a scan per row
        opts = {"preserve_rowcount": True}
        with _hash_joins():
            cleared = _rowcount(
                sa.update(f)
                .where(scope, f.c.cleared_at.is_(None), ~was)
                .values(cleared_at=now)
                .execution_options(**opts)
            )
            restored = 0
            if any_cleared:
                restored = _rowcount(
                    sa.update(f)
                    .where(scope, f.c.cleared_at.is_not(None), was)
                    .values(cleared_at=None)
                    .execution_options(**opts)
                )
        if tmp is not None:
            tmp.drop(db.session.connection())
        return cleared, restored
    to_clear, to_restore = [], []
    for fid, key, cleared_at in db.session.execute(sa.select(f.c.id, f.c.key, f.c.cleared_at).where(scope)):
        if cleared_at is None and key not in produced.keys:
            to_clear.append(fid)
        elif cleared_at is not None and key in produced.keys:
            to_restore.append(fid)
    for ids, value in ((to_clear, now), (to_restore, None)):
        for i in range(0, len(ids), 500):
            db.session.execute(sa.update(f).where(f.c.id.in_(ids[i : i + 500])).values(cleared_at=value))
    return len(to_clear), len(to_restore)


def _counts(checks: list[str], period: Period) -> dict[str, tuple[int, int]]:
    """Per check, the findings of ``period`` stored, and of those the ones marked 解消."""
    f = Finding.__table__
    out = dict.fromkeys(checks, (0, 0))
    if checks:
        q = (
            sa.select(f.c.check, sa.func.count(), sa.func.count(f.c.cleared_at))
            .where(f.c.check.in_(checks), period.day_filter(f.c.day))
            .group_by(f.c.check)
        )
        out.update((check, (n, cleared)) for check, n, cleared in db.session.execute(q))
    return out


def stored_findings(
    period: Period | None = None, only: list[str] | None = None, include_cleared: bool = False
) -> list[dict]:
    """The stored findings of ``period`` (all checks, or ``only``) as dicts, with their id,
    triage decision and explanation; ordered by check, day and key. Findings marked 解消
    (no longer produced by the checks) only with ``include_cleared``."""
    period = period or Period()
    f, e = Finding.__table__, AccessEvent.__table__
    q = (
        sa.select(f, e.c.action, e.c.subject_id, e.c.result)
        .select_from(f.outerjoin(e, sa.and_(e.c.system == f.c.system, e.c.event_id == f.c.event_id)))
        .where(period.day_filter(f.c.day))
    )
    if only:
        q = q.where(f.c.check.in_(only))
    if not include_cleared:
        q = q.where(f.c.cleared_at.is_(None))
    out = []
    for row in db.session.execute(q.order_by(f.c.check, f.c.day, f.c.key)):
        item = dict(row._mapping)
        event = row if row.event_id is not None and row.action is not None else None
        for name in ("action", "subject_id", "result"):
            del item[name]
        item["details"] = event_facts(row.details, event)
        item["explanation"] = explain(row, item["details"])
        out.append(item)
    return out


def finding_json(item: dict) -> dict:
    """A finding as ``flask evidence check --format json`` prints it."""
    out = {
        "check": item["check"],
        "severity": item["severity"],
        "explanation": item["explanation"],
        "id": item.get("id"),
        "decision": item.get("decision"),
    }
    kind = CHECKS[item["check"]].key_kind
    if kind == "event":
        out.update(
            event_id=item["event_id"],
            system=item["system"],
            user_id=item["user_id"],
            occurred_at=item["occurred_at"].isoformat(),
        )
    elif kind == "record":
        out.update(record_id=item["record_id"], occurred_at=item["occurred_at"].isoformat())
    elif kind == "user_day":
        out.update(user_id=item["user_id"], date=item["day"].isoformat(), system=item["system"])
    else:
        out.update(user_id=item["user_id"], system=item["system"])
    out["date"] = out.get("date") or (item["day"].isoformat() if item["day"] else None)
    out["details"] = item["details"]
    return out
