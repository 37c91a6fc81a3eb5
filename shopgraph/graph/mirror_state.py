"""The rule every mirror of the graph follows: may it be synced forward, or must it be rebuilt?

A mirror (the vector indexes, the lexical index, the result cards, all in `<db>.index/`) holds a copy
of the graph's products at one version and records that version: `source` (the database's random Meta
database_id, or an identity string built on it), `revision` (the write generation it holds) and
`epoch` (the token of the write epoch that generation was written in). It is synced by re-reading the
products whose `rev` is newer than its revision, which is right only when the graph's history passed
through that revision: the same database, a generation not past the graph's, and the same lineage.

Write epochs (lineage): the store begins an epoch at the first write of each read-write open: a new
random token and the first generation it writes, appended to a short list in Meta (`epochs`, at most
KEEP_EPOCHS kept; `epoch` holds the current token alone, so a search's pinned Meta stays small). A
database folder restored from an older copy keeps the database id, but its next write begins an epoch
the copy's later history never had, and the epochs that history began are not in its list. So a
mirror written after the copy was taken names an epoch the restored graph either does not have, or
had only up to an earlier generation than the mirror's revision (a copy taken while a writer ran):
either way it is rebuilt, whatever number the restored graph's generation climbs back to.

A mirror written before epochs existed (or at generation 0) records no epoch: it is judged as before
(database id and generation) while it lies before the graph's first epoch and none was dropped.
Read-only opens never write Meta: they never begin an epoch. A store that records no epochs (Neo4j,
whose mirrors are in memory only) is judged on id and generation alone, as before.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)

EPOCH = "epoch"  # Meta key: the token of the current write epoch (absent before the first epoch)
EPOCHS = "epochs"  # Meta key: JSON {"kept": [[first generation, token], ...] oldest first, "dropped": n}
# epochs kept in the list (~30 bytes each, ~8 KB at most: read only when a mirror's epoch is not the
# current one, written once per writing open). A mirror older than the oldest kept one is rebuilt
# (logged). The vector indexes are saved only once they lag by a tenth, so a large catalog that changes
# little per open could leave its saved index that many writing opens behind: a loaded index whose
# epoch is half that many epochs old is saved at once (vector_sync._aging), long before it is dropped.
KEEP_EPOCHS = 256


@dataclass(frozen=True)
class Epochs:
    """The graph's write epochs: kept = ((first generation, token), ...) oldest first; dropped: how
    many older ones the cap removed (then a mirror naming none of the kept ones cannot be judged)."""

    kept: tuple[tuple[int, str], ...] = ()
    dropped: int = 0

    @classmethod
    def parse(cls, text: str | None) -> "Epochs":
        """The list stored in Meta (None: a database with no epoch yet). Unreadable text raises
        ValueError: the caller treats it as an unknown lineage."""
        if not text:
            return cls()
        data = json.loads(text)
        kept = tuple((int(start), str(token)) for start, token in data["kept"])
        return cls(kept, int(data.get("dropped", 0)))

    def dump(self) -> str:
        return json.dumps({"kept": [list(e) for e in self.kept], "dropped": self.dropped}, separators=(",", ":"))

    def begun(self, first: int, token: str) -> "Epochs":
        """The list with a new epoch whose first generation is `first`, the oldest dropped past the cap."""
        kept = self.kept + ((first, token),)
        cut = max(0, len(kept) - KEEP_EPOCHS)
        if cut:
            log.info("the graph's list of write epochs is full: the %d oldest dropped (a mirror still "
                     "at one of them is rebuilt when next used)", cut)
        return Epochs(kept[cut:], self.dropped + cut)

    def age(self, epoch: str | None) -> int:
        """How many of the kept epochs began after `epoch` (None, a mirror from before epochs: all of
        them); an epoch not kept counts as older than every kept one."""
        for i, (_, token) in enumerate(self.kept):
            if token == epoch:
                return len(self.kept) - 1 - i
        return len(self.kept)

    def lineage_fault(self, revision: int, epoch: str | None) -> str | None:
        """None when generation `revision` written in `epoch` is part of this history, else why not."""
        if epoch is None:
            if self.dropped:
                return "it predates the write epochs and the graph no longer lists its first ones"
            if self.kept and revision >= self.kept[0][0]:
                return (f"it records no write epoch at generation {revision}, which the graph wrote in "
                        f"epoch {self.kept[0][1]} or later")
            return None
        for i, (start, token) in enumerate(self.kept):
            if token != epoch:
                continue
            end = self.kept[i + 1][0] - 1 if i + 1 < len(self.kept) else None
            if revision < start or (end is not None and revision > end):
                last = "" if end is None else f" to {end}"
                return (f"the graph's epoch {epoch} holds generations {start}{last}, not {revision} "
                        "(a copy of the database restored from while a writer ran)")
            return None
        if self.dropped:
            return (f"its write epoch {epoch} is not among the graph's {len(self.kept)} kept ones (older than "
                    "the oldest kept, or the database was restored from a copy)")
        return f"its write epoch {epoch} is not in the graph's history (the database was restored from a copy)"


@dataclass(frozen=True)
class GraphVersion:
    """The graph's version as a mirror sees it: source (database id or identity; None: a database
    without an id, whose mirrors live in memory only), generation, epoch (current token or None)."""

    source: str | None
    generation: int
    epoch: str | None = None


def fault(source, revision, epoch, graph: GraphVersion, epochs: Callable[[], str | None]) -> str | None:
    """Why a mirror recorded at (source, revision, epoch) must be rebuilt rather than synced forward
    to `graph`, or None when it may be synced (or is current). epochs(): the graph's Meta epochs text,
    read in the same snapshot as `graph`; called only when the mirror's epoch is not the current one
    (the common case, a mirror of this lineage, costs no read)."""
    if source != graph.source:  # None == None: a database without an id, mirrored in memory only
        return f"it mirrors another database ({source}, not {graph.source})"
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
        return f"its revision {revision!r} is not a generation"
    if revision > graph.generation:
        return f"it claims generation {revision}, the graph is at {graph.generation} (restored from an older copy?)"
    if epoch is not None and not isinstance(epoch, str):
        return f"its write epoch {epoch!r} is not a token"
    if epoch == graph.epoch:
        return None  # the current epoch: the graph has been in it since at least the mirror's revision
    try:
        listed = Epochs.parse(epochs())
    except (ValueError, TypeError, KeyError) as e:
        return f"the graph's list of write epochs is unreadable ({e})"
    return listed.lineage_fault(revision, epoch)


def rebuild_note(kind: str, where, why: str) -> None:
    """The one log line of a mirror rebuilt by this rule (tests look for it)."""
    log.warning("rebuilding the %s mirror %s from the graph: %s", kind, where, why)


def changed_products(store, revision: int, page_rows: int) -> tuple[list[tuple[str, dict]] | None, list[dict] | None]:
    """Where a mirror's sync from `revision` finds the products it must re-read (rev > revision; every
    product when revision < 0 or after a write query the store did not stamp products for, Meta
    ANY_PRODUCT_CHANGED: it may have changed any of them). Either (pages, None): the store reads them
    best by scanning (GraphStore.product_pages: Cypher predicates over `p` with their parameters, each
    at most page_rows products), or (None, rows): the store reads them best by key, rows = [{"id",
    "gone"}] in id order."""
    revision = resync_point(store, revision)
    pages = store.product_pages(revision, page_rows)
    if pages is not None:
        return pages, None
    where = "" if revision < 0 else "WHERE p.rev > $rev"
    rows = store.cypher(f"MATCH (p:Product) {where} RETURN p.id AS id, p.gone AS gone ORDER BY id",
                        {"rev": revision} if where else None)
    return None, list(rows)


def resync_point(store, revision: int) -> int:
    """The revision a sync really starts from: -1 (everything) when a write query the store did not
    stamp products for came after `revision`."""
    from shopgraph.graph.store import ANY_PRODUCT_CHANGED

    unstamped = store.get_meta(ANY_PRODUCT_CHANGED)
    return -1 if unstamped is not None and int(unstamped) > revision else revision
