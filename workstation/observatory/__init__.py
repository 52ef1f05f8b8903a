"""The observatory: coded incidents and the de-identified statistics released from them.

Its workstation side: incident records coded from decrypted reports,
sealed in the workspace, their history in the custody log, duplicates linked so that an
incident counts once.

Releases (what leaves the air gap: counts, suppression, signing, exports) are built from
rows of `release_input.ReleaseRow`; `to_release.release_rows` makes them from records.
"""

from workstation.observatory.duplicates import DuplicateSuggestion, score_pair, suggest_duplicates
from workstation.observatory.incidents import (
    ConsentStatus,
    Incident,
    group_incidents,
    statistics_consent,
)
from workstation.observatory.model import (
    Act,
    DatePrecision,
    IncidentDate,
    IncidentInvalidError,
    IncidentRecord,
    Place,
    SourceLink,
    VictimGroup,
)
from workstation.observatory.prefill import Prefill, prefill_from_report
from workstation.observatory.store import IncidentBook, IncidentStoreError, open_book

__all__ = [
    "Act",
    "ConsentStatus",
    "DatePrecision",
    "DuplicateSuggestion",
    "Incident",
    "IncidentBook",
    "IncidentDate",
    "IncidentInvalidError",
    "IncidentRecord",
    "IncidentStoreError",
    "Place",
    "Prefill",
    "SourceLink",
    "VictimGroup",
    "group_incidents",
    "open_book",
    "prefill_from_report",
    "score_pair",
    "statistics_consent",
    "suggest_duplicates",
]
