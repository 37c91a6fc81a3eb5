"""Writing query results for people and for other tools: the CLI's --format and --output.

Formats:
- table: aligned text for a terminal. Column widths count display cells (wcwidth), so CJK text and
  emoji line up. Cells are cut at CELL_WIDTH cells ("…") unless wide; floats keep every digit they
  were written with (399.99 stays 399.99), except that more than FLOAT_DECIMALS decimals (a score's
  noise digits) are rounded to FLOAT_DECIMALS unless wide.
- csv, tsv: one header line, then one line per row (the csv module: quotes where needed, floats as
  their shortest round-trip text, true/false, empty for null); lists and nested values as JSON text.
- json (one array), jsonl (one object per line): the results' own shape (a search hit nests its
  product and channel scores), every float in full (shortest round-trip), NaN and infinity as null.
- parquet: the typed table (needs an output file).

Every result kind is a frames.TableList: to_arrow() gives the flat typed table (table, csv, tsv,
parquet), records() the JSON shape. An output file is written beside its final name and renamed
into place, so a failed or interrupted write never leaves half a file under that name.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Sequence, TextIO

from shopgraph.errors import BadArgumentError

FORMATS = ("table", "csv", "tsv", "json", "jsonl", "parquet")
CELL_WIDTH = 40
FLOAT_DECIMALS = 6


# -- display width -------------------------------------------------------------------------------
def display_width(text: str) -> int:
    """Terminal cells text takes: 2 for wide (East Asian) characters, 0 for combining marks."""
    from wcwidth import wcwidth

    return sum(max(wcwidth(ch), 0) for ch in text)


def cut(text: str, width: int) -> str:
    """text cut to at most width display cells, ending in "…" when cut."""
    if display_width(text) <= width:
        return text
    from wcwidth import wcwidth

    out, used = [], 0
    for ch in text:
        w = max(wcwidth(ch), 0)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def pad(text: str, width: int, right: bool = False) -> str:
    space = " " * max(width - display_width(text), 0)
    return space + text if right else text + space


# -- cell text -------------------------------------------------------------------------------------
def float_text(value: float, wide: bool = False) -> str:
    """A float as written (shortest round-trip repr), rounded to FLOAT_DECIMALS decimals only when it
    has more and not wide. Integral floats keep no exponent up to 1e16."""
    if not math.isfinite(value):
        return str(value)
    text = repr(value)
    if "e" in text and abs(value) < 1e16 and value == int(value):
        text = f"{int(value)}.0"
    if not wide and "." in text and "e" not in text and len(text.split(".")[1]) > FLOAT_DECIMALS:
        text = f"{value:.{FLOAT_DECIMALS}f}"
    return text


def cell_text(value, wide: bool = False) -> str:
    """One table cell: text on one line (whitespace runs and control characters as one space)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return float_text(value, wide)
    if isinstance(value, (list, tuple, dict)):
        if not wide and isinstance(value, (list, tuple)) and len(value) > 6:
            return f"[{len(value)} values]"
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return "+".join(value) if value else ""
        value = json.dumps(value, ensure_ascii=False, default=str)
    return " ".join("".join(ch if ch.isprintable() else " " for ch in str(value)).split())


def render_table(table, columns: Sequence[str] | None = None, wide: bool = False, empty: str = "(no rows)") -> str:
    """An Arrow table as aligned text: a header, a rule, one line per row; numbers right-aligned."""
    import pyarrow as pa

    columns = [c for c in (columns or table.column_names) if c in table.column_names]
    if table.num_rows == 0:
        columns = []
    numeric = {c for c in columns if _is_number(table.schema.field(c).type)}
    return _aligned(columns, numeric, [table.column(c).to_pylist() for c in columns], wide, empty)


def render_rows(rows: Sequence[dict], types: dict, columns: Sequence[str] | None = None, wide: bool = False,
                empty: str = "(no rows)") -> str:
    """The same text as render_table(records_table(rows, types)), without building the Arrow table:
    each value is first given its column's declared type, as the table would hold it."""
    columns = [c for c in (columns or list(types)) if c in types]
    if not rows:
        columns = []
    numeric = {c for c in columns if _is_number(types[c])}
    return _aligned(columns, numeric, [[_typed(row.get(c), types[c]) for row in rows] for c in columns],
                    wide, empty)


def _is_number(arrow_type) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)


def _typed(value, arrow_type):
    """A Python value as an Arrow column of arrow_type gives it back (an int in a float64 column is a float)."""
    import pyarrow as pa

    from shopgraph.queries.frames import _plain

    value = _plain(value)
    if value is None:
        return None
    if pa.types.is_floating(arrow_type):
        return float(value)
    if pa.types.is_integer(arrow_type):
        return int(value)
    if pa.types.is_boolean(arrow_type):
        return bool(value)
    return value


