"""Developer tooling that is not part of the shopgraph package (run from the repository root)."""
