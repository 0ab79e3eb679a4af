"""The ten checks: what the stored evidence shows against what the assessment declares.

Every check is set-based SQL (SQLAlchemy Core, run on SQLite and PostgreSQL): the
per-user-day summary (:class:`evidence.models.AccessDay`) narrows the work to the few
user-days worth looking at, and the events are then reached through their
``(system, user_id, occurred_at)`` and ``(subject_id, user_id)`` indexes — no Python loop
ever walks the events. Parameters live in :class:`evidence.models.CheckConfig` (defaults
below); each check names the assessment items (paths of ``pia/schemas/zenkoumoku-2024.yaml``)
it gives evidence for.

``run_checks(...)`` computes the findings and upserts them by their stable key, so a second
run over the same data yields the same findings and keeps their triage.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import holidays
import sqlalchemy as sa

from common.db import db, utcnow
from evidence.models import (AccessDay, AccessEvent, Assignment, CheckConfig, Finding, Grant,
                             Provision, Relation)

TOKYO = ZoneInfo("Asia/Tokyo")
UTC = timezone.utc


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


_USE_R2 = "III 3. 特定個人情報の使用 リスク2"
ITEM_GRANT_MGMT = ("risks/files/use/risk2/grant_management", f"{_USE_R2}「アクセス権限の管理」")
ITEM_GRANT_LIFE = ("risks/files/use/risk2/grant_lifecycle",
                   f"{_USE_R2}「アクセス権限の発効・失効の管理」")
ITEM_USAGE_LOG = ("risks/files/use/risk2/usage_log", f"{_USE_R2}「特定個人情報の使用の記録」")
ITEM_AUTH = ("risks/files/use/risk2/authentication", f"{_USE_R2}「ユーザ認証の管理」")
ITEM_OUTSIDE_WORK = ("risks/files/use/risk3/measures",
                     "III 3. 特定個人情報の使用 リスク3「従業者が事務外で使用するリスク」")
ITEM_COPY = ("risks/files/use/risk4/measures",
             "III 3. 特定個人情報の使用 リスク4「特定個人情報ファイルが不正に複製されるリスク」")
ITEM_PROVISION_BASIS = ("basic/network/basis/provision_items",
                        "I 6. 情報提供ネットワークシステムによる情報連携「情報提供の根拠」")
ITEM_INQUIRY = ("basic/network/basis/inquiry",
                "I 6. 情報提供ネットワークシステムによる情報連携「情報照会の実施」")
ITEM_NW_PROVIDE = ("risks/files/network/risk5/measures",
                   "III 6. 情報提供ネットワークシステムとの接続 リスク5「不正な提供が行われるリスク」")
ITEM_NW_INQUIRE = ("risks/files/network/risk1/measures",
                   "III 6. 情報提供ネットワークシステムとの接続 リスク1「目的外の入手が行われるリスク」")

CHECKS: dict[str, CheckDef] = {c.name: c for c in [
    CheckDef("no_grant", "権限のない操作",
             "その時点で有効な権限を持たない利用者による操作", "high",
             {}, (ITEM_GRANT_MGMT, ITEM_USAGE_LOG)),
    CheckDef("after_transfer", "異動後の操作",
             "権限は有効だが、システムの利用を認められた所属に配置されていない利用者による操作",
             "high", {}, (ITEM_GRANT_LIFE, ITEM_GRANT_MGMT)),
    CheckDef("stale_grant", "異動後も残る権限",
             "利用を認められた所属をすべて離れてから一定日数を過ぎても有効な権限", "medium",
             {"days": 14}, (ITEM_GRANT_LIFE,), "user_system"),
    CheckDef("self_or_family", "本人・家族の記録の参照",
             "職員本人またはその世帯・親族の住民記録に対する操作", "high",
             {}, (ITEM_OUTSIDE_WORK, ITEM_USAGE_LOG)),
    CheckDef("after_hours", "時間外・閉庁日の操作",
             "業務時間外、土日、祝日、年末年始(12月29日〜1月3日)の操作", "low",
             {"start": "08:00", "end": "19:00", "systems": {}}, (ITEM_OUTSIDE_WORK, ITEM_USAGE_LOG)),
    CheckDef("bulk_access", "大量参照",
             "1人が1日に一定数を超える住民の記録を操作", "medium",
             {"subjects": 200}, (ITEM_COPY, ITEM_OUTSIDE_WORK), "user_day"),
    CheckDef("denied_spike", "拒否の急増",
             "1人が1日に一定回数を超えて操作を拒否された", "medium",
             {"denied": 10}, (ITEM_AUTH, ITEM_GRANT_MGMT), "user_day"),
    CheckDef("dormant_grant", "使われていない権限",
             "一定日数使われていない有効な権限", "low",
             {"days": 90}, (ITEM_GRANT_MGMT,), "user_system"),
    CheckDef("provision_outside_basis", "根拠外の提供",
             "評価書が情報提供の根拠として記載していない主務省令第2条の表の項による提供", "high",
             {"info_item_affairs": {"住民票関係情報": "juki"}},
             (ITEM_PROVISION_BASIS, ITEM_NW_PROVIDE), "record"),
    CheckDef("inquiry_declared_none", "照会しないとした事務の照会",
             "評価書で情報照会を行わないとした事務による情報照会", "high",
             {"info_item_affairs": {"住民票関係情報": "juki"}},
             (ITEM_INQUIRY, ITEM_NW_INQUIRE), "record"),
]}

ACTION_LABELS = {"view": "照会", "search": "検索", "create": "登録", "update": "更新",
                 "delete": "削除", "print": "印刷", "export": "出力", "login": "ログイン",
                 "logout": "ログアウト", "other": "その他"}
RELATION_LABELS = {"self": "本人", "household": "同一世帯", "relative": "親族"}


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
    return CheckSettings(enabled=True if row is None else row.enabled,
                         severity=(row.severity if row is not None and row.severity else check.severity),
                         params=params)


def save_settings(name: str, *, enabled: bool, severity: str | None, params: dict) -> CheckConfig:
    row = db.session.get(CheckConfig, name)
    if row is None:
        row = CheckConfig(check=name)
        db.session.add(row)
    row.enabled, row.severity, row.params = enabled, severity, params
    return row


def declared_basis(affair_code: str):
    """What the assessment of ``affair_code`` declares (``pia.services.declared_basis``)."""
    try:
        from pia import services
    except ImportError:
        return None
    func = getattr(services, "declared_basis", None)
    return func(affair_code) if func else None


def closed_days(start: date, end: date) -> list[date]:
    """Weekends, national holidays (``holidays.Japan``) and 12/29–1/3 between start and end."""
    jp = holidays.Japan(years=range(start.year, end.year + 1))
    out = []
    day = start
    while day <= end:
        if (day.weekday() >= 5 or day in jp or (day.month == 12 and day.day >= 29)
                or (day.month == 1 and day.day <= 3)):
            out.append(day)
        day += timedelta(days=1)
    return out


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
            prow = db.session.execute(sa.select(sa.func.min(p.c.occurred_at),
                                                sa.func.max(p.c.occurred_at))).one()
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

def _dialect() -> str:
    return db.session.get_bind().dialect.name


def local_time_text(column):
    """'HH:MM:SS' of a UTC timestamp column in Asia/Tokyo."""
    if _dialect() == "postgresql":
        return sa.func.to_char(sa.func.timezone("Asia/Tokyo", column), "HH24:MI:SS")
    return sa.func.time(column, "+9 hours")


def effective(table, key_cols: tuple[str, ...]):
    """Rows of an append-only versioned table that no later row of the same key supersedes."""
    later = table.alias()
    return sa.and_(*[]) if not key_cols else ~sa.exists().where(
        *[later.c[c] == table.c[c] for c in key_cols], later.c.id > table.c.id)


GRANT_KEY = ("system", "user_id", "role", "granted_at")
ASSIGNMENT_KEY = ("user_id", "department", "start_date")
RELATION_KEY = ("user_id", "subject_id")


def grant_active_on(g, day_col):
    """A grant is in force from granted_at up to and including revoked_at."""
    return sa.and_(g.c.granted_at <= day_col,
                   sa.or_(g.c.revoked_at.is_(None), g.c.revoked_at >= day_col))


def assignment_on(a, day_col):
    return sa.and_(a.c.start_date <= day_col,
                   sa.or_(a.c.end_date.is_(None), a.c.end_date >= day_col))


def authorised_department_names():
    """(system code, department name or code) pairs allowed by the inventory."""
    from common.models import Department
    from pia.models import System, system_departments as sd

    dept = Department.__table__
    sys_ = System.__table__
    by_name = sa.select(sys_.c.code.label("system"), dept.c.name.label("department")).select_from(
        sys_.join(sd, sd.c.system_id == sys_.c.id).join(dept, dept.c.id == sd.c.department_id))
    by_code = sa.select(sys_.c.code.label("system"), dept.c.code.label("department")).select_from(
        sys_.join(sd, sd.c.system_id == sys_.c.id).join(dept, dept.c.id == sd.c.department_id))
    return sa.union(by_name, by_code).subquery("authorised")


def _event_cols(e):
    return (e.c.system, e.c.event_id, e.c.user_id, e.c.occurred_at, e.c.action,
            e.c.subject_id, e.c.result)


def _jst(value: datetime) -> datetime:
    return value.astimezone(TOKYO)


def _event_finding(check: str, row, explanation: str, severity: str, **details) -> dict:
    when = _jst(row.occurred_at)
    return {
        "check": check, "key": f"{row.system}/{row.event_id}", "system": row.system,
        "user_id": row.user_id, "event_id": row.event_id, "record_id": None,
        "day": when.date(), "occurred_at": row.occurred_at, "severity": severity,
        "explanation": explanation,
        "details": {"action": row.action, "subject_id": row.subject_id, "result": row.result,
                    **details},
    }


def _when(row) -> str:
    t = _jst(row.occurred_at)
    return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}"


def _op(row) -> str:
    return ACTION_LABELS.get(row.action, row.action)


# ---------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------

def check_no_grant(period: Period, cfg: CheckSettings) -> list[dict]:
    e, d, g = AccessEvent.__table__, AccessDay.__table__, Grant.__table__.alias("g")
    cand = sa.select(d.c.system, d.c.user_id, d.c.day_start, d.c.day_end).where(
        period.day_filter(d.c.day),
        ~sa.exists().where(g.c.system == d.c.system, g.c.user_id == d.c.user_id,
                           grant_active_on(g, d.c.day), effective(g, GRANT_KEY)),
    ).subquery("cand")
    q = sa.select(*_event_cols(e)).select_from(e.join(cand, sa.and_(
        e.c.system == cand.c.system, e.c.user_id == cand.c.user_id,
        e.c.occurred_at >= cand.c.day_start, e.c.occurred_at < cand.c.day_end))).where(
        e.c.result == "success", period.event_filter(e.c.occurred_at))
    return [
        _event_finding("no_grant", row,
                       f"利用者 {row.user_id} は {_when(row)} に {row.system} で「{_op(row)}」を"
                       f"行いましたが、その日に有効な権限の記録がありません。", cfg.severity)
        for row in db.session.execute(q)
    ]


def _events_of_user_days(user_days: list[tuple], chunk: int = 400):
    """Successful events of the given (system, user_id, day_start, day_end) user-days."""
    e = AccessEvent.__table__
    for i in range(0, len(user_days), chunk):
        part = user_days[i:i + chunk]
        yield from db.session.execute(sa.select(*_event_cols(e)).where(
            e.c.result == "success",
            sa.or_(*[sa.and_(e.c.system == system, e.c.user_id == user, e.c.occurred_at >= start,
                             e.c.occurred_at < end) for system, user, start, end in part])))


def check_after_transfer(period: Period, cfg: CheckSettings) -> list[dict]:
    """Grants, assignments and the per-user-day summary are small: the user-days to look at
    are found in Python (a correlated anti-join over them took minutes on PostgreSQL); only
    the events of those user-days are read."""
    d = AccessDay.__table__
    g, a = Grant.__table__.alias("g"), Assignment.__table__.alias("a")
    auth = authorised_department_names()
    allowed: dict[str, set[str]] = {}
    for system, department in db.session.execute(sa.select(auth.c.system, auth.c.department)):
        allowed.setdefault(system, set()).add(department)
    if not allowed:
        return []
    grants: dict[tuple[str, str], list[tuple[date, date | None]]] = {}
    for system, user, start, end in db.session.execute(
            sa.select(g.c.system, g.c.user_id, g.c.granted_at, g.c.revoked_at)
            .where(g.c.system.in_(sorted(allowed)), effective(g, GRANT_KEY))):
        grants.setdefault((system, user), []).append((start, end))
    assignments: dict[str, list[tuple[str, date, date | None]]] = {}
    for user, department, start, end in db.session.execute(
            sa.select(a.c.user_id, a.c.department, a.c.start_date, a.c.end_date)
            .where(effective(a, ASSIGNMENT_KEY))):
        assignments.setdefault(user, []).append((department, start, end))

    def within(day, start, end):
        return start <= day and (end is None or end >= day)

    candidates = []
    for system, user, day, day_start, day_end in db.session.execute(
            sa.select(d.c.system, d.c.user_id, d.c.day, d.c.day_start, d.c.day_end)
            .where(d.c.system.in_(sorted(allowed)), period.day_filter(d.c.day))
            .order_by(d.c.system, d.c.user_id, d.c.day)):
        if not any(within(day, s, e) for s, e in grants.get((system, user), ())):
            continue  # no grant that day: that is no_grant's finding, not this one
        if any(dept in allowed[system] and within(day, s, e) for dept, s, e in assignments.get(user, ())):
            continue
        candidates.append((system, user, day_start, day_end))
    rows = sorted(_events_of_user_days(candidates), key=lambda r: (r.occurred_at, r.system, r.event_id))
    return [
        _event_finding("after_transfer", row,
                       f"利用者 {row.user_id} は {_when(row)} に {row.system} で「{_op(row)}」を"
                       f"行いました。権限は有効でしたが、その日はこのシステムの利用を認められた"
                       f"所属に配置されていません(異動後の利用の可能性があります)。", cfg.severity)
        for row in rows
    ]


def check_stale_grant(period: Period, cfg: CheckSettings) -> list[dict]:
    """Grants and assignments are small tables: the intervals are compared in Python."""
    g, a = Grant.__table__.alias("g"), Assignment.__table__.alias("a")
    auth = authorised_department_names()
    days = int(cfg.params.get("days", 14))
    as_of = period.as_of
    grants = db.session.execute(sa.select(g.c.system, g.c.user_id, g.c.role, g.c.granted_at,
                                          g.c.revoked_at).where(effective(g, GRANT_KEY))).all()
    spans: dict[tuple[str, str], list[tuple[date, date | None]]] = {}
    for system, user, start, end in db.session.execute(
            sa.select(auth.c.system, a.c.user_id, a.c.start_date, a.c.end_date).distinct()
            .select_from(a.join(auth, auth.c.department == a.c.department))
            .where(effective(a, ASSIGNMENT_KEY))):
        spans.setdefault((system, user), []).append((start, end))
    out: dict[str, dict] = {}
    for row in grants:
        mine = sorted(spans.get((row.system, row.user_id), []))
        for start, end in mine:
            if end is None or end >= as_of:
                continue
            # left on ``end`` unless another authorised assignment continues it
            back = [s for s, e in mine if s <= end + timedelta(days=days + 1)
                    and (e is None or e > end) and (s, e) != (start, end)]
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
            still = ("現在も有効です" if row.revoked_at is None or row.revoked_at > as_of else
                     f"取り消されたのは {row.revoked_at:%Y年%-m月%-d日}"
                     f"({(row.revoked_at - end).days}日後)です")
            out[key] = {
                "check": "stale_grant", "key": key, "system": row.system,
                "user_id": row.user_id, "event_id": None, "record_id": None,
                "day": end + timedelta(days=days + 1), "occurred_at": None,
                "severity": cfg.severity,
                "explanation": (f"利用者 {row.user_id} は {end:%Y年%-m月%-d日} に {row.system} の利用を"
                                f"認められた所属を離れましたが、権限「{row.role}」が{days}日を超えて"
                                f"残りました({still})。"),
                "details": {"roles": [row.role], "left_on": end.isoformat(),
                            "revoked_at": row.revoked_at and row.revoked_at.isoformat(),
                            "days": days},
            }
            break
    return list(out.values())


def check_self_or_family(period: Period, cfg: CheckSettings) -> list[dict]:
    e, r = AccessEvent.__table__, Relation.__table__.alias("r")
    q = sa.select(*_event_cols(e), r.c.relation).select_from(
        r.join(e, sa.and_(e.c.subject_id == r.c.subject_id, e.c.user_id == r.c.user_id))
    ).where(effective(r, RELATION_KEY), period.event_filter(e.c.occurred_at))
    return [
        _event_finding("self_or_family", row,
                       f"利用者 {row.user_id} は {_when(row)} に {row.system} で"
                       f"{RELATION_LABELS.get(row.relation, row.relation)}の記録"
                       f"(対象者 {row.subject_id})に対して「{_op(row)}」を行いました。",
                       cfg.severity, relation=row.relation)
        for row in db.session.execute(q)
    ]


def _hours(cfg: CheckSettings, system: str) -> tuple[str, str]:
    own = (cfg.params.get("systems") or {}).get(system) or {}
    start = own.get("start") or cfg.params.get("start") or "08:00"
    end = own.get("end") or cfg.params.get("end") or "19:00"
    return f"{start}:00"[:8], f"{end}:00"[:8]


def check_after_hours(period: Period, cfg: CheckSettings) -> list[dict]:
    e, d = AccessEvent.__table__, AccessDay.__table__
    bounds = period.bounds()
    if bounds is None:
        return []
    closed = closed_days(*bounds)
    systems = db.session.execute(sa.select(d.c.system).distinct().where(
        period.day_filter(d.c.day))).scalars().all()
    out = []
    closed_set = set(closed)
    for system in systems:
        start, end = _hours(cfg, system)
        day_is_closed = d.c.day.in_(closed) if closed else sa.false()
        cand = sa.select(d.c.system, d.c.user_id, d.c.day, d.c.day_start, d.c.day_end).where(
            d.c.system == system, period.day_filter(d.c.day),
            sa.or_(day_is_closed, local_time_text(d.c.first_at) < start,
                   local_time_text(d.c.last_at) >= end),
        ).subquery("cand")
        closed_cand = cand.c.day.in_(closed) if closed else sa.false()
        t = local_time_text(e.c.occurred_at)
        q = sa.select(*_event_cols(e)).select_from(e.join(cand, sa.and_(
            e.c.system == cand.c.system, e.c.user_id == cand.c.user_id,
            e.c.occurred_at >= cand.c.day_start, e.c.occurred_at < cand.c.day_end))).where(
            period.event_filter(e.c.occurred_at), sa.or_(closed_cand, t < start, t >= end))
        for row in db.session.execute(q):
            when = _jst(row.occurred_at)
            if when.date() in closed_set:
                why = "閉庁日(土日・祝日・年末年始)"
            else:
                why = f"業務時間({start[:5]}〜{end[:5]})外"
            out.append(_event_finding(
                "after_hours", row,
                f"利用者 {row.user_id} は {_when(row)} に {row.system} で「{_op(row)}」を"
                f"行いました。{why}の操作です。", cfg.severity, hours=[start[:5], end[:5]]))
    return out


def _user_day_finding(check, row, severity, explanation, **details) -> dict:
    return {"check": check, "key": f"{row.user_id}/{row.day.isoformat()}", "system": row.systems,
            "user_id": row.user_id, "event_id": None, "record_id": None, "day": row.day,
            "occurred_at": None, "severity": severity, "explanation": explanation,
            "details": details}


def _systems_agg(column):
    if _dialect() == "postgresql":
        return sa.func.string_agg(column, sa.literal_column("','"))
    return sa.func.group_concat(column, ",")


def check_bulk_access(period: Period, cfg: CheckSettings) -> list[dict]:
    d = AccessDay.__table__
    limit = int(cfg.params.get("subjects", 200))
    q = sa.select(d.c.user_id, d.c.day, sa.func.max(d.c.subjects).label("subjects"),
                  sa.func.sum(d.c.events).label("events"),
                  _systems_agg(d.c.system).label("systems")).where(
        period.day_filter(d.c.day)).group_by(d.c.user_id, d.c.day).having(
        sa.func.max(d.c.subjects) > limit)
    return [
        _user_day_finding("bulk_access", row, cfg.severity,
                          f"利用者 {row.user_id} は {row.day:%Y年%-m月%-d日} に {row.subjects} 人分の"
                          f"住民の記録を操作しました(基準: {limit} 人)。",
                          subjects=row.subjects, events=row.events, limit=limit)
        for row in db.session.execute(q)
    ]


def check_denied_spike(period: Period, cfg: CheckSettings) -> list[dict]:
    d = AccessDay.__table__
    limit = int(cfg.params.get("denied", 10))
    q = sa.select(d.c.user_id, d.c.day, sa.func.sum(d.c.denied).label("denied"),
                  _systems_agg(d.c.system).label("systems")).where(
        period.day_filter(d.c.day), d.c.denied > 0).group_by(d.c.user_id, d.c.day).having(
        sa.func.sum(d.c.denied) > limit)
    return [
        _user_day_finding("denied_spike", row, cfg.severity,
                          f"利用者 {row.user_id} は {row.day:%Y年%-m月%-d日} に {row.denied} 回、"
                          f"操作を拒否されました(基準: {limit} 回)。",
                          denied=int(row.denied), limit=limit)
        for row in db.session.execute(q)
    ]


def check_dormant_grant(period: Period, cfg: CheckSettings) -> list[dict]:
    d, g = AccessDay.__table__, Grant.__table__.alias("g")
    days = int(cfg.params.get("days", 90))
    as_of = period.as_of
    since = as_of - timedelta(days=days)
    # only systems whose access feed reaches back far enough to tell
    covered = sa.select(d.c.system).group_by(d.c.system).having(sa.func.min(d.c.day) <= since)
    last_use = sa.select(sa.func.max(d.c.day)).where(
        d.c.system == g.c.system, d.c.user_id == g.c.user_id, d.c.day <= as_of).scalar_subquery()
    q = sa.select(g.c.system, g.c.user_id, g.c.role, g.c.granted_at,
                  last_use.label("last_use")).where(
        effective(g, GRANT_KEY), grant_active_on(g, sa.literal(as_of, sa.Date)),
        g.c.granted_at <= since, g.c.system.in_(covered),
        ~sa.exists().where(d.c.system == g.c.system, d.c.user_id == g.c.user_id,
                           d.c.day > since, d.c.day <= as_of))
    out: dict[str, dict] = {}
    for row in db.session.execute(q):
        key = f"{row.user_id}/{row.system}"
        if key in out:
            out[key]["details"]["roles"].append(row.role)
            continue
        used = f"最後の利用は {row.last_use:%Y年%-m月%-d日}" if row.last_use else "利用の記録はありません"
        out[key] = {
            "check": "dormant_grant", "key": key, "system": row.system, "user_id": row.user_id,
            "event_id": None, "record_id": None, "day": as_of, "occurred_at": None,
            "severity": cfg.severity,
            "explanation": (f"利用者 {row.user_id} の {row.system} の権限「{row.role}」は有効ですが、"
                            f"{days}日以上使われていません({used})。"),
            "details": {"roles": [row.role], "last_use": row.last_use and row.last_use.isoformat(),
                        "as_of": as_of.isoformat(), "days": days},
        }
    return list(out.values())


def _affair_expr(p, mapping: dict):
    if not mapping:
        return p.c.affair
    return sa.func.coalesce(p.c.affair, sa.case(
        *[(p.c.info_item == info, affair) for info, affair in mapping.items()], else_=None))


def _record_finding(check, row, severity, explanation, **details) -> dict:
    when = _jst(row.occurred_at)
    return {"check": check, "key": row.record_id, "system": None, "user_id": None,
            "event_id": None, "record_id": row.record_id, "day": when.date(),
            "occurred_at": row.occurred_at, "severity": severity, "explanation": explanation,
            "details": {"direction": row.direction, "counterpart": row.counterpart,
                        "table_item": row.table_item, "info_item": row.info_item,
                        "affair": row.affair_code, **details}}


def _provisions(period: Period, cfg: CheckSettings, direction: str):
    p = Provision.__table__
    affair = _affair_expr(p, cfg.params.get("info_item_affairs") or {})
    affairs = db.session.execute(sa.select(affair).distinct().where(
        p.c.direction == direction, period.event_filter(p.c.occurred_at))).scalars().all()
    return p, affair, [a for a in affairs if a]


def check_provision_outside_basis(period: Period, cfg: CheckSettings) -> list[dict]:
    p, affair, affairs = _provisions(period, cfg, "provide")
    out = []
    for code in affairs:
        basis = declared_basis(code)
        if basis is None:
            continue
        items = sorted(basis.provision_items)
        q = sa.select(p, affair.label("affair_code")).where(
            p.c.direction == "provide", affair == code, period.event_filter(p.c.occurred_at),
            p.c.table_item.not_in(items) if items else sa.true())
        for row in db.session.execute(q):
            out.append(_record_finding(
                "provision_outside_basis", row, cfg.severity,
                f"情報提供等記録 {row.record_id}: {row.counterpart} への{row.info_item}の提供は"
                f"主務省令第2条の表の第{row.table_item}項によるものですが、事務「{code}」の評価書は"
                f"この項を情報提供の根拠として記載していません。",
                declared=items, assessment_id=getattr(basis, "assessment_id", None)))
    return out


def check_inquiry_declared_none(period: Period, cfg: CheckSettings) -> list[dict]:
    p, affair, affairs = _provisions(period, cfg, "inquire")
    out = []
    for code in affairs:
        basis = declared_basis(code)
        if basis is None or basis.inquires:
            continue
        q = sa.select(p, affair.label("affair_code")).where(
            p.c.direction == "inquire", affair == code, period.event_filter(p.c.occurred_at))
        for row in db.session.execute(q):
            out.append(_record_finding(
                "inquiry_declared_none", row, cfg.severity,
                f"情報提供等記録 {row.record_id}: 事務「{code}」は{row.counterpart}に"
                f"{row.info_item}を照会しましたが、評価書では情報照会を行わないとしています。",
                assessment_id=getattr(basis, "assessment_id", None)))
    return out


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
}
assert set(RUNNERS) == set(CHECKS)


# ---------------------------------------------------------------------------
# Running and storing
# ---------------------------------------------------------------------------

def compute(period: Period, only: list[str] | None = None) -> list[dict]:
    """Findings of every enabled check over ``period`` (nothing stored)."""
    out = []
    for name, runner in RUNNERS.items():
        if only and name not in only:
            continue
        cfg = settings_for(name)
        if not cfg.enabled:
            continue
        out.extend(runner(period, cfg))
    return out


_FINDING_COLS = ("check", "key", "system", "user_id", "event_id", "record_id", "day",
                 "occurred_at", "severity", "explanation", "details")


def upsert(found: list[dict]) -> list[dict]:
    """Store new findings (existing keys are kept as they are, with their triage).

    Returns the findings with ``id`` and ``decision`` filled in.
    """
    f = Finding.__table__
    by_check: dict[str, list[dict]] = {}
    for item in found:
        by_check.setdefault(item["check"], []).append(item)
    now = utcnow()
    for check, items in by_check.items():
        existing: dict[str, tuple[int, str | None]] = {}
        keys = [i["key"] for i in items]
        for i in range(0, len(keys), 900):
            part = keys[i:i + 900]
            for fid, key, decision in db.session.execute(
                    sa.select(f.c.id, f.c.key, f.c.decision).where(
                        f.c.check == check, f.c.key.in_(part))):
                existing[key] = (fid, decision)
        new = []
        seen = set()
        for item in items:
            if item["key"] in existing or item["key"] in seen:
                continue
            seen.add(item["key"])
            new.append({**{c: item[c] for c in _FINDING_COLS}, "found_at": now})
        if new:
            db.session.execute(sa.insert(f), new)
            for i in range(0, len(new), 900):
                part = [n["key"] for n in new[i:i + 900]]
                for fid, key in db.session.execute(sa.select(f.c.id, f.c.key).where(
                        f.c.check == check, f.c.key.in_(part))):
                    existing[key] = (fid, None)
        for item in items:
            item["id"], item["decision"] = existing[item["key"]]
    return found


def run_checks(period: Period | None = None, only: list[str] | None = None) -> list[dict]:
    """Compute every check over ``period`` and store the findings (flushes; caller commits)."""
    found = compute(period or Period(), only)
    found.sort(key=lambda x: (x["check"], x["day"] or date.min, x["key"]))
    return upsert(found)


def finding_json(item: dict) -> dict:
    """A finding as ``flask evidence check --format json`` prints it."""
    out = {"check": item["check"], "severity": item["severity"],
           "explanation": item["explanation"], "id": item.get("id"),
           "decision": item.get("decision")}
    kind = CHECKS[item["check"]].key_kind
    if kind == "event":
        out.update(event_id=item["event_id"], system=item["system"], user_id=item["user_id"],
                   occurred_at=item["occurred_at"].isoformat())
    elif kind == "record":
        out.update(record_id=item["record_id"], occurred_at=item["occurred_at"].isoformat())
    elif kind == "user_day":
        out.update(user_id=item["user_id"], date=item["day"].isoformat(), system=item["system"])
    else:
        out.update(user_id=item["user_id"], system=item["system"])
    out["date"] = out.get("date") or (item["day"].isoformat() if item["day"] else None)
    out["details"] = item["details"]
    return out
