"""BackUp's rows as SecureDrop's JSON objects: the same field names and types, because
`securedrop-sdk` builds its objects from every field and fails on a missing one."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import url_for

from vault.models import Reply, Reviewer, Source, Submission, SubmissionKind
from vault.services.inbox import ListedSource

__all__ = [
    "api_time",
    "listed_sources_json",
    "reply_json",
    "source_json",
    "source_urls",
    "submission_json",
    "user_json",
]

# SecureDrop's API timestamp format (UTC, microseconds, "Z").
API_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# A reply whose author's account was removed: SecureDrop shows its "deleted" user.
DELETED_USERNAME = "deleted"
DELETED_UUID = "00000000-0000-0000-0000-000000000000"


def api_time(value: dt.datetime | None) -> str | None:
    """`API_DATETIME_FORMAT`, written by `isoformat`: `strftime` with `%f` took about
    13 µs a call, two per source, a third of the source list's time at 10,000 sources."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


# A uuid's stand-in: the source URLs are built once per request around it, then filled
# in per source (a uuid needs no escaping in a path), instead of five `url_for` per source.
_UUID_MARK = "00000000-0000-4000-8000-00000000f00d"
_SOURCE_URLS = {
    "url": "api.single_source",
    "submissions_url": "api.source_submissions",
    "add_star_url": "api.add_star",
    "remove_star_url": "api.remove_star",
    "replies_url": "api.source_replies",
}


def source_urls() -> dict[str, str]:
    """The source object's URLs with `_UUID_MARK` for the uuid (call within a request)."""
    return {
        field: url_for(endpoint, source_uuid=_UUID_MARK) for field, endpoint in _SOURCE_URLS.items()
    }


def source_json(
    source: Source,
    counts: dict[SubmissionKind, int],
    public_key: str | None,
    urls: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`public_key`: the source's armored reply key (vault.services.inbox.public_keys);
    `urls`: from `source_urls()`, when listing many sources."""
    uuid = source.uuid
    urls = urls or source_urls()
    return {
        "uuid": uuid,
        "url": urls["url"].replace(_UUID_MARK, uuid),
        "journalist_designation": source.designation,
        # SecureDrop no longer flags sources for reply; the field stays for clients.
        "is_flagged": False,
        "is_starred": source.starred,
        "last_updated": api_time(source.last_updated),
        "interaction_count": source.interaction_count,
        "key": {
            "type": "PGP",
            "public": public_key,
            "fingerprint": source.reply_key_fingerprint,
        },
        "number_of_documents": counts.get(SubmissionKind.FILE, 0),
        "number_of_messages": counts.get(SubmissionKind.MESSAGE, 0),
        **{
            field: urls[field].replace(_UUID_MARK, uuid)
            for field in ("submissions_url", "add_star_url", "remove_star_url", "replies_url")
        },
    }


def listed_sources_json(listed: list[ListedSource]) -> list[dict[str, Any]]:
    """`source_json` for every source of a list (vault.services.inbox.source_listing),
    the same objects, built with each URL's text around the uuid split once (call within
    a request)."""
    split = {field: tuple(url.split(_UUID_MARK, 1)) for field, url in source_urls().items()}
    url, submissions, add_star, remove_star, replies = (
        split[field]
        for field in ("url", "submissions_url", "add_star_url", "remove_star_url", "replies_url")
    )
    return [
        {
            "uuid": s.uuid,
            "url": f"{url[0]}{s.uuid}{url[1]}",
            "journalist_designation": s.designation,
            "is_flagged": False,
            "is_starred": s.starred,
            "last_updated": api_time(s.last_updated),
            "interaction_count": s.interaction_count,
            "key": {
                "type": "PGP",
                "public": s.reply_public_key,
                "fingerprint": s.reply_key_fingerprint,
            },
            "number_of_documents": s.documents,
            "number_of_messages": s.messages,
            "submissions_url": f"{submissions[0]}{s.uuid}{submissions[1]}",
            "add_star_url": f"{add_star[0]}{s.uuid}{add_star[1]}",
            "remove_star_url": f"{remove_star[0]}{s.uuid}{remove_star[1]}",
            "replies_url": f"{replies[0]}{s.uuid}{replies[1]}",
        }
        for s in listed
    ]


def submission_json(submission: Submission, seen_by: list[str]) -> dict[str, Any]:
    source_uuid, uuid = submission.source.uuid, submission.uuid
    return {
        "source_url": url_for("api.single_source", source_uuid=source_uuid),
        "submission_url": url_for(
            "api.single_submission", source_uuid=source_uuid, submission_uuid=uuid
        ),
        "filename": submission.filename,
        "size": submission.size,
        "is_file": submission.kind is SubmissionKind.FILE,
        "is_message": submission.kind is SubmissionKind.MESSAGE,
        "is_read": bool(submission.downloaded or seen_by),
        "uuid": submission.uuid,
        "download_url": url_for(
            "api.download_submission", source_uuid=source_uuid, submission_uuid=uuid
        ),
        "seen_by": seen_by,
    }


def reply_json(reply: Reply) -> dict[str, Any]:
    source_uuid = reply.source.uuid
    author = reply.reviewer
    return {
        "source_url": url_for("api.single_source", source_uuid=source_uuid),
        "reply_url": url_for("api.single_reply", source_uuid=source_uuid, reply_uuid=reply.uuid),
        "filename": reply.filename,
        "size": reply.size,
        "journalist_username": author.username if author else DELETED_USERNAME,
        # BackUp keeps no names of reviewers: SecureDrop sends "" when it has none.
        "journalist_first_name": "",
        "journalist_last_name": "",
        "journalist_uuid": author.uuid if author else DELETED_UUID,
        "uuid": reply.uuid,
        "is_deleted_by_source": reply.deleted_by_source,
        "seen_by": reply.seen_by,
    }


def user_json(reviewer: Reviewer, *, all_info: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "username": reviewer.username,
        "uuid": reviewer.uuid,
        "first_name": None,
        "last_name": None,
    }
    if all_info:
        data["is_admin"] = reviewer.is_admin
        data["last_login"] = api_time(reviewer.last_login_at)
    return data
