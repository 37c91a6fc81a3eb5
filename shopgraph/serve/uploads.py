"""Checks on what clients upload, by content, never by file name or declared content type.

A query image must be one Pillow can decode, in a common photo format, within the byte and pixel
limits; a catalog upload's format is read from its first bytes. Product images served to the page are
re-encoded thumbnails, so only pixels ever leave the server, whatever file a product's image_ref names.
"""

from __future__ import annotations

import io
import warnings
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from threading import Lock

from shopgraph.errors import BadArgumentError, BadFileError
from shopgraph.files import open_regular

IMAGE_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"}


class UploadTooLargeError(BadArgumentError):
    """An upload is larger than the server accepts (HTTP 413)."""


def check_image(data: bytes, max_bytes: int, max_pixels: int):
    """The decoded PIL image of an uploaded query photo; BadArgumentError with the reason otherwise."""
    from PIL import Image

    if not data:
        raise BadArgumentError("the image upload is empty")
    if len(data) > max_bytes:
        raise UploadTooLargeError(f"the image is {len(data):,} bytes; the limit is {max_bytes:,}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            kind = probe.format
            width, height = probe.size
            if kind not in IMAGE_FORMATS:
                raise BadArgumentError(f"unsupported image format {kind}; send JPEG, PNG, WebP, GIF, BMP or TIFF")
            if width * height > max_pixels:
                raise UploadTooLargeError(f"the image has {width}x{height} pixels; the limit is {max_pixels:,}")
            probe.verify()  # structure check; verify() leaves the image unusable, so decode a fresh copy
            image = Image.open(io.BytesIO(data))
            image.load()
    except BadArgumentError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadTooLargeError(f"the image has too many pixels (limit {max_pixels:,})") from None
    except Exception as e:  # Pillow raises many types for broken data; all mean "not an image"
        raise BadArgumentError(f"the upload is not a readable image ({type(e).__name__})") from None
    return image


def catalog_format(head: bytes) -> str:
    """csv, jsonl or parquet from a catalog file's first bytes (BadFileError when none fits). A stray
    NUL or bad byte after the first line is a row's problem, found when the row is read (as for files
    ingested from disk: text_lines.binary_problem)."""
    from shopgraph.ingest.text_lines import binary_problem

    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text:
        raise BadFileError("the catalog upload is empty")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BadFileError("the catalog upload is UTF-16 encoded; send UTF-8")
    problem = binary_problem(head)
    if problem is not None:
        raise BadFileError(f"the catalog upload {problem} and not Parquet; send CSV, JSONL or Parquet")
    return "jsonl" if text.startswith(b"{") else "csv"


def upload_mapping(mapping, image_root: Path | None):
    """The ColumnMapping of an uploaded catalog as the server runs it: image values are resolved in
    image_root and must stay inside it. BadArgumentError when the mapping chooses its own image folder,
    or names an image column while the server has no image root."""
    if mapping.image_dir is not None:
        raise BadArgumentError("an uploaded mapping may not set image_dir: images are read from the server's "
                               "--image-root only")
    if mapping.image is None:
        return mapping
    if image_root is None:
        raise BadArgumentError("this server was started without --image-root, so an uploaded catalog cannot "
                               "name images (leave out the image column)")
    return replace(mapping, image_dir=str(Path(image_root).expanduser().resolve()), images_inside_dir=True)


# The sizes thumbnails are made in: a requested size is rounded up to one of them, so a client asking
# for every size from 32 to 1024 makes at most this many decodes (and cache entries) per image.
THUMBNAIL_SIZES = (64, 128, 256, 320, 512, 1024)


def thumbnail_size(requested: int) -> int:
    """The smallest of THUMBNAIL_SIZES at least `requested` pixels (the largest when none is)."""
    return next((s for s in THUMBNAIL_SIZES if s >= requested), THUMBNAIL_SIZES[-1])


class Thumbnails:
    """Product images as JPEG thumbnails, decoded once and kept (least recently used dropped)."""

    def __init__(self, size: int = 512):
        self._items: OrderedDict = OrderedDict()
        self._size = size
        self._lock = Lock()

    def get(self, path: str, mtime: float, longest: int) -> bytes:
        """JPEG bytes of the image at path scaled to fit longest x longest; OSError/ValueError when the
        file is not an image."""
        key = (path, mtime, longest)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        data = _thumbnail(path, longest)
        with self._lock:
            self._items[key] = data
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return data


def _thumbnail(path: str, longest: int) -> bytes:
    from PIL import Image

    from shopgraph.ingest.encoders.image import to_rgb

    # A regular file only: a FIFO or device named as an image would hang the request (or never end).
    with open_regular(path) as f, Image.open(f) as image:
        image.draft("RGB", (longest, longest))  # JPEG: decode at a reduced scale, much faster
        image = to_rgb(image)
        image.thumbnail((longest, longest))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=85)
    return out.getvalue()
