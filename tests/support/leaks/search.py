"""One blob searched for markers in every form, decodings nested up to a fixed depth
(e.g. a gzip stream inside base64 inside a JSON string)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from tests.support.leaks.forms import needles_for, text_views
from tests.support.leaks.rdb import lzf_strings
from tests.support.leaks.streams import Budget, StreamFinder

MAX_DEPTH = 4


@dataclass(frozen=True)
class Hit:
    """`marker` found in `place`, in the form described (outermost decoding first)."""

    marker: str
    place: str
    form: str
    offset: int

    def __str__(self) -> str:
        return f"{self.marker!r} in {self.place}: {self.form} (byte {self.offset})"


@dataclass
class _Walk:
    place: str
    remaining: set[str]
    hits: list[Hit] = field(default_factory=list)
    seen: set[bytes] = field(default_factory=set)


class BlobSearch:
    """Searches blobs for `markers`: each marker is reported once per place, in the first
    form found; decompression draws on the shared `budget`."""

    def __init__(self, markers: tuple[str, ...], budget: Budget) -> None:
        if not markers:
            raise ValueError("no marker to search for")
        self.markers = markers
        self.needles = [needle for marker in markers for needle in needles_for(marker)]
        self.min_length = min(len(marker.encode()) for marker in markers)
        self.max_length = max(len(marker.encode()) for marker in markers)
        self.streams = StreamFinder(self.min_length, budget)

    def search(self, blob: bytes, place: str, *, rdb: bool = False) -> list[Hit]:
        """Hits in `blob`; `rdb` says it is Redis serialisation (LZF strings inside)."""
        walk = _Walk(place, set(self.markers))
        self._search(walk, blob, (), 0, rdb)
        return walk.hits

    def _search(
        self, walk: _Walk, blob: bytes, path: tuple[str, ...], depth: int, rdb: bool
    ) -> None:
        for needle in self.needles:
            if needle.marker in walk.remaining:
                at = blob.find(needle.data)
                if at != -1:
                    walk.remaining.discard(needle.marker)
                    form = " > ".join((*path, needle.form))
                    walk.hits.append(Hit(needle.marker, walk.place, form, at))
        if not walk.remaining or depth >= MAX_DEPTH:
            return
        if rdb:
            for offset, string in lzf_strings(blob, self.min_length):
                self._deeper(walk, string, (*path, f"LZF string at {offset}"), depth)
        for stream in self.streams.streams(blob, walk.place):
            self._deeper(walk, stream.data, (*path, f"{stream.form} at {stream.offset}"), depth)
        for view in text_views(blob, self.min_length, self.max_length):
            self._deeper(walk, view.data, (*path, f"{view.form} at {view.offset}"), depth)

    def _deeper(self, walk: _Walk, data: bytes, path: tuple[str, ...], depth: int) -> None:
        if not walk.remaining:
            return
        digest = hashlib.blake2b(data, digest_size=16).digest()
        if digest in walk.seen:  # the same bytes reached by another road
            return
        walk.seen.add(digest)
        self._search(walk, data, path, depth + 1, False)
