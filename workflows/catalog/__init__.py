"""The procedure catalog: each procedure's route, times, legal basis and who hears about delays.

All pure (no clock, no I/O beyond reading the catalog files), one module per part:

- ``models``: frozen pydantic models ``Supervisor``, ``Agency``, ``Step``, ``Procedure``;
- ``checks``: route checks on one procedure; ``cross_checks``: checks over the whole catalog;
- ``escalation``: who is told about which alert, and the check that someone always is;
- ``lookups``: ``Catalog``, lookups over a consistent set of models;
- ``loader``: ``load_catalog`` reads YAML (the sample is in ``data/``) and raises one
  ``CatalogError`` listing every problem, each with file, path inside the file and line;
- ``summary``: ``summarize``, the figures province leadership is judged on.

The YAML schema and the conventions (same-day procedures, escalation) are in docs/catalog.md.
"""

from workflows.catalog.checks import SAMPLE_CODE_PREFIX
from workflows.catalog.escalation import ESCALATION_ROLES, escalation_role
from workflows.catalog.loader import DEFAULT_CATALOG_DIR, load_catalog
from workflows.catalog.lookups import Catalog
from workflows.catalog.models import (
    DEFAULT_OUTCOME,
    WORKING_HOURS_PER_DAY,
    Agency,
    AgencyLevel,
    AuthorityLevel,
    OnlineLevel,
    Procedure,
    Step,
    Supervisor,
    SupervisorRole,
    TimeUnit,
    UnknownOutcomeError,
    UnknownStepError,
)
from workflows.catalog.problems import (
    CatalogError,
    CatalogProblem,
    UnknownAgencyError,
    UnknownProcedureError,
)
from workflows.catalog.summary import CatalogSummary, summarize

__all__ = [
    "DEFAULT_CATALOG_DIR",
    "DEFAULT_OUTCOME",
    "ESCALATION_ROLES",
    "SAMPLE_CODE_PREFIX",
    "WORKING_HOURS_PER_DAY",
    "Agency",
    "AgencyLevel",
    "AuthorityLevel",
    "Catalog",
    "CatalogError",
    "CatalogProblem",
    "CatalogSummary",
    "OnlineLevel",
    "Procedure",
    "Step",
    "Supervisor",
    "SupervisorRole",
    "TimeUnit",
    "UnknownAgencyError",
    "UnknownOutcomeError",
    "UnknownProcedureError",
    "UnknownStepError",
    "escalation_role",
    "load_catalog",
    "summarize",
]
