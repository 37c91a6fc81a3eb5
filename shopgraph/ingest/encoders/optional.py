"""Optional and fragile imports: torchvision, and keeping a broken torchvision away from transformers.

On these machines the registry's torchvision is a CUDA build: next to the CPU torch, ``import
torchvision`` fails (``operator torchvision::nms does not exist``). transformers (5.x) decides whether
torchvision is usable with ``importlib.util.find_spec("torchvision")`` only, so an installed-but-broken
torchvision makes transformers, and sentence-transformers with it, fail to import their model classes.
Nothing in shopgraph's default pipeline needs torchvision; `hide_broken_torchvision` makes it look
absent to transformers so the text encoder keeps working.
"""

from __future__ import annotations

import importlib.util
import logging
import sys

from shopgraph.errors import MissingDependencyError

logger = logging.getLogger(__name__)

TORCHVISION_HINT = "torchvision is optional; install with pip install 'shopgraph[torchvision]' -c constraints.txt"

# transformers caches its availability checks; these are the ones that look at torchvision.
_TRANSFORMERS_TORCHVISION_CHECKS = (
    "is_torchvision_available",
    "is_torchvision_v2_available",
    "is_torchvision_greater_or_equal",
)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def load_torchvision():
    """Import and return torchvision, or raise MissingDependencyError naming the extra to install.

    Imported only here, lazily: nothing in the default pipeline needs it.
    """
    if "torchvision" in sys.modules and sys.modules["torchvision"] is None:
        # hide_broken_torchvision() blocked it earlier in this process because its import failed.
        raise MissingDependencyError(
            f"{TORCHVISION_HINT} (the installed torchvision failed to import in this process; "
            "it must match torch 2.13.0+cpu)"
        )
    try:
        import torchvision
    except Exception as e:  # a broken build raises RuntimeError/OSError, not only ImportError
        raise MissingDependencyError(f"{TORCHVISION_HINT} ({_first_line(e)})") from e
    return torchvision


def hide_broken_torchvision() -> str | None:
    """If torchvision is installed but cannot be imported, make it look absent for this process.

    Returns the one-line import error when it hid torchvision, else None (absent, working, or already
    handled). Call it before importing transformers or sentence-transformers. It imports torchvision
    once to find out, which only happens when torchvision is installed and not yet imported.
    """
    if "torchvision" in sys.modules:
        return None  # imported fine earlier, or already blocked (None)
    try:
        if importlib.util.find_spec("torchvision") is None:
            return None
    except (ImportError, ValueError):
        return None
    try:
        import torchvision  # noqa: F401
        return None
    except Exception as e:
        reason = _first_line(e)
    # A failed import can leave half-initialised submodules behind; drop them, then block the name.
    # With sys.modules["torchvision"] = None, find_spec() returns None and `import torchvision` raises
    # ImportError, which is exactly what "not installed" looks like to transformers.
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]
    sys.modules["torchvision"] = None
    _clear_transformers_checks()
    logger.warning("torchvision is installed but broken (%s); treating it as absent", reason)
    return reason


def _clear_transformers_checks() -> None:
    """transformers memoises is_torchvision_available(); forget an answer given before we blocked it."""
    module = sys.modules.get("transformers.utils.import_utils")
    if module is None:
        return
    for name in _TRANSFORMERS_TORCHVISION_CHECKS:
        check = getattr(module, name, None)
        cache_clear = getattr(check, "cache_clear", None)
        if cache_clear is not None:
            cache_clear()
