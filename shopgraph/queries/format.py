"""Plain-text and JSON rendering of query results for the CLI and the demo."""

from __future__ import annotations

import json
import sys
from typing import Sequence, TextIO

from shopgraph.queries.results import SearchResult


def _short(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _price(product) -> str:
    if product.price is None:
        return "-"
    return f"{product.price:,.2f} {product.currency or ''}".strip()


def results_table(hits: Sequence[SearchResult], title_width: int = 48) -> str:
    """A fixed-width table: rank, score, platform, title, brand, price, channels that carried it."""
    if not hits:
        return "(no results)"
    header = f"{'#':>2}  {'score':>6}  {'platform':<10} {'title':<{title_width}} {'brand':<12} {'price':>12}  matched by"
    lines = [header, "-" * len(header)]
    for rank, hit in enumerate(hits, 1):
        p = hit.product
        lines.append(f"{rank:>2}  {hit.score:>6.3f}  {_short(p.platform, 10):<10} {_short(p.title, title_width):<{title_width}} "
                     f"{_short(p.brand, 12):<12} {_price(p):>12}  {'+'.join(hit.matched_by) or '-'}")
    return "\n".join(lines)


def print_results(hits: Sequence[SearchResult], as_json: bool = False, out: TextIO | None = None) -> None:
    out = out or sys.stdout  # looked up at call time: tests and pipes may replace sys.stdout
    if as_json:
        for hit in hits:
            print(json.dumps(hit.to_dict(), ensure_ascii=False, default=str), file=out)
    else:
        print(results_table(hits), file=out)


def print_rows(rows: Sequence[dict], as_json: bool = False, out: TextIO | None = None, width: int = 40) -> None:
    """Cypher rows: JSON lines, or a table with one column per returned name."""
    out = out or sys.stdout
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, default=str), file=out)
        return
    if not rows:
        print("(no rows)", file=out)
        return
    columns = list(rows[0])
    cells = [[_short(_cell(row.get(c)), width) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)), file=out)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)) and len(value) > 6:
        return f"[{len(value)} values]"
    return "" if value is None else str(value)
