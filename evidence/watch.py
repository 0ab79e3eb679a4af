"""The drop folder: ``flask evidence watch DIR`` imports feed files as they arrive.

Conventions (the business systems' transfer jobs follow them):

* The kind comes from a sub-folder (``DIR/access/…``) or from the file name's first word
  (``access-20250401.csv``, ``grants_2025Q1.jsonl``); CSV or JSON Lines by extension or content.
* A file still being written is never read: write it as ``name.part`` (or ``.tmp``) and
  rename it when complete — or just write it; a file is only taken once its size and
  modification time have stayed the same for one polling interval (``--once``: for
  ``settle`` seconds).
* Each file goes through the same import service as the CLI and the API, then moves to
  ``DIR/done/`` (stored) or ``DIR/rejected/`` (nothing stored) with ``<name>.report.json``
  beside it (and ``<name>.rejected.csv`` listing the rows left out, if any).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

from common.db import unit_of_work
from evidence import transparency
from evidence.feeds import KINDS

log = logging.getLogger(__name__)
FAILED_REASON = (
    "取り込み中に予期しないエラーが発生したため、何も保存していません"
    "(ファイルの内容を確認のうえ、再送してください。詳細はサーバーのログにあります)"
)

IGNORED_SUFFIXES = (".part", ".tmp", ".report.json", ".rejected.csv")
RESERVED_DIRS = ("done", "rejected")


def kind_of(path: Path, root: Path) -> str | None:
    rel = path.relative_to(root)
    if len(rel.parts) > 1 and rel.parts[0] in KINDS:
        return rel.parts[0]
    head = path.name.lower().replace("_", "-").split("-")[0].split(".")[0]
    return head if head in KINDS else None


def candidates(root: Path) -> list[Path]:
    files = [p for p in root.iterdir() if p.is_file()]
    for kind in KINDS:
        sub = root / kind
        if sub.is_dir():
            files.extend(p for p in sub.iterdir() if p.is_file())
    return sorted(p for p in files if not p.name.startswith(".") and not p.name.endswith(IGNORED_SUFFIXES))


def _unique(target: Path) -> Path:
    if not target.exists():
        return target
    stem, n = target.name, 1
    while (target.parent / f"{stem}.{n}").exists():
        n += 1
    return target.parent / f"{stem}.{n}"


def process(path: Path, root: Path, echo=print) -> dict:
    """Import one ready file and move it; returns the report written beside it."""
    from evidence.ingest import import_path

    kind = kind_of(path, root)
    result = None
    if kind is None:
        report = {
            "file": path.name,
            "stored": False,
            "errors": [
                {
                    "line": 0,
                    "field": None,
                    "reason": "種類(access, grants, assignments, relations, provisions)を"
                    "フォルダ名またはファイル名の先頭で示してください",
                }
            ],
        }
        dest_dir = root / "rejected"
    else:
        try:
            with unit_of_work():  # each file is stored, or not at all, before it moves
                result = import_path(kind, path, source=f"watch:{path.name}")
        except Exception:  # never stop the watch: the file goes to rejected/ with a report
            log.exception("drop folder: importing %s failed", path.name)
            result = None
            report = {
                "file": path.name,
                "kind": kind,
                "stored": False,
                "errors": [{"line": 0, "field": None, "reason": FAILED_REASON}],
                "errors_total": 1,
            }
            dest_dir = root / "rejected"
        else:
            transparency.after_import(result, echo=echo)
            report = {"file": path.name, **result.as_dict()}
            dest_dir = root / ("done" if result.stored else "rejected")
    dest_dir.mkdir(exist_ok=True)
    dest = _unique(dest_dir / path.name)
    shutil.move(str(path), dest)
    dest.with_name(dest.name + ".report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    if result is not None and result.stored and result.errors_total:
        from evidence.ingest import write_reject_file

        write_reject_file(dest, result)
    state = "保存" if report.get("stored") else "不受理"
    echo(
        f"{path.name}: {state}(保存 {report.get('accepted', 0)} 件、重複 {report.get('duplicate', 0)} 件、"
        f"不備 {report.get('errors_total', len(report.get('errors', [])))} 件)→ {dest_dir.name}/"
    )
    return report


def watch(
    root: Path,
    *,
    once: bool = False,
    interval: float = 5.0,
    settle: float = 2.0,
    echo=print,
    max_rounds: int | None = None,
) -> list[dict]:
    """Poll ``root``; import every file whose size and mtime are stable. Returns the reports."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    seen: dict[Path, tuple[int, float]] = {}
    reports = []
    rounds = 0
    while True:
        rounds += 1
        now = time.time()
        for path in candidates(root):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            sig = (st.st_size, st.st_mtime)
            if once:
                ready = now - st.st_mtime >= settle
            else:
                ready = seen.get(path) == sig
            seen[path] = sig
            if ready:
                seen.pop(path, None)
                try:
                    reports.append(process(path, root, echo))
                except Exception:  # e.g. the file could not be moved: try again next round
                    log.exception("drop folder: %s could not be processed", path.name)
                    echo(f"{path.name}: 処理できませんでした(次の確認で再度処理します)")
        if once or (max_rounds is not None and rounds >= max_rounds):
            return reports
        time.sleep(interval)
