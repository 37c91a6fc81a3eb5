"""The bad-input corpus: catalogs and interaction files broken in every way we could think of (issue 13).

cases.py lists them, each with what must happen; tests/ingest/test_bad_inputs.py runs them all.
Binary inputs (images, Parquet, UTF-16, garbage) are made by the cases themselves, not committed.
"""
