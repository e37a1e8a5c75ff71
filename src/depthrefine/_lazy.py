"""Lazy re-exports for the stage subpackages: ``from depthrefine.mocap import read_bvh`` works,
but importing a subpackage imports none of its modules (a per-trial job stays cheap to start)."""

from __future__ import annotations

import importlib


def lazy_exports(package: str, names: dict[str, str]):
    """``names`` maps a public name to the submodule that defines it. Returns the package's
    ``__getattr__``, ``__dir__`` and ``__all__``."""

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{names[name]}"), name)

    def __dir__():
        return sorted(names)

    return __getattr__, __dir__, sorted(names)
