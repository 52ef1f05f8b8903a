"""The domain's tables, one model per module."""

from vault.models.anchor import ChainAnchor
from vault.models.audit import AuditEvent
from vault.models.care import CareRequest, CareStatus
from vault.models.case import (
    Case,
    CaseAssignee,
    CaseLabel,
    CasePriority,
    CaseSource,
    CaseStatus,
    CaseStatusChange,
    CaseSubmission,
)
from vault.models.consent import ConsentAnswer, ConsentOrigin, ConsentRecord
from vault.models.consent_document import ConsentDocument
from vault.models.directory import (
    DirectoryListing,
    DirectoryPublication,
    PeerDirectory,
    PeerDirectoryEntry,
)
from vault.models.federation import (
    CaseMessage,
    CaseTransfer,
    FederationExchange,
    FederationPeer,
    PeerReaderKey,
    PsiMessage,
)
from vault.models.guidance import GuidanceAnswer, GuidanceQuestion
from vault.models.legal_hold import LegalHold
from vault.models.note import AccountKey, CaseNote
from vault.models.partner import (
    PartnerMember,
    PartnerOrg,
    PartnerService,
    Referral,
    ReferralMessage,
    ReferralStatus,
)
from vault.models.receipt import CustodyReceipt
from vault.models.referral_seen import ReferralSeen
from vault.models.release import ObservatoryRelease
from vault.models.reply import Reply, ReplyCopy, ReplySealer, SeenReply
from vault.models.retired_key import RetiredKey
from vault.models.reviewer import Reviewer, Role
from vault.models.sealed_blob import SealedBlob, SealedBlobChunk
from vault.models.source import Source
from vault.models.submission import SeenSubmission, Submission, SubmissionKind, UnreadSubmission

__all__ = [
    "AccountKey",
    "AuditEvent",
    "CareRequest",
    "CareStatus",
    "Case",
    "CaseAssignee",
    "CaseLabel",
    "CaseMessage",
    "CaseNote",
    "CasePriority",
    "CaseSource",
    "CaseStatus",
    "CaseStatusChange",
    "CaseSubmission",
    "CaseTransfer",
    "ChainAnchor",
    "ConsentAnswer",
    "ConsentDocument",
    "ConsentOrigin",
    "ConsentRecord",
    "CustodyReceipt",
    "DirectoryListing",
    "DirectoryPublication",
    "FederationExchange",
    "FederationPeer",
    "GuidanceAnswer",
    "GuidanceQuestion",
    "LegalHold",
    "ObservatoryRelease",
    "PartnerMember",
    "PartnerOrg",
    "PartnerService",
    "PeerDirectory",
    "PeerDirectoryEntry",
    "PeerReaderKey",
    "PsiMessage",
    "Referral",
    "ReferralMessage",
    "ReferralSeen",
    "ReferralStatus",
    "Reply",
    "ReplyCopy",
    "ReplySealer",
    "RetiredKey",
    "Reviewer",
    "Role",
    "SealedBlob",
    "SealedBlobChunk",
    "SeenReply",
    "SeenSubmission",
    "Source",
    "Submission",
    "SubmissionKind",
    "UnreadSubmission",
]
