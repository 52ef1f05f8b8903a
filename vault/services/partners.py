"""The partner directory: organisations, the services and regions they cover, their
member accounts. Analysts and admins read it; only admins change it (audited)."""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault.column_key import PARTNER_DETAILS, column_key_of
from vault.errors import NotFoundError, VaultError
from vault.models import PartnerMember, PartnerOrg, PartnerService, Reviewer, Role
from vault.models.partner import CONTACT_MAX, LANGUAGES_MAX, NAME_MAX, REGIONS_MAX
from vault.services import audit, cases
from vault.services.audit_log import RefusalRecordedError, require_admin_audited
from vault.transaction import savepoint

__all__ = [
    "InvalidPartnerError",
    "OrgDetails",
    "add_member",
    "create_org",
    "get_org",
    "list_orgs",
    "org_details",
    "org_of",
    "partner_accounts",
]


class InvalidPartnerError(VaultError):
    """Invalid directory input (empty name, unknown service, too long, duplicate)."""


@dataclass(frozen=True)
class OrgDetails:
    """What the directory shows of an organisation beyond its name and services."""

    regions: str = ""
    languages: str = ""
    contact: str = ""


def org_details(db: Session, org: PartnerOrg) -> OrgDetails:
    """The organisation's regions, languages and contact, opened with the column key
    bound to `db` (the database holds them sealed only)."""
    if org.details_sealed is None:
        return OrgDetails()
    opened = column_key_of(db).open(org.details_sealed, PARTNER_DETAILS, org.uuid)
    return OrgDetails(**json.loads(opened))


def _seal_details(db: Session, org: PartnerOrg, details: OrgDetails) -> None:
    if details == OrgDetails():
        org.details_sealed = None
        return
    plain = json.dumps(asdict(details), sort_keys=True, ensure_ascii=False)
    org.details_sealed = column_key_of(db).seal(plain, PARTNER_DETAILS, org.uuid)


def _clean(value: str, limit: int) -> str:
    value = " ".join(value.split())
    if len(value) > limit:
        raise InvalidPartnerError("too long")
    return value


def create_org(
    db: Session,
    actor: Reviewer,
    name: str,
    services: Iterable[PartnerService],
    regions: str = "",
    languages: str = "",
    contact: str = "",
) -> PartnerOrg:
    require_admin_audited(db, actor, "partners")
    chosen = set(services)
    name = _clean(name, NAME_MAX)
    if not name or not chosen:
        raise InvalidPartnerError("a name and at least one service are required")
    details = OrgDetails(
        regions=_clean(regions, REGIONS_MAX),
        languages=_clean(languages, LANGUAGES_MAX),
        contact=_clean(contact, CONTACT_MAX),
    )
    org = PartnerOrg(
        uuid=str(uuidlib.uuid4()),  # the sealed details are bound to it
        name=name,
        services=",".join(s.value for s in PartnerService if s in chosen),
    )
    _seal_details(db, org, details)
    try:
        with savepoint(db):
            db.add(org)
            db.flush()
    except IntegrityError as exc:
        raise InvalidPartnerError("an organisation with this name exists") from exc
    audit.record(db, actor, "partner_org_created", "partner_org", org.uuid)
    return org


def list_orgs(
    db: Session, actor: Reviewer, service: PartnerService | None = None
) -> list[PartnerOrg]:
    """Active organisations (for analysts choosing where to refer); audited."""
    if not cases.can_work_cases(actor):
        audit.record_refusal(db, actor, "partner_directory_denied")
        raise RefusalRecordedError("no access to the directory")
    query = select(PartnerOrg).where(PartnerOrg.is_active.is_(True))
    if service is not None:
        query = query.where(PartnerOrg.services.contains(service.value))
    found = list(db.scalars(query.order_by(PartnerOrg.name)))
    audit.record(db, actor, "partner_directory_viewed")
    return found


def get_org(db: Session, org_uuid: str) -> PartnerOrg:
    org = db.scalar(select(PartnerOrg).where(PartnerOrg.uuid == org_uuid))
    if org is None:
        raise NotFoundError("no such organisation")
    return org


def add_member(db: Session, actor: Reviewer, org_uuid: str, reviewer_uuid: str) -> None:
    """Make a partner account a member of an organisation (one organisation each)."""
    require_admin_audited(db, actor, "partners")
    org = get_org(db, org_uuid)
    member = db.scalar(select(Reviewer).where(Reviewer.uuid == reviewer_uuid))
    if member is None or member.role is not Role.PARTNER:
        raise InvalidPartnerError("only partner accounts can be members")
    existing = db.get(PartnerMember, member.id)
    if existing is None:
        db.add(PartnerMember(reviewer_id=member.id, org_id=org.id))
    else:
        existing.org_id = org.id
    audit.record(db, actor, "partner_member_added", "reviewer", member.uuid)


def partner_accounts(db: Session, actor: Reviewer) -> list[tuple[Reviewer, str | None]]:
    """Partner accounts and the name of their organisation (admins only)."""
    require_admin_audited(db, actor, "partners")
    rows = db.execute(
        select(Reviewer, PartnerOrg.name)
        .outerjoin(PartnerMember, PartnerMember.reviewer_id == Reviewer.id)
        .outerjoin(PartnerOrg, PartnerOrg.id == PartnerMember.org_id)
        .where(Reviewer.role == Role.PARTNER)
        .order_by(Reviewer.username)
    ).all()
    return [(reviewer, name) for reviewer, name in rows]


def org_of(db: Session, reviewer: Reviewer) -> int | None:
    """The organisation id of an active partner account, else None."""
    if not reviewer.is_active or reviewer.role is not Role.PARTNER:
        return None
    member = db.get(PartnerMember, reviewer.id)
    return member.org_id if member is not None else None
