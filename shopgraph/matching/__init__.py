"""Cross-platform product matching: listings, blocking, pair features, the pair scorer and the
pipeline that writes SAME_AS edges with their evidence (see docs/architecture.md)."""
