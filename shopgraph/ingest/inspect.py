"""Inspect a catalog before ingesting it: what each column becomes and how its first values read.

`inspect_source(source, mapping, config, rows=20)` reads the first `rows` records of a file or an
in-memory table through the same plan and validation as an ingest (columns.py, validate.py), and
writes nothing: no database is opened, no quarantine file is made, no image is downloaded. The report
says, per column, its role (field / identifier / attribute / ignored) with parsed samples (price and
currency, category depth, identifiers valid or not, image found / URL / missing, attribute number and
unit), the dominant script of the titles, the rows that would be quarantined and every warning an
ingest's summary would carry.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from shopgraph.ingest.columns import ColumnPlan, script_warning
from shopgraph.records import NOTE_IDENTIFIER, NOTE_IMAGE_URL, NOTE_PRICE, ProductRecord, QuarantinedRow

SAMPLES_PER_COLUMN = 3


@dataclass
class ColumnReport:
    """One column: its role ("field:price", "identifier:gtin", "attribute", "ignored"), the attribute
    key it is stored under (attributes), and up to SAMPLES_PER_COLUMN parsed samples ("raw -> reading")."""

    column: str
    role: str
    key: str | None = None
    samples: list[str] = field(default_factory=list)


@dataclass
class InspectReport:
    """What ingesting a source would do (see the module docstring)."""

    source: str
    platform: str
    rows: int
    kept: int
    quarantined: list[str]
    columns: list[ColumnReport]
    category_separator: str | None
    separator_detected: bool
    title_script: str | None
    title_script_share: float
    warnings: list[str]
    notes: dict[str, int]

    def render(self) -> str:
        sep = "none" if self.category_separator is None else repr(self.category_separator)
        lines = [f"source               {self.source}",
                 f"platform             {self.platform}",
                 f"rows inspected       {self.rows} ({self.kept} kept, {len(self.quarantined)} would be quarantined)",
                 f"titles               {self.title_script or 'no letters'}"
                 + (f" script ({self.title_script_share:.0%} of letters)" if self.title_script else ""),
                 f"category separator   {sep}{' (detected)' if self.separator_detected else ''}",
                 ""]
        width = max([len(c.column) for c in self.columns] + [6])
        lines.append(f"{'column':<{width}}  {'becomes':<24}  samples")
        for c in self.columns:
            role = c.role if c.key is None else f"{c.role}: {c.key}"
            lines.append(f"{c.column:<{width}}  {role:<24}  {'; '.join(c.samples)}")
        lines.append("")
        lines += [f"{kind:<20} {n}" for kind, n in sorted(self.notes.items())]
        lines += [f"would quarantine     {q}" for q in self.quarantined]
        lines += [f"warning              {w}" for w in self.warnings]
        lines.append("nothing was written")
        return "\n".join(lines)


def inspect_source(source, mapping, config, *, rows: int = 20, source_name: str | None = None) -> InspectReport:
    """The InspectReport of the first `rows` records of a file path or a table (see the module docstring)."""
    from shopgraph.errors import BadArgumentError
    from shopgraph.ingest.run import _coerce_mapping
    from shopgraph.ingest.validate import read_products, read_table

    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise BadArgumentError(f"rows must be a positive integer, got {rows!r}")
    mapping = _coerce_mapping(mapping)
    if isinstance(source, (str, Path)):
        stream = read_products(Path(source), mapping, config.ingest, source_name=source_name)
        name = source_name or str(source)
    else:
        stream = read_table(source, mapping, config.ingest, source_name=source_name or "table")
        name = source_name or "table"
    items = list(itertools.islice(iter(stream), rows))
    plan: ColumnPlan = stream.plan
    records = [r for r in items if isinstance(r, ProductRecord)]
    quarantined = [f"line {q.source_line}: {q.reason}" for q in items if isinstance(q, QuarantinedRow)]
    notes: dict[str, int] = {}
    for record in records:
        for kind, _ in record.notes:
            notes[kind] = notes.get(kind, 0) + 1
    warnings = list(plan.warnings)
    script = script_warning(plan.title_script, config.text.model_path)
    if script:
        warnings.append(script)
    if notes.get(NOTE_IMAGE_URL):
        warnings.append(f"{notes[NOTE_IMAGE_URL]} main images are URLs: they are recorded, not downloaded, unless "
                        f"you ingest with --fetch-images")
    columns = [_column_report(column, role, mapping, records, config) for column, role in plan.roles.items()]
    share = plan.title_script
    return InspectReport(name, mapping.platform, len(items), len(records), quarantined, columns,
                         plan.category_separator, plan.separator_detected, share.script if share else None,
                         share.share if share else 0.0, warnings, notes)


def _column_report(column: str, role: str, mapping, records: list[ProductRecord], config) -> ColumnReport:
    from shopgraph.ingest.attributes import attribute_key

    report = ColumnReport(column, role)
    kind, _, detail = role.partition(":")
    if kind == "attribute":
        report.key = attribute_key(column, config.ingest.attribute_synonyms or None)
    samples = report.samples
    for record in records:
        if len(samples) >= SAMPLES_PER_COLUMN:
            break
        sample = _sample(kind, detail, column, record, mapping, report.key)
        if sample and sample not in samples:
            samples.append(sample)
    return report


def _sample(kind: str, detail: str, column: str, record: ProductRecord, mapping, key: str | None) -> str | None:
    if kind == "field":
        return _field_sample(detail, column, record, mapping)
    if kind == "identifier":
        found = [i for i in record.identifiers if i.column == column]
        if found:
            return ", ".join(f"{i.raw} -> {i.key}" for i in found)
        bad = [d for k, d in record.notes if k == NOTE_IDENTIFIER and d.startswith(f"{column}:")]
        return f"{bad[0].split(': ', 1)[1]} -> not a valid {detail} (kept as an attribute)" if bad else None
    if kind == "attribute":
        values = [a for a in record.attributes if a.key == key]
        return ", ".join(_attribute_sample(a) for a in values[:2]) or None
    return None


def _attribute_sample(attribute) -> str:
    p = attribute.parsed
    if p.number is None:
        return repr(attribute.value)
    reading = f"{p.number:g}" + (f" {p.unit}" if p.unit else "")
    if p.unit == "date":
        reading = p.norm
    elif p.base_unit is not None and p.base_unit != p.unit:
        reading += f" = {p.base_number:g} {p.base_unit}"
    return f"{attribute.value!r} -> {reading}"


def _field_sample(name: str, column: str, record: ProductRecord, mapping) -> str | None:
    if name == "price":
        if record.price is not None:
            return f"{record.price:g} {record.currency or '(no currency)'}"
        bad = [d for k, d in record.notes if k == NOTE_PRICE]
        return f"{bad[0]} -> no price (kept as an attribute)" if bad else None
    if name == "category":
        if not record.category_path:
            return None
        return f"{' > '.join(record.category_path)} (depth {len(record.category_path)})"
    if name == "image":
        if record.image_path:
            return f"{Path(record.image_path).name} (found)"
        if record.images and "://" in record.images[0]:
            return f"{record.images[0][:60]} (URL, not downloaded)"
        return "missing"
    if name == "brand":
        return record.brand
    if name == "title":
        return record.title[:60]
    if name == "id":
        return record.source_id
    if name == "currency":
        return record.currency
    return None
