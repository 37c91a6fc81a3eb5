"""Search building blocks: text analysis for the lexical index, the BM25 index itself, script
detection and rank fusion. Nothing here imports a model or opens a database at import time."""
