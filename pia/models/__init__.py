"""Models of the pia package: affairs and assessments, the system inventory, third-party review."""
from pia.models.assessment import Affair, Assessment, AssessmentVersion  # noqa: F401
from pia.models.inventory import System, system_departments  # noqa: F401
