"""Deterministic demo evidence feeds for 既存住基システム (``JUKI``) and the 事務 ``juki``.

A quarter (2025-04-01..2025-06-30) of access events by about 150 staff of the ten 区
戸籍住民課 and 住民情報課, with their grants, assignments (a few transferred to 市民税課
mid-quarter), staff relations and 情報提供等記録. Violations of every kind are planted a
few times each; :func:`planted` lists them so tests can check that the checks find them.

The quarter is laid out on the 2025 calendar; ``end`` (the load day, given by the caller)
moves it onto the quarter ending that day (:func:`move_to`): business days map to business
days in order (the last one to the last business day up to ``end``), the planted weekend and
holiday events to a weekend and a holiday of the new quarter, earlier dates by the same shift.

Everything comes from ``random.Random(seed)``, fixed data and ``end``: no clock, no I/O except
in :func:`write_feeds` and :func:`write_access_csv`. Values are strings as they would
appear in a CSV file; ``subject_id`` values are pseudonymous keys (``S`` + 10 hex digits).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from common import csvsafe
from evidence.checks import closed_days
from evidence.feeds import FIELDS

SYSTEM = "JUKI"
AFFAIR = "juki"
INFO_ITEM = "住民票関係情報"
QUARTER_START = date(2025, 4, 1)
QUARTER_END = date(2025, 6, 30)

WARDS = ["中央区", "北区", "東区", "白石区", "厚別区", "豊平区", "清田区", "南区", "西区", "手稲区"]
DEPARTMENTS = [f"{ward}戸籍住民課" for ward in WARDS] + ["住民情報課"]
#: Departments whose work needs JUKI (a transfer elsewhere ends the need).
AUTHORISED_DEPARTMENTS = tuple(DEPARTMENTS)
TRANSFER_DEPARTMENT = "市民税課"

#: 001's declared legal basis for provision (items of the table in 主務省令第2条).
DECLARED_TABLE_ITEMS = (
    1,
    2,
    3,
    5,
    7,
    11,
    13,
    15,
    20,
    28,
    37,
    39,
    48,
    53,
    57,
    58,
    59,
    63,
    65,
    66,
    69,
    73,
    75,
    76,
    81,
    83,
    84,
    86,
    87,
    91,
    92,
    96,
    106,
    108,
    110,
    112,
    115,
    118,
    124,
    129,
    130,
    132,
    136,
    137,
    138,
    141,
    142,
    144,
    149,
    150,
    151,
    152,
    155,
    156,
    158,
    160,
    163,
    164,
    165,
    166,
)

#: National holidays inside the quarter (2025-05-06 is a 振替休日).
HOLIDAYS_2025_Q1 = (date(2025, 4, 29), date(2025, 5, 3), date(2025, 5, 4), date(2025, 5, 5), date(2025, 5, 6))
#: Working hours that normal events stay inside (the check allows 08:00-19:00 JST).
NORMAL_FIRST_SECOND = 8 * 3600 + 30 * 60
NORMAL_LAST_SECOND = 18 * 3600 + 30 * 60

STAFF_COUNT = 150
SUBJECT_POOL = 40_000
PROVISIONS = 1_500

COUNTERPARTS = (
    "北海道",
    "日本年金機構",
    "全国健康保険協会",
    "旭川市",
    "函館市",
    "小樽市",
    "地方公共団体情報システム機構",
    "北海道後期高齢者医療広域連合",
)
ACTIONS = (
    ("view", 55),
    ("search", 20),
    ("print", 8),
    ("update", 8),
    ("create", 2),
    ("export", 1),
    ("login", 3),
    ("logout", 3),
)
TERMINALS = 60


def user_id(n: int) -> str:
    return f"u{n:04d}"


def planted_subject(n: int) -> str:
    """Subjects used only by planted events and relations (never in the normal pool)."""
    return f"S{0xF000000000 + n:010x}"


# -- the planted violations (fixed data, independent of the seed) --------------------

TRANSFERS = {
    # user: (last day in the authorised department, revoked_at or None)
    user_id(11): (date(2025, 5, 14), None),  # stale + accesses after
    user_id(50): (date(2025, 4, 30), date(2025, 6, 16)),  # stale (47 days) + accesses after
    user_id(24): (date(2025, 5, 31), date(2025, 6, 20)),  # stale (20 days)
    user_id(37): (date(2025, 4, 30), date(2025, 5, 7)),  # revoked in 7 days: not a violation
}
NO_GRANT_USER = "u0901"
DORMANT_USERS = (user_id(149), user_id(150))
BULK_USER, BULK_DAY, BULK_SUBJECTS = user_id(7), date(2025, 6, 12), 230
DENIED_USER, DENIED_DAY, DENIED_COUNT = user_id(18), date(2025, 5, 21), 14
RELATED = (  # (user, relation, subject, day, time, action)
    (user_id(3), "self", planted_subject(1), date(2025, 4, 22), "13:10:05", "view"),
    (user_id(60), "household", planted_subject(2), date(2025, 5, 13), "10:00:41", "print"),
    (user_id(95), "relative", planted_subject(3), date(2025, 6, 5), "16:40:12", "view"),
)
AFTER_HOURS = (  # (user, day, time, why)
    (user_id(5), date(2025, 4, 8), "22:10:00", "night"),
    (user_id(12), date(2025, 5, 20), "07:15:30", "early"),
    (user_id(20), date(2025, 5, 10), "10:00:00", "weekend"),
    (user_id(31), date(2025, 4, 29), "11:00:00", "holiday"),
    (user_id(42), date(2025, 5, 5), "14:00:00", "holiday"),
)
PROTECTED = (  # (subject, start, end, user, day, time, explained): one access each
    (planted_subject(9001), date(2025, 2, 1), None, user_id(8), date(2025, 5, 15), "11:20:00", False),
    (planted_subject(9002), date(2025, 4, 10), date(2025, 6, 10), user_id(27), date(2025, 6, 10), "16:05:00", False),
    (planted_subject(9003), date(2025, 5, 1), None, user_id(33), date(2025, 4, 24), "10:10:00", False),  # before
    (planted_subject(9004), date(2025, 4, 1), None, user_id(45), date(2025, 5, 29), "14:30:00", True),
)
COWORKER_LOOKUPS = (  # (user, subject that relations lists as another staff member's self, day, time)
    (user_id(40), planted_subject(100), date(2025, 5, 22), "14:05:00"),  # u0100's own record
    (user_id(41), planted_subject(103), date(2025, 6, 17), "10:40:00"),  # u0103's own record
)
#: the share of the normal accesses (照会・印刷・出力・更新) a transaction explains
EXPLAINED_SHARE = 0.86
TRANSACTION_KINDS = (
    ("住民票の写し交付", 40),
    ("転居届", 12),
    ("転入届", 10),
    ("転出届", 8),
    ("印鑑登録証明書交付", 15),
    ("戸籍の附票の写し交付", 5),
    ("住所変更の届出", 10),
)
SURNAMES = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田", "佐々木")
GIVEN_NAMES = ("太郎", "花子", "一郎", "美咲", "健", "陽子", "大輔", "直美", "翔", "由美", "誠", "恵", "拓也", "彩")
NO_GRANT_EVENTS = ((date(2025, 4, 15), "10:00:00"), (date(2025, 4, 15), "10:05:10"), (date(2025, 4, 16), "09:12:44"))
AFTER_TRANSFER_EVENTS = (
    (user_id(11), date(2025, 5, 20), "10:30:00"),
    (user_id(11), date(2025, 5, 27), "14:00:00"),
    (user_id(11), date(2025, 6, 3), "09:45:00"),
    (user_id(50), date(2025, 5, 8), "11:00:00"),
    (user_id(50), date(2025, 5, 9), "15:20:00"),
)
OUTSIDE_BASIS = (("JP-OUT-0001", 4, date(2025, 5, 12)), ("JP-OUT-0002", 200, date(2025, 6, 18)))
INQUIRIES = (("JP-INQ-0001", 2, date(2025, 4, 23)), ("JP-INQ-0002", 11, date(2025, 6, 2)))


def _stamp(day: date, hhmmss: str) -> str:
    return f"{day.isoformat()}T{hhmmss}+09:00"


def _access(event_id, occurred_at, user, action, subject="", result="success", terminal="T-01"):
    return {
        "event_id": event_id,
        "occurred_at": occurred_at,
        "system": SYSTEM,
        "user_id": user,
        "action": action,
        "subject_id": subject,
        "terminal": terminal,
        "result": result,
        "purpose": AFFAIR,
    }


def _planted_rows() -> tuple[dict[str, list[dict]], list[dict]]:
    """Rows of the planted violations, and their descriptions."""
    rows: dict[str, list[dict]] = {kind: [] for kind in FIELDS}
    found: list[dict] = []
    seq = iter(range(1, 10_000))

    def event(day, hhmmss, user, action="view", subject=None, result="success"):
        n = next(seq)
        row = _access(
            f"JUKI-P{n:04d}",
            _stamp(day, hhmmss),
            user,
            action,
            subject if subject is not None else planted_subject(1000 + n),
            result,
        )
        rows["access"].append(row)
        return row["event_id"]

    ids = [event(day, t, NO_GRANT_USER) for day, t in NO_GRANT_EVENTS]
    found.append({"check": "no_grant", "user_id": NO_GRANT_USER, "event_ids": ids})

    for user, day, t in AFTER_TRANSFER_EVENTS:
        found.append({"check": "after_transfer", "user_id": user, "event_ids": [event(day, t, user)]})
    for user, (last_day, revoked) in TRANSFERS.items():
        days_active = ((revoked or QUARTER_END) - last_day).days
        if days_active > 14:
            found.append(
                {
                    "check": "stale_grant",
                    "user_id": user,
                    "left_on": last_day.isoformat(),
                    "revoked_at": revoked.isoformat() if revoked else "",
                }
            )

    for user, relation, subject, day, t, action in RELATED:
        found.append(
            {
                "check": "self_or_family",
                "user_id": user,
                "subject_id": subject,
                "relation": relation,
                "event_ids": [event(day, t, user, action, subject)],
            }
        )
        rows["relations"].append({"user_id": user, "subject_id": subject, "relation": relation})

    for user, day, t, why in AFTER_HOURS:
        found.append({"check": "after_hours", "user_id": user, "why": why, "event_ids": [event(day, t, user)]})

    ids = []
    for i in range(BULK_SUBJECTS):
        second = 9 * 3600 + i * 100  # 09:00 .. 15:23
        ids.append(
            event(
                BULK_DAY,
                f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}",
                BULK_USER,
                "view",
                planted_subject(5000 + i),
            )
        )
    found.append(
        {
            "check": "bulk_access",
            "user_id": BULK_USER,
            "date": BULK_DAY.isoformat(),
            "subjects": BULK_SUBJECTS,
            "event_ids": ids,
        }
    )

    ids = [
        event(
            DENIED_DAY,
            f"10:{i * 2:02d}:17",
            DENIED_USER,
            ("update", "view")[i % 2],
            planted_subject(8000 + i),
            "denied",
        )
        for i in range(DENIED_COUNT)
    ]
    found.append(
        {
            "check": "denied_spike",
            "user_id": DENIED_USER,
            "date": DENIED_DAY.isoformat(),
            "denied": DENIED_COUNT,
            "event_ids": ids,
        }
    )

    # the bulk day's planted subjects have no transaction: most of that user-day is unexplained
    found.append({"check": "unexplained_access", "user_id": BULK_USER, "date": BULK_DAY.isoformat()})

    for subject, start, end, user, day, t, explained in PROTECTED:
        rows["protections"].append(
            {
                "subject_id": subject,
                "measure": "dv_support",
                "start_date": start.isoformat(),
                "end_date": end.isoformat() if end else "",
            }
        )
        event_id = event(day, t, user, "view", subject)
        protected = start <= day and (end is None or day <= end)
        if explained:
            rows["transactions"].append(
                _transaction(f"TX-P{len(rows['transactions']) + 1:04d}", _stamp(day, "09:00:00"), user, subject)
            )
        elif protected:
            found.append(
                {"check": "protected_subject", "user_id": user, "subject_id": subject, "event_ids": [event_id]}
            )

    for user, subject, day, t in COWORKER_LOOKUPS:
        found.append(
            {
                "check": "coworker_record",
                "user_id": user,
                "subject_id": subject,
                "event_ids": [event(day, t, user, "view", subject)],
            }
        )

    for user in DORMANT_USERS:
        found.append({"check": "dormant_grant", "user_id": user})

    for record_id, item, day in OUTSIDE_BASIS:
        rows["provisions"].append(
            _provision(record_id, _stamp(day, "11:20:00"), "provide", "日本年金機構", item, planted_subject(9000))
        )
        found.append({"check": "provision_outside_basis", "record_id": record_id, "table_item": item})
    for record_id, item, day in INQUIRIES:
        rows["provisions"].append(
            _provision(record_id, _stamp(day, "15:02:00"), "inquire", "北海道", item, planted_subject(9001))
        )
        found.append({"check": "inquiry_declared_none", "record_id": record_id})
    return rows, found


def _transaction(transaction_id, occurred_at, user, subject, kind="住民票の写し交付"):
    return {
        "transaction_id": transaction_id,
        "occurred_at": occurred_at,
        "system": SYSTEM,
        "department": _department(int(user[1:])),
        "kind": kind,
        "subject_id": subject,
        "user_id": user,
    }


def display_name(n: int) -> str:
    """A made-up staff name (``佐藤 太郎``) for ``user_id(n)``."""
    return f"{SURNAMES[n % len(SURNAMES)]} {GIVEN_NAMES[(n * 5 + n // len(SURNAMES)) % len(GIVEN_NAMES)]}"


def _provision(record_id, occurred_at, direction, counterpart, item, subject, result="success"):
    return {
        "record_id": record_id,
        "occurred_at": occurred_at,
        "direction": direction,
        "counterpart": counterpart,
        "table_item": str(item),
        "info_item": INFO_ITEM,
        "affair": AFFAIR,
        "subject_id": subject,
        "result": result,
    }


def planted(seed: int = 20250401, events: int = 100_000, end: date | None = None) -> list[dict]:
    """The planted violations: ``check`` (the check's name) and the keys that identify them.

    The planted data does not depend on ``seed`` or ``events``; the parameters mirror
    :func:`generate`.
    """
    found = _planted_rows()[1]
    if end is None:
        return found
    move = day_mapping(end)
    out = []
    for p in found:
        p = dict(p)
        for key in ("left_on", "revoked_at", "date"):
            if p.get(key):
                p[key] = move(date.fromisoformat(p[key])).isoformat()
        out.append(p)
    return out


# -- the quarter moved to a load day ---------------------------------------------------


def quarter(end: date | None = None) -> tuple[date, date]:
    """First and last day of the demo quarter (the 2025 one, or the one ending on ``end``)."""
    if end is None:
        return QUARTER_START, QUARTER_END
    return end - (QUARTER_END - QUARTER_START), end


def day_mapping(end: date):
    """``move(day)``: a day of the 2025 quarter (or before it) on the quarter ending ``end``."""
    start = quarter(end)[0]
    base = business_days()
    closed = set(closed_days(start, end))
    new = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    new_open = [day for day in new if day not in closed]
    new_holidays = [day for day in new if day in closed and day.weekday() < 5]
    index = {day: i for i, day in enumerate(base)}
    shift = start - QUARTER_START

    def on_open(i: int) -> date:
        return new_open[round(i * (len(new_open) - 1) / (len(base) - 1))]

    def move(day: date) -> date:
        if day < QUARTER_START or day > QUARTER_END:
            return day + shift
        if day in index:
            return on_open(index[day])
        if day in HOLIDAYS_2025_Q1 and day.weekday() < 5 and new_holidays:
            return new_holidays[HOLIDAYS_2025_Q1.index(day) % len(new_holidays)]
        # a weekend day: the same weekday after the business day before it, within the quarter
        before = max(d for d in base if d < day) if day > base[0] else base[0]
        moved = on_open(index[before])
        moved += timedelta(days=(day.weekday() - moved.weekday()) % 7)
        return moved if moved <= end else moved - timedelta(days=7)

    return move


def move_to(feeds: dict[str, list[dict]], end: date) -> dict[str, list[dict]]:
    """The feeds of :func:`generate` with their days moved onto the quarter ending ``end``."""
    move = day_mapping(end)

    def day(value: str) -> str:
        return move(date.fromisoformat(value)).isoformat() if value else value

    def stamp(value: str) -> str:
        return day(value[:10]) + value[10:]

    out = {kind: [dict(row) for row in rows] for kind, rows in feeds.items()}
    for kind in ("access", "provisions", "transactions"):
        for row in out[kind]:
            row["occurred_at"] = stamp(row["occurred_at"])
        out[kind].sort(key=lambda row: row["occurred_at"])
    for row in out["grants"]:
        row["granted_at"], row["revoked_at"] = day(row["granted_at"]), day(row["revoked_at"])
    for row in out["assignments"]:
        transfer = TRANSFERS.get(row["user_id"])
        if transfer and row["department"] == TRANSFER_DEPARTMENT:  # the day after leaving
            row["start_date"] = (move(transfer[0]) + timedelta(days=1)).isoformat()
        else:
            row["start_date"] = day(row["start_date"])
        row["end_date"] = day(row["end_date"])
    for row in out["protections"]:
        row["start_date"], row["end_date"] = day(row["start_date"]), day(row["end_date"])
    return out


# -- the normal quarter ----------------------------------------------------------------


def business_days(start: date = QUARTER_START, end: date = QUARTER_END) -> list[date]:
    days = []
    day = start
    while day <= end:
        if day.weekday() < 5 and day not in HOLIDAYS_2025_Q1:
            days.append(day)
        day += timedelta(days=1)
    return days


def _department(n: int) -> str:
    return DEPARTMENTS[(n - 1) % len(DEPARTMENTS)]


def _subject_pool(rng: random.Random) -> list[str]:
    reserved = {planted_subject(n) for n in range(10_000)}
    pool: dict[str, None] = {}
    while len(pool) < SUBJECT_POOL:
        subject = f"S{rng.getrandbits(40):010x}"
        if subject not in reserved:
            pool[subject] = None
    return list(pool)


def _weighted(rng: random.Random, table) -> list[str]:
    return [value for value, weight in table for _ in range(weight)]


def generate(seed: int = 20250401, events: int = 100_000, end: date | None = None) -> dict[str, list[dict]]:
    """All seven feeds as lists of rows (spec field names, CSV string values); with ``end``, on
    the quarter ending that day (:func:`move_to`), else on the 2025 quarter."""
    feeds = _generate(seed, events)
    return feeds if end is None else move_to(feeds, end)


def _generate(seed: int, events: int) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    planted_rows, _ = _planted_rows()
    subjects = _subject_pool(rng)
    days = business_days()
    staff = [user_id(n) for n in range(1, STAFF_COUNT + 1)]

    grants, assignments = [], []
    for n, user in enumerate(staff, start=1):
        since = date(2024, 10, 1) if user in DORMANT_USERS else rng.choice([date(2023, 4, 1), date(2024, 4, 1)])
        transfer = TRANSFERS.get(user)
        grants.append(
            {
                "user_id": user,
                "system": SYSTEM,
                "role": "住基更新" if n % 4 == 0 else "住基照会",
                "granted_at": since.isoformat(),
                "revoked_at": transfer[1].isoformat() if transfer and transfer[1] else "",
                "granted_by": "住民情報課長",
            }
        )
        assignments.append(
            {
                "user_id": user,
                "department": _department(n),
                "start_date": since.isoformat(),
                "end_date": transfer[0].isoformat() if transfer else "",
                "display_name": display_name(n),
            }
        )
        if transfer:
            assignments.append(
                {
                    "user_id": user,
                    "department": TRANSFER_DEPARTMENT,
                    "start_date": (transfer[0] + timedelta(days=1)).isoformat(),
                    "end_date": "",
                    "display_name": display_name(n),
                }
            )
    assignments.append(
        {"user_id": NO_GRANT_USER, "department": "住民情報課", "start_date": "2025-04-01", "end_date": ""}
    )

    relations = list(planted_rows["relations"])
    for i, n in enumerate(range(100, 130)):  # staff living in the city, never looked up
        relations.append(
            {
                "user_id": user_id(n),
                "subject_id": planted_subject(100 + i),
                "relation": ("self", "household", "relative")[i % 3],
            }
        )

    active = [u for u in staff if u not in DORMANT_USERS]
    last_day = {user: TRANSFERS[user][0] for user in TRANSFERS}
    actions = _weighted(rng, ACTIONS)
    normal = max(0, events - len(planted_rows["access"]))
    stamped = []
    for _ in range(normal):
        day = rng.choice(days)
        user = rng.choice(active)
        while user in last_day and day > last_day[user]:
            user = rng.choice(active)
        second = rng.randrange(NORMAL_FIRST_SECOND, NORMAL_LAST_SECOND)
        action = rng.choice(actions)
        subject = (
            "" if action in ("login", "logout") or (action == "search" and rng.random() < 0.3) else rng.choice(subjects)
        )
        result = "denied" if rng.random() < 0.003 else "success"
        terminal = f"T-{rng.randrange(TERMINALS) + 1:02d}"
        stamped.append((day, second, user, action, subject, result, terminal))
    stamped.sort(key=lambda e: (e[0], e[1]))
    access = [
        _access(
            f"JUKI-{i:07d}",
            _stamp(day, f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"),
            user,
            action,
            subject,
            result,
            terminal,
        )
        for i, (day, s, user, action, subject, result, terminal) in enumerate(stamped, start=1)
    ]
    access.extend(planted_rows["access"])
    access.sort(key=lambda row: row["occurred_at"])

    provisions = []
    for i in range(PROVISIONS):
        day = rng.choice(days)
        s = rng.randrange(9 * 3600, 17 * 3600)
        provisions.append(
            _provision(
                f"JP-{i + 1:08d}",
                _stamp(day, f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"),
                "provide",
                rng.choice(COUNTERPARTS),
                rng.choice(DECLARED_TABLE_ITEMS),
                rng.choice(subjects),
                "error" if rng.random() < 0.01 else "success",
            )
        )
    provisions.extend(planted_rows["provisions"])
    provisions.sort(key=lambda row: row["occurred_at"])

    # transactions for most normal accesses: earlier that day at the user's counter (a
    # generator of its own, so the events and provisions stay those of the seed)
    trng = random.Random(seed + 1)
    kinds = _weighted(trng, TRANSACTION_KINDS)
    transactions = []
    for day, s, user, action, subject, result, _terminal in stamped:
        if action not in ("view", "print", "update", "export") or not subject or result != "success":
            continue
        if trng.random() >= EXPLAINED_SHARE:
            continue
        when = max(NORMAL_FIRST_SECOND - 1800, s - trng.randrange(60, 3600))
        transactions.append(
            _transaction(
                f"TX-{len(transactions) + 1:07d}",
                _stamp(day, f"{when // 3600:02d}:{when // 60 % 60:02d}:{when % 60:02d}"),
                user,
                subject,
                trng.choice(kinds),
            )
        )
    transactions.extend(planted_rows["transactions"])
    transactions.sort(key=lambda row: row["occurred_at"])

    return {
        "access": access,
        "grants": grants,
        "assignments": assignments,
        "relations": relations,
        "provisions": provisions,
        "transactions": transactions,
        "protections": planted_rows["protections"],
    }


def _write_csv(path: Path, kind: str, rows) -> None:
    names = [spec.name for spec in FIELDS[kind]]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csvsafe.writer(fh, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([row.get(name, "") for name in names] for row in rows)


def write_feeds(directory, **kw) -> dict[str, Path]:
    """Write the seven feeds as ``<kind>.csv`` in ``directory``; ``kw`` goes to generate()."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, rows in generate(**kw).items():
        paths[kind] = directory / f"{kind}.csv"
        _write_csv(paths[kind], kind, rows)
    return paths


def iter_access_rows(n_rows: int, seed: int = 20250401) -> Iterator[list[str]]:
    """``n_rows`` plain access rows (field order of FIELDS["access"]) for benchmarks."""
    rng = random.Random(seed)
    staff = [user_id(n) for n in range(1, STAFF_COUNT + 1)]
    actions = _weighted(rng, ACTIONS)
    days = business_days()
    span = NORMAL_LAST_SECOND - NORMAL_FIRST_SECOND
    per_day = max(1, -(-n_rows // len(days)))
    for i in range(n_rows):
        day = days[min(i // per_day, len(days) - 1)]
        s = NORMAL_FIRST_SECOND + (i % per_day) * span // per_day
        action = rng.choice(actions)
        yield [
            f"JUKI-{i + 1:08d}",
            _stamp(day, f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"),
            SYSTEM,
            rng.choice(staff),
            action,
            "" if action in ("login", "logout") else f"S{rng.getrandbits(40):010x}",
            f"T-{rng.randrange(TERMINALS) + 1:02d}",
            "success",
            AFFAIR,
        ]


def write_access_csv(path, n_rows: int, seed: int = 20250401) -> Path:
    """Stream ``n_rows`` access rows to a CSV file without holding them in memory."""
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csvsafe.writer(fh, lineterminator="\n")
        writer.writerow([spec.name for spec in FIELDS["access"]])
        batch = []
        for row in iter_access_rows(n_rows, seed):
            batch.append(row)
            if len(batch) >= 10_000:
                writer.writerows(batch)
                batch.clear()
        writer.writerows(batch)
    return path
