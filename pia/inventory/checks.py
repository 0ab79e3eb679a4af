"""The システム台帳's item of the pre-submission checklist (registered by :func:`pia.inventory.init_app`)."""

from __future__ import annotations

from collections.abc import Iterator

from pia.assessments import checklist
from pia.assessments.checklist import CheckItem
from pia.assessments.models import AssessmentVersion
from pia.inventory import services
from pia.schema import ledger_group

GROUP_LEDGER = "システム台帳との一致"


def ledger(version: AssessmentVersion) -> Iterator[CheckItem]:
    """The systems and files named are records of the 台帳, and every record of the 事務 is named."""
    schema = checklist.schema_of(version)
    found = services.ledger_match(version)
    for kind in services.KIND_NOUNS:
        group = ledger_group(schema, kind)
        if group is None:
            continue
        path = group[0]
        label = f"{checklist.quoted(schema, path)}がシステム台帳と一致している"
        problems = found.problems(kind)
        first = next((e.path + "/name" for e in found.unknown(kind) + found.renamed(kind)), path)
        yield (
            checklist.failed(f"ledger:{kind}", label, GROUP_LEDGER, problems, first)
            if problems
            else checklist.passed(f"ledger:{kind}", label, GROUP_LEDGER)
        )
