"""The run summary of an ingest: what was read, written, kept, counted and said about it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

# Counters that add up when summaries of several sources are merged.
_COUNTS = ("rows_read", "products_written", "products_replaced", "replaced_from_other_files", "products_unchanged",
           "quarantined", "images_missing", "identifiers_written", "attributes_written", "interactions_written",
           "same_as_written", "different_written", "products_removed", "products_retired", "vectors_from_cache",
           "seconds")
NOTE_EXAMPLES = 5


@dataclass
class IngestSummary:
    """Counts of one ingest run. rows_read counts every data row seen, good or bad:
    rows_read = products_written + products_unchanged + quarantined (+ interactions_written for an
    interaction file). products_replaced counts the written products that were already in the graph
    with other content; replaced_from_other_files those of them that another file had written (the
    same id in two files: `replaced` names the first). identifiers_written / attributes_written: the
    HAS_IDENTIFIER / HAS_ATTRIBUTE edges of the written products. products_removed / products_retired:
    removed by a full snapshot or a delete (retired: kept as a tombstone, gone = true, because matching
    decisions name it). notes: kind (records.NOTE_*) -> how many values were kept but could not be read
    (an unreadable price, an invalid GTIN, a URL image not downloaded), note_examples the first few.
    warnings: one line each (columns.py, the titles' script). brand_merges: "variant -> brand" lines.
    columns: one line per source, what its columns became. platforms: the platforms (or interaction
    namespaces) the run wrote to."""

    rows_read: int = 0
    products_written: int = 0
    products_replaced: int = 0
    replaced_from_other_files: int = 0
    products_unchanged: int = 0
    quarantined: int = 0
    images_missing: int = 0
    identifiers_written: int = 0
    attributes_written: int = 0
    interactions_written: int = 0
    same_as_written: int = 0
    different_written: int = 0
    products_removed: int = 0
    products_retired: int = 0
    vectors_from_cache: int = 0
    seconds: float = 0.0
    quarantine_files: list[str] = field(default_factory=list)
    image_problems: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)
    note_examples: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    brand_merges: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    platforms: list[str] = field(default_factory=list)  # platforms (interaction namespaces) this run wrote to

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def note(self, kind: str, detail: str) -> None:
        """Count one note of a kind, keeping the first NOTE_EXAMPLES details."""
        self.notes[kind] = self.notes.get(kind, 0) + 1
        examples = self.note_examples.setdefault(kind, [])
        if len(examples) < NOTE_EXAMPLES:
            examples.append(detail)

    def warn(self, line: str) -> None:
        if line not in self.warnings:
            self.warnings.append(line)

    def merge(self, other: "IngestSummary") -> None:
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.quarantine_files += other.quarantine_files
        self.image_problems += other.image_problems
        self.replaced += other.replaced
        for kind, n in other.notes.items():
            self.notes[kind] = self.notes.get(kind, 0) + n
            examples = self.note_examples.setdefault(kind, [])
            examples += other.note_examples.get(kind, [])[:NOTE_EXAMPLES - len(examples)]
        for line in other.warnings:
            self.warn(line)
        self.brand_merges += [m for m in other.brand_merges if m not in self.brand_merges]
        self.columns += other.columns
        self.platforms += [p for p in other.platforms if p not in self.platforms]

    def render(self) -> str:
        lines = [f"platforms            {', '.join(self.platforms)}"] if self.platforms else []
        lines += [
            f"rows read            {self.rows_read:>10,}",
            f"products written     {self.products_written:>10,}",
            f"  of them replaced   {self.products_replaced:>10,}",
        ]
        if self.replaced_from_other_files:
            lines.append(f"  from another file  {self.replaced_from_other_files:>10,}")
        lines += [
            f"products unchanged   {self.products_unchanged:>10,}",
            f"quarantined rows     {self.quarantined:>10,}",
            f"without image        {self.images_missing:>10,}",
            f"identifiers written  {self.identifiers_written:>10,}",
            f"attribute values     {self.attributes_written:>10,}",
        ]
        # A label longer than the usual 20 columns keeps the count's right edge where the others end.
        lines += [f"{kind:<20} {n:>{max(1, 30 - max(20, len(kind)))},}" for kind, n in sorted(self.notes.items())]
        if self.products_removed or self.products_retired:
            lines += [f"products removed     {self.products_removed:>10,}",
                      f"  kept as gone       {self.products_retired:>10,}"]
        lines += [
            f"interactions written {self.interactions_written:>10,}",
            f"SAME_AS written      {self.same_as_written:>10,}",
            f"DIFFERENT_FROM       {self.different_written:>10,}",
            f"vectors from cache   {self.vectors_from_cache:>10,}",
            f"seconds              {self.seconds:>10.1f}",
            f"rows/s               {self.rows_per_second:>10.1f}",
        ]
        lines += [f"columns              {line}" for line in self.columns]
        lines += [f"quarantine file      {p}" for p in self.quarantine_files]
        lines += _first("image problem", self.image_problems)
        lines += _first("replaced product", self.replaced, self.products_replaced)
        for kind in sorted(self.note_examples):
            lines += _first(_singular(kind), self.note_examples[kind], self.notes.get(kind, 0))
        lines += [f"brand merged         {m}" for m in self.brand_merges]
        lines += [f"warning              {w}" for w in self.warnings]
        return "\n".join(lines)


def _singular(kind: str) -> str:
    """"prices unreadable" -> "price unreadable" (the label of one example)."""
    head, _, rest = kind.partition(" ")
    return (head[:-1] if head.endswith("s") else head) + (f" {rest}" if rest else "")


def _first(label: str, items: list[str], total: int | None = None, shown: int = 5) -> list[str]:
    """Up to `shown` lines "<label> <item>", then "... and N more" when there are more."""
    total = len(items) if total is None else total
    lines = [f"{label:<20} {item}" for item in items[:shown]]
    if total > len(lines):
        lines.append(f"{label:<20} ... and {total - len(lines)} more")
    return lines


assert set(_COUNTS) <= {f.name for f in fields(IngestSummary)}
