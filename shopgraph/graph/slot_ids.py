"""The ids of a vector index's slots: slot -> id (None for a tombstone) and id -> its live slot.

A freshly loaded index holds its ids *packed*: one UTF-8 blob of every id back to back and an int64
offsets array (slot s is blob[offsets[s]:offsets[s + 1]], empty for a tombstone; product keys are never
empty). Reading them that way costs two file reads, not a million Python strings and a dict, so the first
search after opening a large database only decodes the k ids it returns. The list and the dict are built
on first need (a filter to resolve, an id to look up, a mutation): about 0.5 s per million ids.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from shopgraph.errors import StoreError


class DuplicateIds(StoreError):
    """Saved ids name one id in two live slots (a damaged or forged index file): delete the index folder
    (DB.index) and it is rebuilt from the graph."""


# a packed SlotIds looks up (or kills) at most this many ids in its life, and adds at most this many,
# without unpacking: each lookup scans the blob (6-10 ms at 1M ids, more for a key that starts many
# others) where unpacking once (~0.7 s at 1M) makes a Python string and a dict entry per id and then
# answers in microseconds; the budget is about one unpack's worth of scans
PACKED_LOOKUPS = 64


class SlotIds:
    """Slot -> id and id -> live slot, packed (read-only, as loaded) until first changed or searched by id."""

    __slots__ = ("_list", "_of", "_blob", "_offsets", "_live", "_extra", "_extra_of", "_dead", "_scans")

    def __init__(self) -> None:
        self._list: list[str | None] | None = []  # slot -> id, None for tombstones
        self._of: dict[str, int] | None = {}  # id -> live slot
        self._blob: bytes | None = None  # packed form (while _list is None)
        self._offsets: np.ndarray | None = None  # (slots + 1,) int64
        self._live = 0
        # while packed, a few changes are kept beside the blob instead of unpacking every id (1M: ~2 s
        # and ~150 MB of Python strings for a reader syncing one change): new slots after the blob's
        # (_extra: slot len(blob's) + i -> id or None; _extra_of: id -> slot) and the blob's killed slots
        self._extra: list[str | None] = []
        self._extra_of: dict[str, int] = {}
        self._dead: set[int] = set()
        self._scans = 0  # packed lookups made so far (PACKED_LOOKUPS)

    @classmethod
    def packed(cls, blob: bytes, offsets: np.ndarray) -> "SlotIds":
        """From `pack`'s output. Raises ValueError when the offsets do not describe the blob."""
        offsets = np.asarray(offsets)
        if offsets.dtype != np.int64 or offsets.ndim != 1 or offsets.size < 1 or offsets[0] != 0 \
                or offsets[-1] != len(blob) or (offsets.size > 1 and (np.diff(offsets) < 0).any()):
            raise ValueError("id offsets do not describe the id blob")
        ids = cls()
        ids._list, ids._of, ids._blob, ids._offsets = None, None, blob, offsets
        ids._live = int(np.count_nonzero(np.diff(offsets)))
        return ids

    @classmethod
    def from_list(cls, slot_ids: list[str | None]) -> "SlotIds":
        """From slot -> id (None for tombstones). Raises DuplicateIds when an id has two slots."""
        ids = cls()
        ids._list = list(slot_ids)
        ids._of = {k: s for s, k in enumerate(ids._list) if k is not None}
        ids._live = len(ids._of)
        if ids._live != sum(k is not None for k in ids._list):
            raise DuplicateIds("the vector index names one id in two slots")
        return ids

    def pack(self) -> tuple[bytes, np.ndarray]:
        """(UTF-8 blob, offsets (slots + 1,) int64); tombstones are empty."""
        if self._list is None and not self._changed():
            return self._blob, self._offsets
        self._unpack()
        encoded = [b"" if i is None else i.encode("utf-8") for i in self._list]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
        return b"".join(encoded), offsets

    # -- reading without unpacking -----------------------------------------------------------------
    def __len__(self) -> int:
        """Slots used (live and tombstones)."""
        return len(self._list) if self._list is not None else self._offsets.size - 1 + len(self._extra)

    def _changed(self) -> bool:
        return bool(self._extra or self._dead)

    @property
    def is_packed(self) -> bool:
        return self._list is None

    @property
    def live(self) -> int:
        return self._live

    def alive(self) -> np.ndarray:
        """(slots,) bool: False for tombstones."""
        if self._list is None:
            alive = np.concatenate([np.diff(self._offsets) > 0,
                                    np.array([i is not None for i in self._extra], dtype=bool)])
            alive[list(self._dead)] = False
            return alive
        return np.fromiter((i is not None for i in self._list), dtype=bool, count=len(self._list))

    def at(self, slots: Sequence[int]) -> list[str | None]:
        """The ids of these slots."""
        if self._list is not None:
            return [self._list[s] for s in slots]
        blob, offsets, base = self._blob, self._offsets, self._offsets.size - 1
        return [self._extra[s - base] if s >= base else None if s in self._dead
                else blob[offsets[s]:offsets[s + 1]].decode("utf-8") or None for s in slots]

    def _packed(self, lookups: int) -> bool:
        """Whether `lookups` more keys may be looked up without unpacking (PACKED_LOOKUPS in the life of
        these ids); once the budget is spent the ids are unpacked, and False is returned from then on."""
        if self._list is not None:
            return False
        if self._scans + lookups <= PACKED_LOOKUPS:
            self._scans += lookups
            return True
        self._unpack()
        return False

    def _find(self, key: str) -> int:
        """While packed: key's live slot, -1 when absent. Scans the blob for the key's bytes (memchr
        speed, 6-10 ms at 1M ids) and keeps the matches that are a whole slot; a second one is a damaged
        file (DuplicateIds), as _unpack would find."""
        slot = self._extra_of.get(key)
        if slot is not None:
            return slot
        blob, offsets, wanted = self._blob, self._offsets, key.encode("utf-8")
        found, at = -1, blob.find(wanted)
        while at >= 0 and wanted:
            s = int(np.searchsorted(offsets, at, side="right")) - 1  # the last slot starting at or before
            if offsets[s] == at and offsets[s + 1] == at + len(wanted) and s not in self._dead:
                if found >= 0:
                    raise DuplicateIds("the saved vector index names one id in two slots; delete its folder "
                                       "(<database>.index) and it is rebuilt from the graph")
                found = s
            at = blob.find(wanted, at + 1)
        return found

    # -- by id (unpacks) -------------------------------------------------------------------------
    def _unpack(self) -> None:
        if self._list is not None:
            return
        blob, offsets = self._blob, self._offsets.tolist()
        ids = [blob[a:b].decode("utf-8") or None for a, b in zip(offsets, offsets[1:])]
        for s in self._dead:
            ids[s] = None
        ids.extend(self._extra)
        of = {k: s for s, k in enumerate(ids) if k is not None}
        self._extra, self._extra_of, self._dead = [], {}, set()
        if len(of) != self._live:
            raise DuplicateIds("the saved vector index names one id in two slots; delete its folder "
                               "(<database>.index) and it is rebuilt from the graph")
        self._list, self._of, self._blob, self._offsets = ids, of, None, None

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str) and self._packed(1):
            return self._find(key) >= 0
        self._unpack()
        return key in self._of

    def slot(self, key: str) -> int | None:
        if self._packed(1):
            slot = self._find(key)
            return None if slot < 0 else slot
        self._unpack()
        return self._of.get(key)

    def slots(self, keys: Iterable[str], count: int) -> np.ndarray:
        """(count,) int64 live slots of keys, -1 where absent (a few keys looked up packed)."""
        if count <= PACKED_LOOKUPS and self._packed(count):
            return np.fromiter((self._find(k) for k in keys), dtype=np.int64, count=count)
        self._unpack()
        get = self._of.get
        return np.fromiter((get(k, -1) for k in keys), dtype=np.int64, count=count)

    def live_ids(self) -> list[str]:
        self._unpack()
        return [i for i in self._list if i is not None]

    # -- changes ---------------------------------------------------------------------------------
    def kill(self, key: str) -> int | None:
        """Make key's slot a tombstone; returns that slot, None when key is not live."""
        if self._packed(1):
            slot = self._find(key)
            if slot < 0:
                return None
            base = self._offsets.size - 1
            if slot >= base:
                del self._extra_of[key]
                self._extra[slot - base] = None
            else:
                self._dead.add(slot)
            self._live -= 1
            return slot
        self._unpack()
        slot = self._of.pop(key, None)
        if slot is not None:
            self._list[slot] = None
            self._live -= 1
        return slot

    def extend(self, keys: list[str]) -> None:
        """New slots for keys (not live already), numbered from len(self)."""
        if self._list is None and len(self._extra) + len(keys) <= PACKED_LOOKUPS:
            start = len(self)
            self._extra.extend(keys)
            self._extra_of.update(zip(keys, range(start, start + len(keys))))
            self._live += len(keys)
            return
        self._unpack()
        start = len(self._list)
        self._list.extend(keys)
        self._of.update(zip(keys, range(start, start + len(keys))))
        self._live += len(keys)

    def compact(self, live: np.ndarray) -> None:
        """Keep only these slots (ascending), renumbered from 0."""
        self._unpack()
        self._list = [self._list[s] for s in live.tolist()]
        self._of = {k: s for s, k in enumerate(self._list)}
        self._live = len(self._of)
