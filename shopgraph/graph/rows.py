"""Small helpers both stores use on the rows and errors they pass around."""

from __future__ import annotations

from typing import Iterator, Mapping, Sequence

import numpy as np


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def plain(row: Mapping) -> dict:
    """Query parameters from a row: numpy arrays become lists of float32 values, numpy scalars
    plain Python values (database drivers take neither)."""
    out = {}
    for key, value in row.items():
        if isinstance(value, np.ndarray):
            value = value.astype(np.float32).tolist()
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def one_line(error: BaseException) -> str:
    """The first line of an error's message (its class name if the message is empty)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
