"""What each column of a catalog becomes: a product field, an identifier, an attribute, or ignored.

`plan_columns(columns, sample, mapping)` decides it once per file from the header and its first rows
(SAMPLE_ROWS), so a run, `--inspect` and a DataFrame ingest all see the same plan:

1. Columns the mapping maps to fields (id, title, description, price, currency, brand, category,
   image) are those fields.
2. Columns in `ignore` are ignored.
3. Identifier columns: the mapping's `identifiers`; with `detect_identifiers` (the default) also every
   other column whose name means an identifier (identifiers.column_scheme: "model", "Model No.",
   "EAN", "upc", "isbn", "sku" ...) and every column whose sampled values are GTINs (at least
   GTIN_MIN_VALUES non-blank values, GTIN_MIN_SHARE of them valid GTIN-8/12/13/14), whatever its name.
4. The rest are attributes when `attributes = "*"` (the default) or listed; ignored otherwise.

The category separator is the mapping's, or detected from the sampled category values
(normalise.detect_separator). Warnings (a likely separator in one-level paths, an ignored column ...)
are kept in the plan and reach the run summary and --inspect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from shopgraph.ingest.identifiers import column_scheme, looks_like_gtin
from shopgraph.ingest.mapping import ALL_COLUMNS, ColumnMapping
from shopgraph.ingest.normalise import SEPARATORS, detect_separator, parse_category_path, separator_shares

SAMPLE_ROWS = 1000
GTIN_MIN_VALUES = 2
GTIN_MIN_SHARE = 0.9
_FIELD_NAMES = ("id", "title", "price", "currency", "brand", "category", "image")


@dataclass
class ColumnPlan:
    """The plan for one catalog file (see the module docstring).

    roles: column -> "field:<name>", "identifier:<scheme>", "attribute" or "ignored", in file order.
    identifiers: (column, scheme) pairs read as identifiers; attributes: columns read as attributes;
    category_separator: the one in use (None: no category column, or values with none);
    warnings: one line each.
    """

    roles: dict[str, str] = field(default_factory=dict)
    identifiers: tuple[tuple[str, str], ...] = ()
    attributes: tuple[str, ...] = ()
    category_separator: str | None = None
    separator_detected: bool = False
    warnings: list[str] = field(default_factory=list)
    title_script: Any = None   # shopgraph.search.script.ScriptShare of the sampled titles

    def describe(self) -> str:
        """One line: how many columns became what ("2 fields: sku, name; 1 identifier: ean (gtin); ...")."""
        groups: dict[str, list[str]] = {}
        for column, role in self.roles.items():
            kind, _, detail = role.partition(":")
            groups.setdefault(kind, []).append(f"{column} ({detail})" if kind == "identifier" else column)
        parts = []
        for kind in ("field", "identifier", "attribute", "ignored"):
            names = groups.get(kind, [])
            if names:
                shown = ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
                parts.append(f"{len(names)} {kind}{'s' if len(names) > 1 and kind != 'ignored' else ''}: {shown}")
        return "; ".join(parts)

    @property
    def ignored(self) -> list[str]:
        return [c for c, role in self.roles.items() if role == "ignored"]

    def columns(self) -> list[str]:
        """Every column the ingest reads."""
        return [c for c, role in self.roles.items() if role != "ignored"]


def _field_roles(mapping: ColumnMapping) -> dict[str, str]:
    roles = {mapping.id: "field:id", mapping.title: "field:title"}
    roles.update({c: "field:description" for c in mapping.description})
    for name in _FIELD_NAMES[2:]:
        column = getattr(mapping, name)
        if column is not None:
            roles.setdefault(column, f"field:{name}")
    return roles


def _gtin_column(values: Iterable[Any]) -> bool:
    texts = [str(v).strip() for v in values if v is not None and not isinstance(v, (dict, list, bool))
             and str(v).strip()]
    if len(texts) < GTIN_MIN_VALUES:
        return False
    return sum(1 for t in texts if looks_like_gtin(t)) >= GTIN_MIN_SHARE * len(texts)


def plan_columns(columns: Sequence[str], sample: Sequence[dict], mapping: ColumnMapping) -> ColumnPlan:
    """The ColumnPlan of a file with these columns (in file order) and sample rows."""
    plan = ColumnPlan()
    fields = _field_roles(mapping)
    explicit = dict(mapping.identifiers)
    listed = set(mapping.attributes) if mapping.attributes != ALL_COLUMNS else None
    identifiers, attributes = [], []
    for column in columns:
        if column in fields:
            plan.roles[column] = fields[column]
            continue
        if column in mapping.ignore:
            plan.roles[column] = "ignored"
            continue
        scheme = explicit.get(column)
        if scheme is None and mapping.detect_identifiers:
            scheme = column_scheme(column) or ("gtin" if _gtin_column(r.get(column) for r in sample) else None)
        if scheme is not None:
            plan.roles[column] = f"identifier:{scheme}"
            identifiers.append((column, scheme))
        elif listed is None or column in listed:
            plan.roles[column] = "attribute"
            attributes.append(column)
        else:
            plan.roles[column] = "ignored"
    plan.identifiers, plan.attributes = tuple(identifiers), tuple(attributes)
    if plan.ignored:
        plan.warnings.append(f"columns ignored (not read into the graph): {', '.join(plan.ignored)}")
    _plan_category(plan, sample, mapping)
    from shopgraph.search.script import dominant_script

    plan.title_script = dominant_script([r.get(mapping.title) for r in sample if isinstance(r.get(mapping.title), str)])
    return plan


def script_warning(script, model_path: str | None) -> str | None:
    """A warning when titles are mostly in a script the default (English) text model does not read."""
    if script is None or not script.needs_multilingual or model_path:
        return None
    return (f"titles are mostly in {script.script} script ({script.share:.0%} of their letters); the default text "
            f"model (all-MiniLM-L6-v2) reads English: set text.model_path to a multilingual model directory "
            f"(--set text.model_path=DIR) for text search that understands them")


def _plan_category(plan: ColumnPlan, sample: Sequence[dict], mapping: ColumnMapping) -> None:
    if mapping.category is None:
        return
    values = [r.get(mapping.category) for r in sample]
    separator = mapping.category_separator
    if separator is None:
        separator = detect_separator(values)
        plan.separator_detected = separator is not None
    plan.category_separator = separator
    texts = [v for v in values if isinstance(v, str) and v.strip()]
    if not texts:
        return
    depths = [len(parse_category_path(v, separator, None)) for v in texts]
    if max(depths) > 1:
        return
    shares = separator_shares(texts)
    likely = [s for s in SEPARATORS if s != separator and shares.get(s, 0) > 0]
    if likely:
        said = f"separator {separator!r}" if separator else "no separator"
        plan.warnings.append(
            f"category column {mapping.category!r}: every path is one level deep with {said}, but the values "
            f"contain {likely[0]!r} (in {shares[likely[0]]:.0%} of them); set category_separator "
            f"(--category-sep) if it separates levels")
