"""Feature encoders: text (MiniLM), image (EfficientNet-Lite0), lexical (hashed n-grams), fusion,
the vector cache, and ProductEncoder, which ties them together for ingest and queries.

Importing this package is cheap: names resolve on first use, and torch loads only with a model.
"""

from importlib import import_module

_EXPORTS = {
    "TextEncoder": "text",
    "ImageEncoder": "image",
    "ImageBatch": "image",
    "LexicalEncoder": "lexical",
    "fuse": "fusion",
    "fuse_query": "fusion",
    "channel_scores": "fusion",
    "VectorCache": "cache",
    "ProductEncoder": "product",
    "EncodedProducts": "product",
    "load_torchvision": "optional",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


def __dir__():
    return sorted(list(globals()) + __all__)
