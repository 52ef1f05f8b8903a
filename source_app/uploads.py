"""Uploads are sealed while the multipart body is parsed: plaintext never touches disk.

The multipart parser (web_shared.multipart, in place of Werkzeug's) asks the request
for a container for each file part (`_get_file_stream`) and writes the part's data to
it as views of its read buffer. For a logged-in source posting to a submit view (free
message, ALERT report), that container is a `DocumentSink`: gzip, then OpenPGP to the
submission key, streamed into a `.partial-*` file of the store. Every other file part
(anonymous visitor, any other view) goes to a sink that discards it.

Each sink is recorded on `g`; a teardown aborts every one that the view did not commit,
so a cut-off upload, a failed CSRF check, a size limit or an exception leaves nothing.

Resource guards: before the body is read, an upload whose announced size would not fit
above the disk reserve, or in the source's quota, is refused with a clear page; while it
streams, the same limits stop it (StorageFull, QuotaExceeded) and its partial ciphertext
is shredded. Nothing is recorded, and the page says so.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, cast

from flask import Request, current_app, g, request
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from source_app.auth import is_logged_in, session_credentials
from source_app.context import get_config, get_db, get_runtime
from vault.errors import QuotaExceededError, StorageFullError
from vault.guards import ByteBudget
from vault.services import quota
from vault.services.sources import find_active_source
from vault.store import DocumentSink
from web_shared.multipart import StreamingMultipartParser

if TYPE_CHECKING:
    from werkzeug.formparser import t_parse_result

# The views that take files: the free message form and the ALERT report.
SUBMIT_ENDPOINTS = frozenset({"lookup.submit", "alert.submit"})
_SINKS = "upload_sinks"
_BUDGET = "upload_budget"
# Multipart framing and the form's text fields, on top of the files themselves.
FORM_OVERHEAD = 256 * 1024


class StorageFull(HTTPException):
    """507: the disk is near its reserve; nothing new is accepted for now."""

    code = 507
    description = "storage full"


class QuotaExceeded(HTTPException):
    """413: what was sent would take the source past their quota."""

    code = 413
    description = "quota exceeded"

    def __init__(self, quota: int, remaining: int) -> None:
        super().__init__()
        self.quota = quota
        self.remaining = max(remaining, 0)


def refuse_unstorable_upload() -> None:
    """Before the body of a submission is read (so before CSRF parses it): refuse what
    would not fit above the disk reserve or in the source's quota, using the announced
    length; then leave the source's remaining quota on `g` for the streaming check."""
    if request.method != "POST" or request.endpoint not in SUBMIT_ENDPOINTS:
        return
    credentials = session_credentials()
    if credentials is None:
        return  # nothing of an anonymous visitor is stored
    announced = request.content_length or 0
    # A body no larger than a text form goes on to the view, which keeps the message on
    # its page when it refuses it; a file in it is stopped by the store as it starts.
    if announced > FORM_OVERHEAD:
        try:
            get_runtime().store.ensure_room(announced)
        except StorageFullError as exc:
            raise StorageFull() from exc
    source = find_active_source(get_db(), credentials.source_uuid)
    if source is None and credentials.lookup_id is None:
        return  # deleted since login: the view logs them out
    limit = get_config().source_quota_bytes
    # A new source (not recorded until this first submission) has stored nothing yet.
    left = limit if source is None else quota.remaining(get_db(), source, limit)
    if announced > left + FORM_OVERHEAD:
        raise QuotaExceeded(limit, left)
    setattr(g, _BUDGET, ByteBudget(limit, left))


class MalformedFormError(BadRequest):
    """The request body is not a form we can read (bad multipart, missing boundary...)."""

    description = "malformed form data"


class SealingDocument(DocumentSink):
    """A `DocumentSink` that finishes its OpenPGP stream as soon as its part ends.

    Werkzeug rewinds each file container exactly once, when the part is complete. Closing
    gzip and gpg there means a request carrying many files holds one gpg process at a
    time, not one per file until the view runs. The service calls `finish` again later,
    which returns the same result.
    """

    def seek(self, offset: int, whence: int = 0) -> int:
        self.finish()
        return 0


def quota_left() -> int | None:
    """What the logged-in source may still store, when that is less than one upload may
    carry (the pages then say so); None otherwise."""
    limit = get_config().source_quota_bytes
    source = g.source  # None: a new source, with nothing stored yet
    left = limit if source is None else quota.remaining(get_db(), source, limit)
    return left if left < get_config().max_upload_bytes else None


