"""Models of the pia package: affairs and assessments, the system inventory, third-party review."""

from pia.models.assessment import (  # noqa: F401
    ActionItem,
    Affair,
    AnnualReview,
    Assessment,
    AssessmentVersion,
    ChangeLogNote,
    ThresholdRecord,
    VersionSearchText,
)
from pia.models.inventory import (  # noqa: F401
    Connection,
    InventoryLink,
    InventorySnapshot,
    PiFile,
    PiFileRevision,
    System,
    SystemRevision,
    affair_pi_files,
    affair_systems,
    pi_file_systems,
    system_departments,
)
from pia.models.publication import PublishedDocument  # noqa: F401
from pia.models.review import ReviewBody, ReviewFinding, ReviewRound, ReviewSession  # noqa: F401
