"""Names that come from users and end up in ids and file names: platform names, and the rule that
every path built from user data stays inside the folder it was meant for.

Platform names (also interaction namespaces) are 1 to PLATFORM_MAX_CHARS characters: letters and
digits of any script, "_", "-" and ".", starting with a letter or a digit. So a platform name can never
be a path separator, "..", an absolute path, a control character (NUL, newline) or ":" (which joins a
platform and a product's own id). Names derived from data (a directory name in a dataset layout) are
made valid with `platform_from_text`; names a user gives are checked with `check_platform` and refused
when invalid, never silently changed.
"""

from __future__ import annotations

import re
from pathlib import Path

from shopgraph.errors import BadArgumentError, ConfigError

PLATFORM_MAX_CHARS = 64
PLATFORM_RULE = (f"1 to {PLATFORM_MAX_CHARS} characters: letters, digits, '_', '-' and '.', "
                 "starting with a letter or a digit")
# The longest file-name part made from user data, in UTF-8 bytes (file names are at most 255 bytes on
# most systems, and a file name joins two parts and a run stamp).
FILE_PART_MAX_BYTES = 100


def _platform_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_-."


def platform_problem(name: object) -> str | None:
    """Why name is not a valid platform name, or None when it is."""
    if not isinstance(name, str):
        return f"must be a string, got {type(name).__name__}"
    if not name:
        return "is empty"
    if len(name) > PLATFORM_MAX_CHARS:
        return f"is {len(name)} characters long (at most {PLATFORM_MAX_CHARS})"
    bad = next((ch for ch in name if not _platform_char(ch)), None)
    if bad is not None:
        return f"contains {bad!r}; a platform name is {PLATFORM_RULE}"
    if not name[0].isalnum():
        return f"starts with {name[0]!r}; a platform name is {PLATFORM_RULE}"
    return None


def check_platform(name: object, what: str = "platform") -> str:
    """name when it is a valid platform name; ConfigError (one line) saying why otherwise."""
    problem = platform_problem(name)
    if problem is not None:
        shown = repr(name)[:100] if isinstance(name, str) else type(name).__name__
        raise ConfigError(f"{what} {shown} {problem}")
    return name


def platform_from_text(text: str) -> str:
    """A valid platform name made from arbitrary text (a directory or file name): every run of other
    characters becomes "_", leading "_-." are dropped, the result is cut to PLATFORM_MAX_CHARS.
    Text with no letter or digit gives "data"."""
    name = file_part(text).lstrip("_-.")[:PLATFORM_MAX_CHARS]
    return name or "data"


def file_part(text: str) -> str:
    """text made safe as part of one file name: letters, digits (any script), "_", "-" and "." kept,
    every run of other characters becomes "_", no leading ".", at most FILE_PART_MAX_BYTES bytes of
    UTF-8. A valid platform name of ASCII characters comes back unchanged."""
    part = re.sub(r"_+", "_", "".join(ch if _platform_char(ch) else "_" for ch in text)).lstrip(".")
    part = part.encode("utf-8")[:FILE_PART_MAX_BYTES].decode("utf-8", "ignore")
    return part or "_"


def inside(base: Path, name: str) -> Path:
    """base / name, checked to resolve inside base (symbolic links followed): BadArgumentError when a
    name built from user data would point anywhere else."""
    base = Path(base)
    target = base / name
    if not target.resolve().is_relative_to(base.resolve()) or target.resolve() == base.resolve():
        raise BadArgumentError(f"refusing to write {str(name)[:100]!r}: it would be outside {base}")
    return target
