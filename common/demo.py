"""Demo data: one loader that every package plugs into.

``flask --app app demo load`` runs the registered steps in order. Each step is idempotent
(it looks for what it would create and stops when it is there), so ``make run`` can call
the loader every time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from common.auth import hash_password
from common.db import db
from common.models import Department, Setting, User

DEMO_PASSWORD = "hyoka-demo"

WARDS = ["中央区", "北区", "東区", "白石区", "厚別区", "豊平区", "清田区", "南区", "西区", "手稲区"]
WARD_CODES = ["chuo", "kita", "higashi", "shiroishi", "atsubetsu", "toyohira", "kiyota", "minami", "nishi", "teine"]

#: (code, name) of the demo body's departments, in display order
DEPARTMENTS = [(f"{code}-koseki", f"{ward}戸籍住民課") for code, ward in zip(WARD_CODES, WARDS)] + [
    ("juminjoho", "住民情報課"),
    ("shiminzei", "市民税課"),
    ("hokennenkin", "保険年金課"),
    ("kaigohoken", "介護保険課"),
    ("kosodate", "子育て支援課"),
    ("johoshisutemu", "情報システム課"),
    ("gyoseijoho", "行政情報課"),
]

#: username, display name, roles, department codes
DEMO_USERS = [
    ("admin", "管理 太郎", ["admin"], []),
    ("officer", "評価 花子", ["officer"], ["juminjoho"]),
    ("editor", "住民 一郎", ["editor"], ["juminjoho"]),
    ("editor-zei", "税務 次郎", ["editor"], ["shiminzei"]),
    ("reviewer", "審議 三郎", ["reviewer"], []),
    ("auditor", "監査 四郎", ["auditor"], []),
]

BODY_SETTINGS = {
    "body.name": "札幌市",
    "body.head": "札幌市長",
    "body.website": "https://www.city.sapporo.jp/",
}


@dataclass(frozen=True)
class DemoStep:
    name: str
    order: int
    func: Callable[[dict], str | None]
    evidence: bool = False


_STEPS: list[DemoStep] = []


def register_demo(name: str, func: Callable[[dict], str | None], *, order: int = 100, evidence: bool = False) -> None:
    """Plug a loader step in. ``func(options)`` returns a line to print (or None)."""
    if any(step.name == name for step in _STEPS):
        return
    _STEPS.append(DemoStep(name, order, func, evidence))


def steps() -> list[DemoStep]:
    return sorted(_STEPS, key=lambda s: (s.order, s.name))


def load(*, evidence: bool = True, options: dict | None = None) -> list[str]:
    """Run every step; returns what each step reported."""
    options = dict(options or {}, evidence=evidence)
    out = []
    for step in steps():
        if step.evidence and not evidence:
            continue
        message = step.func(options)
        db.session.commit()
        if message:
            out.append(f"{step.name}: {message}")
    return out


def _load_base(options) -> str | None:
    for key, value in BODY_SETTINGS.items():
        if db.session.get(Setting, key) is None:
            db.session.add(Setting(key=key, value=value))
    existing = {d.code for d in db.session.execute(db.select(Department)).scalars()}
    for order, (code, name) in enumerate(DEPARTMENTS):
        if code not in existing:
            db.session.add(Department(code=code, name=name, sort_order=order))
    db.session.flush()
    by_code = {d.code: d for d in db.session.execute(db.select(Department)).scalars()}
    created = 0
    for username, name, roles, departments in DEMO_USERS:
        if db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none():
            continue
        user = User(username=username, display_name=name, password_hash=hash_password(DEMO_PASSWORD))
        user.set_roles(roles)
        user.departments = [by_code[c] for c in departments]
        db.session.add(user)
        created += 1
    return f"団体・所属・デモ利用者({created}人を新規作成)"


register_demo("base", _load_base, order=0)


def accounts_text() -> str:
    lines = ["デモ用アカウント(パスワードはすべて hyoka-demo):"]
    for username, name, roles, departments in DEMO_USERS:
        depts = "、".join(dict(DEPARTMENTS)[c] for c in departments)
        role = "、".join(roles)
        lines.append(f"  {username:<11} {name}  役割: {role}" + (f"  所属: {depts}" if depts else ""))
    return "\n".join(lines)
