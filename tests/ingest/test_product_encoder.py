"""ProductEncoder: records -> all channels, per-image errors, the cache, and query vectors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shopgraph.config import Config, IngestConfig
from shopgraph.errors import BadArgumentError
from shopgraph.graph.schema import VectorDims
from shopgraph.ingest.encoders.product import EncodedProducts, ProductEncoder
from shopgraph.records import ProductRecord

DIMS = VectorDims(text=384, image=1280, lexical=512)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("product_encoder")


@pytest.fixture(scope="module")
def records(workdir) -> list[ProductRecord]:
    red, blue = workdir / "red.jpg", workdir / "blue.png"
    Image.new("RGB", (160, 120), (210, 30, 30)).save(red, quality=95)
    Image.new("RGBA", (90, 90), (30, 30, 210, 255)).save(blue)
    corrupt = workdir / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    copy_of_red = workdir / "red-copy.jpg"
    copy_of_red.write_bytes(red.read_bytes())
    missing = workdir / "missing.jpg"
    return [
        ProductRecord("shopA", "1", "Samsung Galaxy S21 SM-G991B 128GB", "5G smartphone, phantom grey",
                      image_path=str(red)),
        ProductRecord("shopA", "2", "Apple iPhone 13", "128 GB, midnight", image_path=str(missing)),
        ProductRecord("shopB", "3", "Stainless steel frying pan 28 cm", image_path=str(corrupt)),
        ProductRecord("shopB", "4", "SAMSUNG SM-G991B Galaxy S21 (128 GB)", image_path=str(copy_of_red)),
        ProductRecord("shopB", "5", "Organic green tea, 100 bags", image_path=None),
        ProductRecord("shopB", "6", "Blue ceramic mug", "350 ml", image_path=str(blue)),
    ]


@pytest.fixture(scope="module")
def first(workdir, records) -> tuple[ProductEncoder, EncodedProducts]:
    """One encoder for the module (the text model loads once), with a cache file."""
    encoder = ProductEncoder(Config(), cache_path=workdir / "vectors.sqlite")
    result = encoder.encode(records)
    yield encoder, result
    encoder.close()


def row_norms(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x, axis=1)


def test_shapes_and_dtypes(first, records):
    encoder, out = first
    n = len(records)
    assert len(out) == n
    assert out.text.shape == (n, 384) and out.image.shape == (n, 1280)
    assert out.lexical.shape == (n, 512) and out.fused.shape == (n, DIMS.fused)
    for a in (out.text, out.image, out.lexical, out.fused):
        assert a.dtype == np.float32
    assert out.image_ok.dtype == bool
    assert encoder.dims == DIMS


def test_image_flags_and_messages(first, records):
    _, out = first
    assert out.image_ok.tolist() == [True, False, False, True, False, True]
    assert out.image_errors[1] == f"image missing: {records[1].image_path}"
    assert out.image_errors[2].startswith(f"image not decodable: {records[2].image_path}: ")
    assert out.image_errors[4] == "no image"
    assert [out.image_errors[i] for i in (0, 3, 5)] == [None, None, None]
    # Same bytes under two paths: one vector.
    np.testing.assert_array_equal(out.image[0], out.image[3])


def test_norms_and_missing_image_blocks(first):
    _, out = first
    np.testing.assert_allclose(row_norms(out.text), 1.0, atol=1e-5)
    np.testing.assert_allclose(row_norms(out.lexical), 1.0, atol=1e-5)
    # Fused rows have norm 1 with every channel and sqrt(w_t^2 + w_l^2) / W without an image.
    full = np.sqrt(1.0 + 0.6 ** 2 + 0.5 ** 2)
    np.testing.assert_allclose(row_norms(out.fused)[out.image_ok], 1.0, atol=1e-5)
    np.testing.assert_allclose(row_norms(out.fused)[~out.image_ok], np.sqrt(1.0 + 0.5 ** 2) / full, atol=1e-5)
    image_norms = row_norms(out.image)
    np.testing.assert_allclose(image_norms[out.image_ok], 1.0, atol=1e-5)
    assert np.all(image_norms[~out.image_ok] == 0)
    image_block = out.fused[:, DIMS.text:DIMS.text + DIMS.image]
    assert not image_block[~out.image_ok].any() and image_block[out.image_ok].any()


def test_channels_come_from_the_right_fields(first, records):
    encoder, out = first
    np.testing.assert_allclose(out.text[0], encoder.text_encoder.encode([records[0].text])[0], atol=1e-5)
    np.testing.assert_array_equal(out.lexical[0], encoder.lexical_encoder.encode([records[0].title])[0])
    # The two Samsung listings are the closest pair in the fused space.
    sims = out.fused @ out.fused.T
    np.fill_diagonal(sims, -1)
    assert int(np.argmax(sims[0])) == 3


def test_first_call_counts(first, records):
    _, out = first
    assert out.cache_hits == 0
    assert out.encoded == len(records) + 2  # six texts, two distinct decodable images


def test_second_call_is_served_by_the_cache(first, workdir, records):
    _, out = first
    with ProductEncoder(Config(), cache_path=workdir / "vectors.sqlite") as again:
        second = again.encode(records)
        assert again.text_encoder._model is None  # no model was needed
        assert again.image_encoder._model is None
    assert second.encoded == 0
    assert second.cache_hits == len(records) + int(out.image_ok.sum())
    for name in ("text", "image", "image_ok", "lexical", "fused"):
        assert np.array_equal(getattr(second, name), getattr(out, name)), name
    assert second.image_errors == out.image_errors


def test_disabled_cache_and_empty_input(first, workdir):
    encoder, _ = first
    off = ProductEncoder(Config(ingest=IngestConfig(use_cache=False)), cache_path=workdir / "unused.sqlite")
    assert off.cache is None and not (workdir / "unused.sqlite").exists()
    empty = encoder.encode([])
    assert empty.fused.shape == (0, DIMS.fused) and empty.image_ok.shape == (0,)


def test_encode_query_text_only(first):
    encoder, out = first
    q = encoder.encode_query(text="Galaxy S21 SM-G991B")
    assert q["image"] is None and q["text"].shape == (384,) and q["lexical"].shape == (512,)
    assert q["fused"].shape == (DIMS.fused,) and np.linalg.norm(q["fused"]) == pytest.approx(1.0, abs=1e-5)
    assert not q["fused"][DIMS.text:DIMS.text + DIMS.image].any()
    assert int(np.argmax(out.fused @ q["fused"])) in (0, 3)


def test_encode_query_image_forms_agree(first, records):
    encoder, out = first
    path = records[5].image_path
    data = Path(path).read_bytes()
    by_path = encoder.encode_query(image=path)
    by_bytes = encoder.encode_query(image=data)
    with Image.open(io.BytesIO(data)) as img:
        by_pil = encoder.encode_query(image=img)
    assert by_path["text"] is None and by_path["lexical"] is None
    np.testing.assert_allclose(by_path["image"], out.image[5], atol=1e-5)
    np.testing.assert_allclose(by_bytes["fused"], by_path["fused"], atol=1e-5)
    np.testing.assert_allclose(by_pil["image"], by_path["image"], atol=1e-4)
    both = encoder.encode_query(text="blue mug", image=data)
    assert both["text"] is not None and both["image"] is not None
    assert int(np.argmax(out.fused @ both["fused"])) == 5


def test_encode_query_errors(first, workdir):
    encoder, _ = first
    with pytest.raises(BadArgumentError, match="needs text"):
        encoder.encode_query()
    with pytest.raises(BadArgumentError, match="needs text"):
        encoder.encode_query(text="   ")
    with pytest.raises(BadArgumentError, match="not found"):
        encoder.encode_query(image=str(workdir / "nope.jpg"))
    with pytest.raises(BadArgumentError, match="not decodable"):
        encoder.encode_query(image=b"junk bytes")
    with pytest.raises(BadArgumentError, match="must be bytes"):
        encoder.encode_query(image=42)
    with pytest.raises(BadArgumentError):
        encoder.encode_query(text=123)
