"""ImageEncoder: Pillow preprocessing, per-item errors, bytes/PIL/path agreement, a real-photo check."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shopgraph.config import ImageEncoderConfig
from shopgraph.errors import BadArgumentError, ModelError
from shopgraph.ingest.encoders.image import ImageEncoder, fit_square, preprocess, to_rgb

DATA = Path(os.environ.get("SHOPGRAPH_DATA") or Path(__file__).resolve().parents[2] / ".." / "shared" / "data")
GROCERY = DATA / "multimodal" / "grocery_store" / "dataset" / "train" / "Fruit"

WHITE, RED, BLUE = (255, 255, 255), (220, 20, 20), (20, 20, 220)


@pytest.fixture(scope="module")
def encoder() -> ImageEncoder:
    return ImageEncoder(ImageEncoderConfig(batch_size=3, decode_workers=2))


@pytest.fixture()
def files(tmp_path) -> dict[str, str]:
    """A few real and broken image files."""
    out = {}
    for name, colour, size in (("red", RED, (120, 80)), ("blue", BLUE, (64, 64)), ("green", (20, 200, 20), (50, 90))):
        path = tmp_path / f"{name}.jpg"
        Image.new("RGB", size, colour).save(path, quality=95)
        out[name] = str(path)
    Image.new("RGBA", (40, 40), (255, 0, 0, 128)).save(tmp_path / "alpha.png")
    out["alpha"] = str(tmp_path / "alpha.png")
    (tmp_path / "junk.jpg").write_bytes(b"definitely not an image")
    out["junk"] = str(tmp_path / "junk.jpg")
    (tmp_path / "truncated.jpg").write_bytes(Path(out["red"]).read_bytes()[:200])
    out["truncated"] = str(tmp_path / "truncated.jpg")
    out["missing"] = str(tmp_path / "missing.jpg")
    return out


# -- preprocessing (no model) ------------------------------------------------------------------
def test_fit_square_pads_with_white_and_keeps_aspect():
    img = Image.new("RGB", (200, 100), RED)
    a = fit_square(img, 32)
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8
    assert tuple(a[0, 16]) == WHITE and tuple(a[31, 16]) == WHITE    # padding above and below
    assert tuple(a[16, 0]) == RED and tuple(a[16, 31]) == RED        # full width kept


def test_to_rgb_composites_alpha_on_white():
    transparent = Image.new("RGBA", (8, 8), (0, 0, 255, 0))
    assert to_rgb(transparent).getpixel((3, 3)) == WHITE
    half = to_rgb(Image.new("LA", (8, 8), (0, 128)))
    assert half.mode == "RGB" and 120 <= half.getpixel((0, 0))[0] <= 135


def test_to_rgb_palette_cmyk_and_16_bit():
    opaque = Image.new("P", (8, 8), 0)
    opaque.putpalette(list(RED) * 256)
    assert to_rgb(opaque).getpixel((0, 0)) == RED
    transparent = opaque.copy()
    transparent.info["transparency"] = 0  # palette index 0 is transparent
    assert to_rgb(transparent).getpixel((0, 0)) == WHITE
    cmyk = to_rgb(Image.new("RGB", (8, 8), RED).convert("CMYK"))
    assert cmyk.mode == "RGB" and np.abs(np.subtract(cmyk.getpixel((0, 0)), RED)).max() <= 2
    grey16 = to_rgb(Image.new("I;16", (8, 8), 65535))
    assert grey16.getpixel((0, 0)) == WHITE


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (60, 30), RED)
    img.paste(BLUE, (30, 0, 60, 30))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the left edge becomes the top
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    a = preprocess(str(path), 32).astype(int)
    assert np.abs(a[4, 16] - RED).max() < 40 and np.abs(a[28, 16] - BLUE).max() < 40
    assert tuple(a[16, 0]) == WHITE  # now portrait: padded left and right


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_decompression_bombs_are_not_decodable(encoder, tmp_path):
    huge = tmp_path / "huge.png"          # 400 Mpx: Pillow refuses to open it
    huge.write_bytes(_png_header(20000, 20000))
    large = tmp_path / "large.png"        # 100 Mpx: opens, but above our limit
    large.write_bytes(_png_header(10000, 10000))
    batch = encoder.encode_paths([str(huge), str(large)])
    assert not batch.ok.any()
    assert batch.errors[0].startswith(f"image not decodable: {huge}: DecompressionBombError")
    assert batch.errors[1] == f"image not decodable: {large}: ValueError: too large (10000x10000 pixels)"


# -- encoding ----------------------------------------------------------------------------------
def test_encode_paths_flags_errors_and_never_raises(encoder, files):
    paths = [files["red"], None, files["missing"], files["junk"], files["truncated"], files["blue"],
             files["alpha"], files["green"]]
    batch = encoder.encode_paths(paths)
    assert batch.vectors.shape == (8, 1280) and batch.vectors.dtype == np.float32
    assert batch.ok.tolist() == [True, False, False, False, False, True, True, True]
    assert batch.errors[0] is None and batch.errors[5] is None
    assert batch.errors[1] == "no image"
    assert batch.errors[2] == f"image missing: {files['missing']}"
    assert batch.errors[3] == f"image not decodable: {files['junk']}: not a recognised image format"
    assert batch.errors[4].startswith(f"image not decodable: {files['truncated']}: ")
    norms = np.linalg.norm(batch.vectors, axis=1)
    np.testing.assert_allclose(norms[batch.ok], 1.0, atol=1e-5)
    assert np.all(norms[~batch.ok] == 0)
    # Different colours give different vectors; the batch split (3 per batch) keeps rows in place.
    alone = encoder.encode_paths([files["green"]]).vectors[0]
    np.testing.assert_allclose(batch.vectors[7], alone, atol=1e-5)
    assert float(batch.vectors[0] @ batch.vectors[5]) < 0.99


def test_path_bytes_and_pil_agree(encoder, files):
    from_path = encoder.encode_paths([files["red"]]).vectors[0]
    data = Path(files["red"]).read_bytes()
    from_bytes = encoder.encode_bytes(data)
    with Image.open(io.BytesIO(data)) as img:
        from_pil = encoder.encode_images([img])[0]
    from_blob = encoder.encode_blobs([data], ["red.jpg"]).vectors[0]
    assert from_bytes.shape == (1280,)
    np.testing.assert_allclose(from_bytes, from_path, atol=1e-5)
    np.testing.assert_allclose(from_pil, from_path, atol=1e-5)
    np.testing.assert_array_equal(from_blob, from_bytes)


def test_query_errors(encoder):
    with pytest.raises(BadArgumentError, match="not decodable"):
        encoder.encode_bytes(b"\x00\x01garbage")
    with pytest.raises(BadArgumentError):
        encoder.encode_bytes(b"")
    with pytest.raises(BadArgumentError):
        encoder.encode_images(["not an image"])
    assert encoder.encode_images([]).shape == (0, 1280)
    assert encoder.encode_paths([]).vectors.shape == (0, 1280)


def test_model_id_and_missing_weights(tmp_path):
    enc = ImageEncoder()
    assert enc.dim == 1280
    assert enc.model_id.startswith("efficientnet-lite0-224px-padwhite@")
    assert ImageEncoder(ImageEncoderConfig(image_size=256)).model_id != enc.model_id
    bad = ImageEncoder(ImageEncoderConfig(weights_path=str(tmp_path / "nope.pth")))
    with pytest.raises(ModelError, match="nope.pth"):
        bad.encode_bytes(_solid_jpeg())
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot load image model weights"):
        ImageEncoder(ImageEncoderConfig(weights_path=str(broken))).encode_bytes(_solid_jpeg())


def _solid_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), RED).save(buf, format="JPEG")
    return buf.getvalue()


# -- real photos ---------------------------------------------------------------------------------
@pytest.mark.data
def test_real_photos_are_classified_from_the_returned_features(encoder):
    """The vector we return is the (normalised) input of the ImageNet classifier, and with our
    preprocessing that classifier recognises real grocery photos."""
    import torch

    photos = {954: GROCERY / "Banana" / "Banana_001.jpg",                       # ImageNet 'banana'
              948: GROCERY / "Apple" / "Granny-Smith" / "Granny-Smith_001.jpg"}  # 'Granny Smith'
    if not all(p.exists() for p in photos.values()):
        pytest.skip(f"grocery photos not found under {GROCERY}")
    paths = [str(p) for p in photos.values()]
    vectors = encoder.encode_paths(paths).vectors
    model = encoder._load()
    captured = {}
    hook = model._fc.register_forward_hook(lambda mod, inp, out: captured.update(x=inp[0]))
    try:
        pixels = np.stack([preprocess(p, 224) for p in paths])
        x = (torch.from_numpy(pixels).permute(0, 3, 1, 2).float() - 127.0) / 128.0
        with torch.inference_mode():
            logits = model(x)
    finally:
        hook.remove()
    assert logits.argmax(1).tolist() == list(photos)
    pooled = captured["x"].numpy()
    np.testing.assert_allclose(vectors, pooled / np.linalg.norm(pooled, axis=1, keepdims=True), atol=1e-5)
    # Two banana photos are closer to each other than a banana is to an apple.
    other_banana = GROCERY / "Banana" / "Banana_002.jpg"
    b2 = encoder.encode_paths([str(other_banana)]).vectors[0]
    assert float(vectors[0] @ b2) > float(vectors[0] @ vectors[1])
