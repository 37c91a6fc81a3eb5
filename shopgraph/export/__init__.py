"""The graph as files, and back: `shopgraph export DIR` / `ShopGraph.export` write every label and
relationship type of the schema to Parquet (default) or CSV with a manifest (write.py); `shopgraph
ingest --dataset DIR` / `ShopGraph.ingest_export` read such a folder back into any store (read.py).
The manifest (manifest.py) says what each file holds, its rows and SHA-256."""
