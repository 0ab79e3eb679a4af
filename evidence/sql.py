"""SQL pieces the evidence checks and the explanations share (both engines)."""

from __future__ import annotations

import sqlalchemy as sa

from common.db import db


def dialect() -> str:
    """The name of the engine the session talks to: ``sqlite`` or ``postgresql``."""
    return db.session.get_bind().dialect.name


def json_object(pairs: dict):
    """SQL: a JSON object of constant keys and column values (JSONB on PostgreSQL)."""
    func = sa.func.jsonb_build_object if dialect() == "postgresql" else sa.func.json_object
    args = []
    for name, value in pairs.items():
        args += [sa.literal_column(f"'{name}'"), value]  # keys are ours, never user input
    return func(*args)