class _DiscardSink:
    """Where file parts go when no source may upload: read and dropped, never stored."""

    def write(self, data: bytes) -> int:
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def read(self, size: int = -1) -> bytes:
        return b""

    def close(self) -> None:
        return None


def _recorded_sinks() -> list[SealingDocument]:
    sinks: list[SealingDocument] | None = g.get(_SINKS)
    if sinks is None:
        sinks = []
        setattr(g, _SINKS, sinks)
    return sinks


class _StreamingFormDataParser(FormDataParser):
    """Werkzeug's form parser with multipart bodies read by `StreamingMultipartParser`:
    file data goes to its container as views of the read buffer, uncopied."""

    def _parse_multipart(
        self,
        stream: IO[bytes],
        mimetype: str,
        content_length: int | None,
        options: dict[str, str],
    ) -> t_parse_result:
        parser = StreamingMultipartParser(
            stream_factory=self.stream_factory,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.cls,
        )
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        form, files = parser.parse(cast(io.RawIOBase, stream), boundary, content_length)
        return stream, form, files


class SealingRequest(Request):
    """Flask's request, with file parts streamed into the sealed store."""

    form_data_parser_class = _StreamingFormDataParser

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        if self.endpoint not in SUBMIT_ENDPOINTS or not is_logged_in():
            return cast(IO[bytes], _DiscardSink())
        runtime = get_runtime()
        budget: ByteBudget | None = g.get(_BUDGET)
        pending = runtime.store.begin_unassigned([runtime.submission_fingerprint], budget)
        sink = SealingDocument(pending, filename)
        _recorded_sinks().append(sink)
        return cast(IO[bytes], sink)

    def _refuse_oversized_urlencoded(self) -> None:
        """Werkzeug reads a URL-encoded body whole, in memory, bounded only by the upload
        limit (hundreds of MB): no form of ours in that encoding is near the per-field
        limit, so a larger body (or one of unknown length) is refused before it is read."""
        if self.mimetype != "application/x-www-form-urlencoded":
            return
        limit = self.max_form_memory_size
        if limit is not None and (self.content_length is None or self.content_length > limit):
            raise RequestEntityTooLarge()

    def make_form_data_parser(self) -> FormDataParser:
        # Werkzeug's parser is silent by default: a broken body becomes an empty form.
        # We want to say so clearly instead (see `_load_form_data`).
        parser = super().make_form_data_parser()
        parser.silent = False
        return parser

    def _load_form_data(self) -> None:
        if "form" in self.__dict__:
            return
        try:
            self._refuse_oversized_urlencoded()
            super()._load_form_data()
        except BaseException as exc:
            # Never parse a half-consumed body twice: later readers see an empty form.
            empty: MultiDict[str, str] = self.parameter_storage_class()
            no_files: MultiDict[str, FileStorage] = self.parameter_storage_class()
            self.__dict__.update(form=empty, files=no_files)
            if isinstance(exc, StorageFullError):
                raise StorageFull() from exc
            if isinstance(exc, QuotaExceededError):
                raise QuotaExceeded(exc.quota, exc.remaining) from exc
            if isinstance(exc, ValueError):
                raise MalformedFormError() from exc
            raise


def chosen_documents(parts: Iterable[FileStorage]) -> list[DocumentSink]:
    """The sealed documents of the file parts a source actually filled in.

    A file input left empty arrives as a part with filename "" and no bytes: its sink is
    aborted here. Anything with a name or with content is kept (nothing accepted is lost).
    """
    documents: list[DocumentSink] = []
    for part in parts:
        sink = part.stream
        if not isinstance(sink, SealingDocument):
            continue
        if not part.filename and sink.plaintext_size == 0:
            sink.abort()
            continue
        documents.append(sink)
    return documents


def discard_unfinished_uploads(_exc: BaseException | None = None) -> None:
    """Teardown: abort every sink of this request that was not committed to the store."""
    sinks: list[SealingDocument] = g.pop(_SINKS, [])
    for sink in sinks:
        if sink.pending.committed:
            continue
        try:
            sink.abort()
        except Exception:  # keep aborting the others; the error names only a random file
            current_app.logger.exception("could not discard an unfinished upload")
