"""Lexical vectors: hashed character n-grams plus heavier model-number tokens.

No tokeniser and no vocabulary, so any script works (Chinese titles share character n-grams), and
the hashing is deterministic (a fixed polynomial + splitmix64 finaliser, not Python's salted hash()),
so the same text gives the same vector in every process.

Features of one text, after NFKC normalisation and casefolding:
- character n-grams (ngram_min..ngram_max) of the text with punctuation turned into spaces and one space
  of padding at each end, so word starts and ends are n-grams of their own;
- model-number tokens: ASCII runs mixing letters and digits ("sm-g991b", "wh1000xm4", "s21"), in their
  compact form (separators removed) and, at half weight, as written; short neighbours are also joined
  ("sm g991b" -> "smg991b", "iphone 13" -> "iphone13", "128 gb" -> "128gb"). Quantities ("128gb", "1.5l") count lightly.
Each feature's value is sign * weight * (1 + log tf); the vector is L2-normalised (zero for empty text).
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata

import numpy as np

from shopgraph.config import LexicalConfig
from shopgraph.errors import BadArgumentError, ConfigError

ALGORITHM_VERSION = 1
MODEL_TOKEN_WEIGHT = 6.0     # a shared model number should outweigh several shared words
QUANTITY_WEIGHT = 1.5        # "128gb" is shared by many unrelated products
JOIN_MAX_PART = 4            # join neighbours when one is this short and all letters or all digits
CHUNK = 4096                 # texts per vectorised pass (bounds memory for long descriptions)

_NON_WORD = re.compile(r"[\W_]+")
_ASCII_TOKEN = re.compile(r"[a-z0-9]+(?:[-./][a-z0-9]+)*")
_SEPARATORS = re.compile(r"[-./]")
# A number (or range "18-55", "2x") with a unit: shared by many unrelated products, so it counts lightly.
_UNITS = ("gb|tb|mb|kb|mp|mah|ah|wh|kw|w|v|hz|khz|mhz|ghz|db|fps|mbps|gbps|mm|cm|m|km|in|inch|ft|"
          "ml|cl|l|ltr|g|gm|kg|mg|oz|lb|lbs|pcs|pc|pack|x|k|p|th|st|nd|rd|yrs|yr")
_QUANTITY = re.compile(rf"\d+(?:[.,x\-/]\d+)*(?:{_UNITS})")
_HAS_LETTER = re.compile(r"[a-z]")
_HAS_DIGIT = re.compile(r"[0-9]")

_P = np.uint64(0x100000001B3)   # polynomial base for the n-gram hash (FNV prime, odd)
_K = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def normalize(text: str) -> str:
    """NFKC + casefold: full-width letters, ligatures and case variants become one form."""
    return unicodedata.normalize("NFKC", text).casefold()


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (uint64 in, uint64 out): spreads similar n-gram hashes over all bits."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def _token_hash(kind: str, token: str) -> int:
    """33-bit feature hash of a token feature, in the same form as the n-gram features."""
    digest = hashlib.blake2b(f"{kind}\x1f{token}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 31


def _mixed(token: str) -> bool:
    return bool(_HAS_LETTER.search(token)) and bool(_HAS_DIGIT.search(token))


def token_features(norm: str) -> dict[int, tuple[float, int]]:
    """Model-number features of a normalised text: {33-bit hash: (weight, count)}."""
    out: dict[int, tuple[float, int]] = {}

    def add(kind: str, token: str, weight: float) -> None:
        h = _token_hash(kind, token)
        w, c = out.get(h, (weight, 0))
        out[h] = (max(w, weight), c + 1)

    tokens = _ASCII_TOKEN.findall(norm)
    compact = [_SEPARATORS.sub("", t) for t in tokens]
    for raw, comp in zip(tokens, compact):
        if not _mixed(comp):
            continue
        if _QUANTITY.fullmatch(raw):
            add("q", comp, QUANTITY_WEIGHT)
            continue
        add("m", comp, MODEL_TOKEN_WEIGHT)
        if raw != comp:
            add("r", raw, MODEL_TOKEN_WEIGHT / 2)
    for (a, raw_a), (b, raw_b) in zip(zip(compact, tokens), zip(compact[1:], tokens[1:])):
        if _joinable(a, raw_a, b, raw_b):
            joined = a + b
            quantity = _QUANTITY.fullmatch(joined) is not None
            add("q" if quantity else "m", joined, QUANTITY_WEIGHT if quantity else MODEL_TOKEN_WEIGHT)
    return out


def _joinable(a: str, raw_a: str, b: str, raw_b: str) -> bool:
    """Whether two neighbouring tokens may be one model number written with a space: a short pure
    part next to another part ("sm g991b", "iphone 13", "p40 pro", "128 gb"), never two numbers
    ("13 128gb") and never a quantity ("pro 5g")."""
    # Exactly one side must hold a digit: two numbers never join, and without a digit the joined
    # token is not mixed. Checked first because most neighbours in a text are two plain words.
    if (_HAS_DIGIT.search(a) is None) == (_HAS_DIGIT.search(b) is None):
        return False
    if _QUANTITY.fullmatch(raw_a) or _QUANTITY.fullmatch(raw_b):
        return False
    short_pure = any(len(t) <= JOIN_MAX_PART and (t.isdigit() or not _HAS_DIGIT.search(t)) for t in (a, b))
    return short_pure and _mixed(a + b)


class LexicalEncoder:
    """Texts -> (n, dim) float32 unit rows of hashed character n-grams and model-number tokens."""

    def __init__(self, config: LexicalConfig = LexicalConfig()):
        if config.dim < 2:
            raise ConfigError(f"lexical.dim must be at least 2, got {config.dim}")
        if not 1 <= config.ngram_min <= config.ngram_max <= 16:
            raise ConfigError(f"lexical n-gram range must satisfy 1 <= ngram_min <= ngram_max <= 16, "
                              f"got {config.ngram_min}..{config.ngram_max}")
        self.config = config

    @property
    def dim(self) -> int:
        return self.config.dim

    @property
    def model_id(self) -> str:
        c = self.config
        return f"lexical-v{ALGORITHM_VERSION}-char{c.ngram_min}-{c.ngram_max}-d{c.dim}"

    def encode(self, texts: list[str]) -> np.ndarray:
        """Encode texts; returns (len(texts), dim) float32, unit rows, zero rows for empty texts."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise BadArgumentError("LexicalEncoder.encode expects a list of strings")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), CHUNK):
            out[start:start + CHUNK] = self._encode_chunk(texts[start:start + CHUNK])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)

    def _encode_chunk(self, texts: list[str]) -> np.ndarray:
        n, dim = len(texts), self.dim
        norms = [normalize(t) for t in texts]
        padded = []
        for norm in norms:
            clean = _NON_WORD.sub(" ", norm).strip()
            padded.append(f" {clean} " if clean else "")
        rows, feats = self._ngram_features(padded)
        # Distinct (row, feature) pairs and their term frequencies, all rows at once.
        keys, counts = np.unique((rows.astype(np.uint64) << np.uint64(33)) | feats, return_counts=True)
        key_rows = (keys >> np.uint64(33)).astype(np.int64)
        key_feats = keys & np.uint64((1 << 33) - 1)
        values = 1.0 + np.log(counts)
        values *= np.where((key_feats & np.uint64(1)) == 1, -1.0, 1.0)
        buckets = ((key_feats >> np.uint64(1)) % np.uint64(dim)).astype(np.int64)

        extra_idx, extra_val = [], []
        for r, norm in enumerate(norms):
            for h, (weight, count) in token_features(norm).items():
                extra_idx.append(r * dim + ((h >> 1) % dim))
                extra_val.append((-1.0 if h & 1 else 1.0) * weight * (1.0 + math.log(count)))
        index = np.concatenate([key_rows * dim + buckets, np.asarray(extra_idx, dtype=np.int64)])
        weights = np.concatenate([values, np.asarray(extra_val, dtype=np.float64)])
        return np.bincount(index, weights=weights, minlength=n * dim).reshape(n, dim)

    def _ngram_features(self, padded: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Rows (int64) and 33-bit hashes (uint64) of every character n-gram of every text.

        The texts are joined with NUL (which normalisation never leaves in a text) and hashed in one
        vectorised pass; n-grams that would span a NUL are dropped.
        """
        joined = "\x00".join(padded)
        cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        length = len(cps)
        sep_cum = np.concatenate([[0], np.cumsum(cps == 0)])
        row_of = sep_cum[:-1]
        rows, feats = [], []
        h = np.zeros(length + 1, dtype=np.uint64)
        for n in range(1, self.config.ngram_max + 1):
            if length - n + 1 <= 0:
                break
            h = h[:length - n + 1] * _P + cps[n - 1:]  # h[i] = hash of cps[i:i+n], wrapping mod 2**64
            if n < self.config.ngram_min:
                continue
            valid = (sep_cum[n:] - sep_cum[:length - n + 1]) == 0
            salt = np.uint64((n * int(_K)) % (1 << 64))  # n-grams of different lengths never share a hash
            feats.append(_mix(h[valid] + salt) >> np.uint64(31))
            rows.append(row_of[:length - n + 1][valid])
        if not feats:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
        return np.concatenate(rows), np.concatenate(feats)
