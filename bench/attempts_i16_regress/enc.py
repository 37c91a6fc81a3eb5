"""Numpy BERT pass (<= numpy_max_texts texts a call) against torch (one big call) on real titles."""
import csv, numpy as np
from shopgraph.config import TextEncoderConfig
from shopgraph.ingest.encoders.text import TextEncoder
rows = list(csv.DictReader(open("/work/shared/data/em/amazon_google/tableA.csv")))[:96]
texts = [r["title"] for r in rows]
enc = TextEncoder(TextEncoderConfig())
small = np.vstack([enc.encode(texts[i:i + 8]) for i in range(0, len(texts), 8)])
assert enc._model is None
big = enc.encode(texts)   # > 8 texts: torch
d = np.abs(small - big).max(axis=1)
cos = (small * big).sum(1)
print("numpy vs torch: max |diff| %.2e, median row max %.2e, min cosine %.8f" % (d.max(), np.median(d), cos.min()))
again = np.vstack([enc.encode(texts[i:i + 8]) for i in range(0, len(texts), 8)])  # torch now loaded: serves all
print("torch in batches of 8 vs one call: max |diff| %.2e" % np.abs(again - big).max())