def _aligned(columns: list[str], numeric: set[str], values: list[list], wide: bool, empty: str) -> str:
    """A header, a rule and one line per row from per-column values; numbers right-aligned."""
    if not columns:
        return empty
    cells = [[cell_text(v, wide) for v in col] for col in values]
    if not wide:
        cells = [[cut(v, CELL_WIDTH) for v in col] for col in cells]
    widths = [max(display_width(c), *(display_width(v) for v in col)) for c, col in zip(columns, cells)]
    lines = ["  ".join(pad(c, w, c in numeric) for c, w in zip(columns, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    for row in zip(*cells):
        lines.append("  ".join(pad(v, w, c in numeric) for c, v, w in zip(columns, row, widths)).rstrip())
    return "\n".join(lines)


# -- machine formats -------------------------------------------------------------------------------
def _finite(value):
    """JSON has no NaN or infinity: null instead (json.dumps would write invalid JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_default(value):
    from shopgraph.queries.frames import _plain

    plain = _plain(value)
    return str(plain) if plain is value else plain


def json_line(record) -> str:
    return json.dumps(_finite(record), ensure_ascii=False, default=_json_default, allow_nan=False)


def _flat_for_csv(table):
    """Lists and nested columns as JSON text (CSV has no nested values)."""
    import pyarrow as pa

    for i, field in enumerate(table.schema):
        if pa.types.is_nested(field.type):
            text = pa.array([None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                             for v in table.column(i).to_pylist()], type=pa.string())
            table = table.set_column(i, field.name, text)
    return table


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back as the same float
    return value


def delimited(table, delimiter: str) -> bytes:
    """CSV (or TSV with a tab) by the csv module: quotes only where needed, floats in full."""
    import csv
    import io

    table = _flat_for_csv(table)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(table.column_names)
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    for row in zip(*columns):
        writer.writerow([_csv_cell(v) for v in row])
    return buffer.getvalue().encode("utf-8")


# -- the one entry point ---------------------------------------------------------------------------
def write_result(result, fmt: str = "table", output: str | Path | None = None, *, wide: bool = False,
                 columns: Sequence[str] | None = None, empty: str = "(no rows)", out: TextIO | None = None) -> None:
    """Write a result list (a frames.TableList) in fmt to output (a file path) or out (default stdout).
    columns: the columns a table shows (every column in the other formats)."""
    if fmt not in FORMATS:
        raise BadArgumentError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if fmt == "parquet" and output is None:
        raise BadArgumentError("--format parquet needs --output FILE")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        _atomic(output, lambda path: pq.write_table(result.to_arrow(), path))
        return
    if fmt in ("json", "jsonl"):
        lines = [json_line(r) for r in result.records()]
        text = "\n".join(lines) + "\n" if fmt == "jsonl" and lines else (
            "" if fmt == "jsonl" else "[" + ",\n ".join(lines) + "]\n")
        data = text.encode("utf-8")
    elif fmt in ("csv", "tsv"):
        data = delimited(result.to_arrow(), "," if fmt == "csv" else "\t")
    else:
        declared = result.table_rows() if hasattr(result, "table_rows") else None
        text = (render_rows(*declared, columns, wide, empty) if declared is not None
                else render_table(result.to_arrow(), columns, wide, empty))
        data = (text + "\n").encode("utf-8")
    if output is not None:
        _atomic(output, lambda path: Path(path).write_bytes(data))
        return
    stream = out or sys.stdout  # looked up at call time: tests and pipes may replace sys.stdout
    stream.write(data.decode("utf-8"))
    stream.flush()


def _atomic(output: str | Path, write) -> None:
    """Write through a temporary file in output's folder, renamed into place when complete."""
    target = Path(output)
    if target.is_dir():
        raise BadArgumentError(f"--output {target} is a folder")
    if not target.parent.is_dir():
        raise BadArgumentError(f"--output {target}: the folder {target.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- what the demo and the CLI show ----------------------------------------------------------------
SEARCH_COLUMNS = ("rank", "score", "platform", "title", "brand", "price", "currency", "matched_by", "strength")
REVIEW_COLUMNS = ("score", "src", "dst", "src_title", "dst_title", "says")
MATCH_COLUMNS = ("score", "status", "src", "dst", "says")


def search_summary(hits, facets: bool = False) -> list[str]:
    """The lines printed under a search's table: "no close match" when no result is an exact or strong
    match, how many products match (hybrid search), and with `facets` their counts per facet."""
    lines = []
    if getattr(hits, "no_close_match", False):
        lines.append("no close match: the results are only partial or weak matches")
    total = getattr(hits, "total", None)
    if total is not None:
        offset = getattr(hits, "offset", 0)
        shown = f"showing {offset + 1}-{offset + len(hits)}" if hits else "none shown"
        lines.append(f"{total} matching products ({shown})")
    counts = getattr(hits, "facets", None)
    if facets and counts:
        for name, values in counts.items():
            lines.append(f"{name}: " + (", ".join(f"{v} ({n})" for v, n in values) or "-"))
    return lines


def results_table(hits, wide: bool = False) -> str:
    """Search hits as a table: rank, score, platform, title, brand, price, currency, matched_by, strength."""
    from shopgraph.queries.frames import SearchResults

    return render_rows(*SearchResults(hits).table_rows(), SEARCH_COLUMNS, wide, "(no results)")


def print_results(hits, as_json: bool = False, out: TextIO | None = None) -> None:
    from shopgraph.queries.frames import SearchResults

    write_result(SearchResults(hits), "jsonl" if as_json else "table", columns=SEARCH_COLUMNS, out=out,
                 empty="(no results)")


def print_rows(rows, as_json: bool = False, out: TextIO | None = None) -> None:
    """Cypher rows: JSON lines, or a table with one column per returned name."""
    from shopgraph.queries.frames import CypherRows

    write_result(CypherRows(rows), "jsonl" if as_json else "table", out=out)
