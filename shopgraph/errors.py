"""One root exception; every error a user can cause is a subclass with a one-line message."""


class ShopGraphError(Exception):
    """Root of every error shopgraph raises on purpose. The CLI prints its message on one line."""


class ConfigError(ShopGraphError):
    """A configuration value, field name or command-line override is invalid."""


class BadFileError(ShopGraphError):
    """An input file is missing, unreadable, in the wrong format, or does not fit its column mapping."""


class BadArgumentError(ShopGraphError):
    """An argument to an API call or CLI command is invalid (k <= 0, unknown product id, ...)."""


class NotFoundError(BadArgumentError):
    """An argument names a product, user or other item the graph does not have (HTTP 404)."""


class SchemaError(ShopGraphError):
    """A label, relationship type or property name is not in the graph schema."""


class StoreError(ShopGraphError):
    """The graph store failed; the database's own message is kept as the cause."""


class StoreLockedError(StoreError):
    """Another process holds the database open for writing."""


class StoreBusyError(StoreError):
    """The database could not be read (or written) consistently in the time allowed because another
    process kept it busy; nothing was read half-way. Retrying later is the remedy (HTTP 503)."""


class StoreConnectionError(StoreError):
    """A database server cannot be reached, or refused the credentials (the password is never shown)."""


class ReadOnlyError(StoreError):
    """A query that writes was sent where writes are not allowed."""


class QueryTimeoutError(StoreError):
    """A query ran past the time limit it was given and was stopped."""


class MissingDependencyError(ShopGraphError):
    """An optional package is missing or broken; the message names the extra to install."""


class NothingToTrainError(ShopGraphError):
    """The graph holds nothing a model could learn from (no images for the alignment, no edges for the
    GNN's objectives); nothing was trained or written."""


class ModelError(ShopGraphError):
    """A model directory or weights file cannot be loaded."""
