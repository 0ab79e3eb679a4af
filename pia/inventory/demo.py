"""Demo step: the システム台帳 of 001 (nine systems, three files), from ``demo.yaml``."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from common.db import db
from pia.inventory import importer
from pia.inventory.cli import snapshot_published
from pia.inventory.models import System

DEMO_FILE = Path(__file__).resolve().parent / "demo.yaml"


def load_demo(options) -> str | None:
    if db.session.execute(sa.select(System).filter_by(code="JUKI")).scalar_one_or_none() is not None:
        return None
    result = importer.import_file(DEMO_FILE.read_bytes(), DEMO_FILE.name, actor="demo")
    snapped = snapshot_published()
    return f"システム台帳({result.summary}、公表済みの{snapped}版の記載を記録)"
