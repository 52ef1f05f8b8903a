"""How the audit log reads to people: action names, categories, objects and details.

The log stores fixed identifiers (`case_priority_changed`, a uuid, a detail such as
{"field": "priority", "from": "normal", "to": "high"}); this module turns them into
translated words for the page. Anything it does not know (an action added later, a
detail key it has no wording for) is still shown, as the identifier itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from journalist_app.case_forms import (
    PRIORITY_LABELS,
    REASON_LABELS,
    REFERRAL_LABELS,
    STATUS_LABELS,
)
from vault.services.audit_objects import ObjectRef, submission_number

__all__ = ["CATEGORY_LABELS", "DetailPart", "action_label", "describe_detail", "object_text"]

CATEGORY_LABELS: dict[str, LazyString] = {
    "cases": _l("Cases"),
    "sources": _l("Sources and submissions"),
    "replies": _l("Replies"),
    "referrals": _l("Referrals and partners"),
    "accounts": _l("Accounts and logins"),
    "care": _l("Care"),
    "admin": _l("Administration and audit"),
    "other": _l("Other"),
}

_ACTIONS: dict[str, LazyString] = {
    # Cases
    "case_created": _l("Case opened"),
    "case_viewed": _l("Case viewed"),
    "cases_listed": _l("Case list viewed"),
    "case_access_denied": _l("Case access refused"),
    "case_status_changed": _l("Case status changed"),
    "case_priority_changed": _l("Case priority changed"),
    "case_urgent_set": _l("Urgent medical need set"),
    "case_urgent_cleared": _l("Urgent medical need cleared"),
    "case_due_set": _l("Due date set"),
    "case_due_cleared": _l("Due date cleared"),
    "case_assigned": _l("Assignee added"),
    "case_unassigned": _l("Assignee removed"),
    "case_label_added": _l("Label added"),
    "case_label_removed": _l("Label removed"),
    "case_source_linked": _l("Source linked to the case"),
    "case_source_unlinked": _l("Source unlinked from the case"),
    "case_submission_linked": _l("Submission linked to the case"),
    "case_submission_unlinked": _l("Submission unlinked from the case"),
    "case_legal_hold_set": _l("Legal hold set"),
    "case_legal_hold_lifted": _l("Legal hold lifted"),
    "case_note_added": _l("Case note added"),
    "case_notes_viewed": _l("Case notes read"),
    "case_note_resealed": _l("Case note sealed for new readers"),
    "dashboard_viewed": _l("Dashboard viewed"),
    "consent_recorded": _l("Consent recorded"),
    "consent_record_refused": _l("Consent recording refused"),
    # Sources and submissions
    "sources_listed": _l("Source list viewed"),
    "source_viewed": _l("Source viewed"),
    "source_starred": _l("Source starred"),
    "source_unstarred": _l("Source unstarred"),
    "source_flagged": _l("Source flagged for a reply"),
    "source_deletion_requested": _l("Source deletion requested"),
    "submissions_listed": _l("Submission list viewed"),
    "submission_seen": _l("Submission marked as seen"),
    "submission_downloaded": _l("Submission downloaded"),
    "submission_deletion_requested": _l("Submission deletion requested"),
    "conversation_deletion_requested": _l("Conversation deletion requested"),
    "item_exported": _l("Item exported for the workstation"),
    "export_created": _l("Export bundle created"),
    # Replies
    "reply_sent": _l("Reply sent"),
    "reply_seen": _l("Reply marked as seen"),
    "reply_downloaded": _l("Reply downloaded"),
    "reply_deletion_requested": _l("Reply deletion requested"),
    "replies_listed": _l("Reply list viewed"),
    # Referrals and partners
    "referral_created": _l("Referral made"),
    "referral_viewed": _l("Referral viewed"),
    "referrals_listed": _l("Referral list viewed"),
    "referral_status_changed": _l("Referral status changed"),
    "referral_status_denied": _l("Referral status change refused"),
    "referral_access_denied": _l("Referral access refused"),
    "referral_message_added": _l("Referral message added"),
    "referral_message_resealed": _l("Referral message sealed for new readers"),
    "referral_consent_checked": _l("Consent to refer confirmed"),
    "referral_contact_consent_checked": _l("Consent to be contacted confirmed"),
    "referral_guidance_asked": _l("Legal question asked"),
    "referral_guidance_answered": _l("Legal question answered"),
    "referral_guidance_viewed": _l("Legal guidance read"),
    "referral_guidance_listed": _l("Legal questions listed"),
    "referral_guidance_denied": _l("Legal guidance refused"),
    "referral_guidance_resealed": _l("Legal guidance sealed for new readers"),
    "partner_org_created": _l("Partner organisation created"),
    "partner_member_added": _l("Partner member added"),
    "partner_directory_viewed": _l("Partner directory viewed"),
    "partner_directory_denied": _l("Partner directory refused"),
    # Accounts and logins
    "login": _l("Logged in"),
    "login_failed": _l("Login failed"),
    "logout": _l("Logged out"),
    "reviewers_listed": _l("Account list viewed"),
    "reviewer_viewed": _l("Account viewed"),
    "reviewer_created": _l("Account created"),
    "reviewer_legal_adviser_named": _l("Legal adviser named"),
    "reviewer_legal_adviser_withdrawn": _l("Legal adviser withdrawn"),
    "reviewer_activated": _l("Account activated"),
    "reviewer_deactivated": _l("Account deactivated"),
    "passphrase_reset": _l("Passphrase reset"),
    "totp_reset": _l("Two-factor authentication reset"),
    "role_changed": _l("Role changed"),
    "account_key_created": _l("Account key created"),
    "account_viewed": _l("Own account read"),
    "accounts_listed": _l("Account list read"),
    "api_token_refused": _l("API token refused"),
    # Care
    "care_request_created": _l("Care request received"),
    "care_request_viewed": _l("Care request viewed"),
    "care_request_taken": _l("Care request taken"),
    "care_request_answered": _l("Care request answered"),
    "care_request_referred": _l("Care request referred"),
    "care_request_closed": _l("Care request closed"),
    "care_request_escalated": _l("Care request escalated"),
    "care_request_resealed": _l("Care request sealed for new readers"),
    "care_queue_viewed": _l("Care queue viewed"),
    "care_duty_started": _l("Care duty started"),
    "care_duty_ended": _l("Care duty ended"),
    "care_access_denied": _l("Care access refused"),
    # Administration and audit
    "audit_viewed": _l("Audit log viewed"),
    "audit_exported": _l("Audit log exported"),
    "admin_access_denied": _l("Administration refused"),
    "access_denied": _l("Access refused"),
    "retention_previewed": _l("Retention preview viewed"),
    "retention_applied": _l("Retention applied"),
    "retention_policy_applied": _l("Retention policy applied"),
    "retention_deletion_requested": _l("Deletion requested by retention"),
    # Observatory
    "observatory_release_imported": _l("Statistics release imported"),
    "observatory_release_refused": _l("Statistics release refused"),
    "observatory_release_published": _l("Statistics release published to partners"),
    "observatory_release_withdrawn": _l("Statistics release withdrawn from partners"),
    # Federation with partner instances
    "federation_peer_added": _l("Partner instance added"),
    "federation_peer_removed": _l("Partner instance removed"),
    "federation_received": _l("Received from a partner instance"),
    "federation_refused": _l("Refused from a partner instance"),
    "federation_sent": _l("Sent to a partner instance"),
    "federation_send_failed": _l("Not accepted by a partner instance"),
    "federation_ids_pruned": _l("Expired envelope ids dropped"),
    "federation_psi_queued": _l("Incident comparison message queued for a partner instance"),
    "federation_psi_sent": _l("Incident comparison message accepted by a partner instance"),
    "federation_psi_refused": _l("Incident comparison message refused by a partner instance"),
    "federation_psi_received": _l("Incident comparison message received from a partner instance"),
    "federation_psi_written": _l("Incident comparison message written out for the workstation"),
    "case_transfer_prepared": _l("Case transfer prepared for a partner instance"),
    "case_transfer_refused": _l("Case transfer refused"),
    "case_transferred": _l("Case transferred to a partner instance"),
    "case_transfer_received": _l("Case received from a partner instance"),
    "case_message_queued": _l("Message to a partner instance written"),
    "case_message_sent": _l("Message accepted by a partner instance"),
    "case_message_refused": _l("Message refused by a partner instance"),
    "case_message_received": _l("Message received from a partner instance"),
    "case_messages_viewed": _l("Messages with a partner instance read"),
    "case_message_resealed": _l("Message to a partner instance sealed for new readers"),
    "federation_readers_published": _l("Readers of partner messages published"),
    "federation_readers_received": _l("Readers of a partner instance received"),
    # Directory of professionals
    "directory_listing_agreed": _l("Agreed to be listed to partner instances"),
    "directory_listing_withdrawn": _l("Withdrew from the list for partner instances"),
    "directory_listing_denied": _l("Listing to partner instances refused"),
    "directory_published": _l("Directory of professionals published"),
    "directory_viewed": _l("Professionals of partner instances viewed"),
    "directory_denied": _l("Professionals of partner instances refused"),
}
# Actions named with a variable part: consent_refused_<purpose>.
_ACTION_PREFIXES: dict[str, LazyString] = {
    "consent_refused_": _l("Refused: no recorded consent"),
}

_KIND_LABELS: dict[str, LazyString] = {
    "case": _l("Case"),
    "source": _l("Source"),
    "submission": _l("Submission"),
    "reply": _l("Reply"),
    "note": _l("Case note"),
    "case_message": _l("Message with a partner instance"),
    "referral": _l("Referral"),
    "referral_message": _l("Referral message"),
    "guidance_question": _l("Legal question"),
    "guidance_answer": _l("Legal answer"),
    "care_request": _l("Care request"),
    "consent_record": _l("Consent record"),
    "reviewer": _l("Account"),
    "partner_org": _l("Partner organisation"),
    "export": _l("Export bundle"),
    "observatory_release": _l("Statistics release"),
}

_KEY_LABELS: dict[str, LazyString] = {
    "status": _l("Status"),
    "priority": _l("Priority"),
    "urgent_medical": _l("Urgent medical need"),
    "urgent": _l("Urgent medical need"),
    "due": _l("Due"),
    "due_at": _l("Due"),
    "label": _l("Label"),
    "labels": _l("Labels"),
    "assignee": _l("Assignee"),
    "assignees": _l("Assignees"),
    "reason": _l("Reason"),
    "role": _l("Role"),
    "source": _l("Source"),
    "submission": _l("Submission"),
    "case": _l("Case"),
    "org": _l("Partner organisation"),
    "category": _l("Category"),
    "action": _l("Action"),
    "actor": _l("Who"),
    "object": _l("Object"),
    "since": _l("From"),
    "until": _l("To"),
    "release": _l("Statistics release"),
    "signer": _l("Signing key"),
    "published": _l("Published to partners"),
    "refusal": _l("Why refused"),
    "held_since": _l("Held since"),
    "listing": _l("Directory entry"),
    "replaces": _l("Replaces"),
    "version": _l("Version"),
    "entries": _l("Entries"),
}
_VALUE_LABELS: dict[str, Mapping[str, LazyString]] = {
    "status": {s.value: label for s, label in STATUS_LABELS.items()},
    "priority": {p.value: label for p, label in PRIORITY_LABELS.items()},
    "reason": REASON_LABELS,
    "refusal": {
        "verification": _l("signature or release not valid"),
        "duplicate": _l("already imported"),
        "too_large": _l("too large"),
    },
    "referral": {s.value: label for s, label in REFERRAL_LABELS.items()},
    "category": CATEGORY_LABELS,
}


@dataclass(frozen=True)
class DetailPart:
    """One thing an event's detail says: a name (translated, or the raw key in `code`)
    and its value as read."""

    name: str
    value: str
    code: bool = False  # the name is an identifier the page has no wording for


def action_label(action: str) -> str | None:
    """The action in words, or None when it has none (the page shows the name)."""
    if action in _ACTIONS:
        return str(_ACTIONS[action])
    for prefix, label in _ACTION_PREFIXES.items():
        if action.startswith(prefix):
            return str(label)
    return None


def kind_label(kind: str | None) -> str | None:
    return str(_KIND_LABELS[kind]) if kind in _KIND_LABELS else None


def object_text(ref: ObjectRef) -> str:
    """What people call a live object: "BU-2026-0001", "sober moth, submission 3"."""
    if ref.kind in ("submission", "reply"):
        number = submission_number(ref.extra)
        if number is not None:
            if ref.kind == "reply":
                return _("%(source)s, reply %(number)s", source=ref.label, number=number)
            return _("%(source)s, submission %(number)s", source=ref.label, number=number)
    if ref.kind in ("referral", "referral_message") and ref.extra:
        return _("%(case)s → %(org)s", case=ref.label, org=ref.extra)
    return ref.label


def short_id(uuid: str) -> str:
    return uuid[:8]


def _value(scope: str, value: Any, objects: Mapping[str, ObjectRef]) -> str:
    if value is None:
        return _("none")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(_value(scope, item, objects) for item in value)
    text = str(value)
    if text in objects:
        return object_text(objects[text])
    if len(text) == 36 and text.count("-") == 4:
        return _("(deleted) %(id)s", id=short_id(text))
    labels = _VALUE_LABELS.get(scope, {})
    if text in labels:
        return str(labels[text])
    if scope == "actor" and text == "system":
        return _("(system)")
    return text


def describe_detail(
    action: str, detail: Mapping[str, Any], objects: Mapping[str, ObjectRef]
) -> list[DetailPart]:
    """An event's detail as name/value pairs in words; keys without wording stay raw."""
    rest = dict(detail)
    parts: list[DetailPart] = []
    field, old, new = rest.pop("field", None), rest.pop("from", None), rest.pop("to", None)
    if field is not None or "from" in detail or "to" in detail:
        scope = str(field) if field is not None else _scope_of(action)
        if scope == "status" and action.startswith("referral"):
            scope = "referral"
        name, raw = _key_name(str(field) if field is not None else "")
        old_text, new_text = _value(scope, old, objects), _value(scope, new, objects)
        parts.append(DetailPart(name, _("%(old)s → %(new)s", old=old_text, new=new_text), raw))
    for key in sorted(rest):
        name, raw = _key_name(key)
        parts.append(DetailPart(name, _value(key, rest[key], objects), raw))
    return parts


def _scope_of(action: str) -> str:
    """Which values a bare from/to holds, guessed from the action's name."""
    for scope in ("status", "priority", "due"):
        if scope in action:
            return scope
    return ""


def _key_name(key: str) -> tuple[str, bool]:
    if not key:
        return _("Change"), False
    if key in _KEY_LABELS:
        return str(_KEY_LABELS[key]), False
    return key, True
