"""How a product's image file is recorded in the graph (Product.image_ref) and found again.

An image inside the image root (config ingest.image_root; by default the folder holding the database)
is stored as a path relative to that root, with "/" separators ("catalog/shop_a/images/a.jpg"), so a
database moved or copied together with its images still finds them, and a moved image folder needs only
`--set ingest.image_root=NEW`. An image outside the root is stored as its absolute path. Databases
written before this rule hold absolute paths: those are read as they are.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath


def to_ref(path: str | Path | None, root: Path | None) -> str | None:
    """The image_ref of an image file (an absolute path): relative to root when inside it."""
    if path is None:
        return None
    path = Path(path)
    if root is not None:
        root = Path(root).resolve()
        if path.is_relative_to(root) and path != root:
            return PurePosixPath(*path.relative_to(root).parts).as_posix()
    return str(path)


def from_ref(ref: str | None, root: Path | None) -> Path | None:
    """The image file an image_ref names: an absolute ref as it is, a relative one inside root (None
    when there is no root to resolve it against)."""
    if not ref:
        return None
    path = Path(ref)
    if path.is_absolute():
        return path
    return Path(root) / path if root is not None else None
