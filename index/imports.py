"""Importing a library without the optional libraries it would pull in for features this package never uses.

Every module a long-running bot imports stays in its memory: bm25s imports scipy (whose array-API layer
imports all of numpy's submodules, ~14 MiB) only for a build option this package does not use, and lightgbm
imports scikit-learn and pandas (with pyarrow, ~80 MiB) whenever they are installed.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterable
from types import ModuleType

_lock = threading.Lock()


def import_without(name: str, optional: Iterable[str]) -> ModuleType:
    """Import module ``name`` with its optional imports ``optional`` failing as if they were not installed.

    Only modules this process has not imported yet are held back, and only while ``name`` is imported: they
    stay importable afterwards. A module already imported is returned as it is.
    """
    if name in sys.modules:
        return sys.modules[name]
    with _lock:
        blocked = [m for m in optional if m not in sys.modules]
        for module in blocked:
            sys.modules[module] = None  # type: ignore[assignment]  # makes `import module` raise ImportError
        try:
            return importlib.import_module(name)
        finally:
            for module in blocked:
                if sys.modules.get(module, 0) is None:
                    del sys.modules[module]
