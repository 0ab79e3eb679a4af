"""Full-text search across assessments and versions that works for Japanese.

Japanese has no spaces between words, so neither SQLite FTS's default tokenizer nor
PostgreSQL's ``to_tsvector('simple', …)`` finds 戸籍住民課 inside 中央区戸籍住民課. Instead each
version has one row in ``assessment_search_texts`` with its text normalised (NFKC, case
folded), and a query is a substring match (``LIKE`` on SQLite, ``ILIKE`` on PostgreSQL) of
every term; the matching items are then picked out of the candidate versions in Python.
A few hundred versions of ~100 KB each scan in tens of milliseconds (see the tests).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import sqlalchemy as sa

from common.db import db
from pia.assessments.models import Affair, Assessment, AssessmentVersion, VersionSearchText
from pia.schema import flatten, load_schema

MAX_VERSIONS = 200
MAX_HITS_PER_VERSION = 20


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").casefold()


def terms(query: str) -> list[str]:
    """Terms of a query: separated by spaces (half- or full-width)."""
    return [t for t in normalise(query).split() if t][:8]


def version_text(version: AssessmentVersion) -> str:
    assessment = version.assessment
    parts = [
        assessment.title,
        assessment.number or "",
        assessment.affair.name,
        assessment.affair.code,
        assessment.affair.department.name,
    ]
    schema = load_schema(assessment.form, version.edition)
    parts += [f"{item.label}\t{item.text}" for item in flatten(schema, version.document) if item.text]
    return normalise("\n".join(parts))


def index_version(version: AssessmentVersion) -> None:
    """(Re)write the search text of ``version`` (called by the services on every save)."""
    text = version_text(version)
    row = db.session.get(VersionSearchText, version.id)
    if row is None:
        db.session.add(VersionSearchText(version_id=version.id, assessment_id=version.assessment_id, text=text))
    elif row.text != text:
        row.text = text
    db.session.flush()


def reindex_all() -> int:
    n = 0
    for version in db.session.execute(db.select(AssessmentVersion)).scalars():
        index_version(version)
        n += 1
    return n


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass
class Hit:
    path: str
    label: str
    snippet: tuple[str, str, str]  # before, match, after


@dataclass
class Result:
    version: AssessmentVersion
    hits: list[Hit]
    in_title: bool


def candidate_versions(query: str, *, version_filter=None, limit: int = MAX_VERSIONS) -> list[AssessmentVersion]:
    words = terms(query)
    if not words:
        return []
    column = VersionSearchText.text
    ilike = db.engine.dialect.name == "postgresql"
    stmt = (
        sa.select(AssessmentVersion)
        .join(VersionSearchText, VersionSearchText.version_id == AssessmentVersion.id)
        .join(Assessment, Assessment.id == AssessmentVersion.assessment_id)
        .join(Affair, Affair.id == Assessment.affair_id)
    )
    for word in words:
        pattern = _like(word)
        stmt = stmt.where(column.ilike(pattern, escape="\\") if ilike else column.like(pattern, escape="\\"))
    if version_filter is not None:
        stmt = stmt.where(version_filter)
    stmt = stmt.order_by(Assessment.id, AssessmentVersion.number.desc()).limit(limit)
    return list(db.session.execute(stmt).scalars())


def search(query: str, *, version_filter=None, limit: int = MAX_VERSIONS) -> list[Result]:
    """Versions containing every term of ``query``, with the items that contain a term."""
    words = terms(query)
    results = []
    for version in candidate_versions(query, version_filter=version_filter, limit=limit):
        schema = load_schema(version.assessment.form, version.edition)
        hits = []
        for item in flatten(schema, version.document):
            haystack = normalise(item.text)
            label = normalise(item.label)
            found = next((w for w in words if w in haystack or w in label), None)
            if found is None:
                continue
            hits.append(Hit(item.path, item.label, _snippet(item.text, found)))
            if len(hits) >= MAX_HITS_PER_VERSION:
                break
        head = normalise(
            f"{version.assessment.title} {version.assessment.affair.name} {version.assessment.affair.department.name}"
        )
        results.append(Result(version, hits, any(w in head for w in words)))
    return results


def _snippet(text: str, word: str, width: int = 40) -> tuple[str, str, str]:
    """(before, match, after) around the first occurrence of ``word`` in ``text``."""
    normalised = unicodedata.normalize("NFKC", text).casefold()
    # NFKC may change lengths; fall back to searching the normalised text itself
    source = text if len(normalised) == len(text) else unicodedata.normalize("NFKC", text)
    at = normalised.find(word)
    if at < 0:
        return (source[: width * 2], "", "")
    start = max(0, at - width)
    end = min(len(source), at + len(word) + width)
    before = ("…" if start else "") + re.sub(r"\s+", " ", source[start:at])
    after = re.sub(r"\s+", " ", source[at + len(word) : end]) + ("…" if end < len(source) else "")
    return before, source[at : at + len(word)], after
