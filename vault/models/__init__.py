"""The domain's tables, one model per module."""

from vault.models.audit import AuditEvent
from vault.models.receipt import CustodyReceipt
from vault.models.reply import Reply
from vault.models.reviewer import Reviewer, Role
from vault.models.source import Source
from vault.models.submission import SeenSubmission, Submission, SubmissionKind

__all__ = [
    "AuditEvent",
    "CustodyReceipt",
    "Reply",
    "Reviewer",
    "Role",
    "SeenSubmission",
    "Source",
    "Submission",
    "SubmissionKind",
]
