"""manifest.json of an export folder: what each file holds, its rows and checksum, and the graph's
schema version and vector widths. Reading one checks it before anything is written: a file the
manifest does not describe exactly (missing, another checksum, outside the folder) is one error
naming it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from shopgraph.errors import BadFileError

MANIFEST = "manifest.json"
FORMAT = "shopgraph-export"
FORMAT_VERSION = 1


@dataclass
class FileEntry:
    """One exported file. kind: "node" or "relationship"; name: its label or type; columns: column
    -> schema type (STRING, DOUBLE, INT64, BOOL, VECTOR); holds: what it is, in words."""

    path: str
    kind: str
    name: str
    rows: int
    sha256: str
    columns: dict[str, str]
    holds: str


@dataclass
class Manifest:
    schema_version: str | None
    file_format: str                  # parquet | csv
    vectors: bool                     # product (and user) vectors included
    vector_dims: dict[str, int]
    image_root: str | None            # the folder relative image_ref values were relative to
    shopgraph_version: str
    created: str
    files: list[FileEntry] = field(default_factory=list)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def counts(self) -> dict[str, int]:
        return {f.name: f.rows for f in self.files}

    def write(self, folder: Path) -> None:
        (folder / MANIFEST).write_text(json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n",
                                       encoding="utf-8")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_export(folder: str | Path) -> bool:
    """Whether folder holds a shopgraph export (a manifest.json saying so)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of an export folder, every file checked (exists inside the folder, same size of
    checksum); BadFileError naming the first problem."""
    folder = Path(folder)
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise BadFileError(f"{path}: not a shopgraph export manifest")
        if int(data.get("format_version", 0)) > FORMAT_VERSION:
            raise BadFileError(f"{path}: export format version {data['format_version']} is newer than this "
                               f"shopgraph reads ({FORMAT_VERSION}); upgrade shopgraph")
        files = [FileEntry(**entry) for entry in data.pop("files")]
        manifest = Manifest(**{**data, "files": files})
    except FileNotFoundError:
        raise BadFileError(f"{folder}: no {MANIFEST} (not a shopgraph export)") from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise BadFileError(f"{path}: unreadable manifest ({type(e).__name__}: {e})") from None
    if manifest.file_format not in ("parquet", "csv"):
        raise BadFileError(f"{path}: unknown file format {manifest.file_format!r}")
    root = folder.resolve()
    for entry in manifest.files:
        relative = PurePosixPath(entry.path)
        target = (folder / relative).resolve()
        if relative.is_absolute() or ".." in relative.parts or not target.is_relative_to(root):
            raise BadFileError(f"{path}: file {entry.path!r} is outside the export folder")
        if not target.is_file():
            raise BadFileError(f"{folder / relative}: listed in the manifest but missing")
        if sha256(target) != entry.sha256:
            raise BadFileError(f"{folder / relative}: checksum differs from the manifest (changed or damaged)")
    return manifest
