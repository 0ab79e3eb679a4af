"""Demo assessment documents: 札幌市 住民基本台帳に関する事務 (全項目評価書).

``juki_v1.yaml`` is version 1; ``juki_v2_changes.yaml`` lists the changes of the
draft version 2 (format described at its top), applied by :func:`apply_changes`.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from pia.schema import get_value, parse_path, set_value

DEMO_DIR = Path(__file__).resolve().parent
DEMO_FORM = "zenkoumoku"
DEMO_EDITION = "2024"


class ChangeError(ValueError):
    """A change cannot be applied to the document."""


def apply_changes(doc: Mapping[str, Any], changes: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A copy of ``doc`` with ``changes`` applied in order."""
    result = copy.deepcopy(dict(doc))
    for number, change in enumerate(changes, start=1):
        op = change.get("op")
        path = change.get("path", "")
        try:
            if op == "set":
                set_value(result, path, copy.deepcopy(change["value"]))
            elif op == "replace":
                text = get_value(result, path)
                old, new = change["old"], change["new"]
                if not isinstance(text, str) or text.count(old) != 1:
                    raise ChangeError(f"change {number}: the text to replace must occur once at {path}")
                set_value(result, path, text.replace(old, new))
            elif op == "append":
                target = get_value(result, path)
                if not isinstance(target, list):
                    raise ChangeError(f"change {number}: {path} is not a group or table")
                target.append(copy.deepcopy(change["value"]))
            elif op == "remove":
                *parent, (key, index) = parse_path(path)
                if index is None:
                    raise ChangeError(f"change {number}: remove needs an entry path like a[0]")
                container = get_value(
                    result, "/".join(k if i is None else f"{k}[{i}]" for k, i in parent + [(key, None)])
                )
                del container[index]
            else:
                raise ChangeError(f"change {number}: unknown op {op!r}")
        except (KeyError, IndexError, TypeError) as exc:
            raise ChangeError(f"change {number}: no value at {path}") from exc
    return result


def _read(name: str) -> Any:
    with (DEMO_DIR / name).open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@functools.cache
def _load() -> tuple[dict[str, Any], dict[str, Any]]:
    v1 = _read("juki_v1.yaml")
    v2 = apply_changes(v1, _read("juki_v2_changes.yaml")["changes"])
    return v1, v2


def load_demo_documents() -> tuple[dict[str, Any], dict[str, Any]]:
    """(version 1, draft version 2) of the demo assessment, as fresh copies."""
    v1, v2 = _load()
    return copy.deepcopy(v1), copy.deepcopy(v2)


def demo_change_title() -> str:
    """The title of the change that version 2 makes (for a demo version note)."""
    return str(_read("juki_v2_changes.yaml")["title"])
