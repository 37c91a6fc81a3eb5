"""shopgraph: catalogs from several shops in one multimodal product knowledge graph.

Importing this package is cheap: no model is loaded and no database is opened until asked.

    >>> from shopgraph import ShopGraph
    >>> sg = ShopGraph.open("shopgraph.db")          # doctest: +SKIP
    >>> sg.search(text="iphone 13 128gb", k=5)       # doctest: +SKIP
"""

from shopgraph.errors import ShopGraphError

__version__ = "0.1.0"
__all__ = ["Filters", "ShopGraph", "ShopGraphError", "__version__"]


def __getattr__(name: str):
    # Lazy: the query API pulls in numpy and the store; keep `import shopgraph` instant.
    if name == "ShopGraph":
        from shopgraph.queries.api import ShopGraph

        return ShopGraph
    if name == "Filters":
        from shopgraph.graph.store import Filters

        return Filters
    raise AttributeError(f"module 'shopgraph' has no attribute {name!r}")
