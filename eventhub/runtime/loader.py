"""Importing a handler from a function's code directory, with Lambda's init error types."""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from eventhub.runtime.errors import InitError

Handler = Callable[[Any, Any], Any]


def _check_origin(top: str, code_dir: Path) -> None:
    """Two inline functions cannot use different modules of the same name in one process."""
    existing = sys.modules.get(top)
    if existing is None:
        return
    origin = getattr(existing, "__file__", None)
    if origin is None:
        return
    if not Path(origin).resolve().is_relative_to(code_dir):
        raise InitError(
            "Runtime.ImportModuleError",
            f"Unable to import module '{top}': a module of that name is already loaded from "
            f"{origin}; inline functions share one interpreter, so give handler modules "
            "distinct names or use runtime: process",
        )


def _forget_bytecode(module: ModuleType) -> None:
    """A .pyc is trusted when the source's size and mtime (in whole seconds) match: an edit
    within the same second would be missed, so drop it before a re-import."""
    cached = getattr(module, "__cached__", None)
    if isinstance(cached, str):
        Path(cached).unlink(missing_ok=True)


def import_handler(
    handler: str, module_name: str, attribute: str, code_dir: Path, *, reimport: bool = False
) -> Handler:
    """Import ``module_name`` from ``code_dir`` and return its ``attribute``; with
    ``reimport``, a module imported before is executed again (``importlib.reload``).

    Raises InitError with errorType ``Runtime.UserCodeSyntaxError``,
    ``Runtime.ImportModuleError`` or ``Runtime.HandlerNotFound``.
    """
    code_dir = code_dir.resolve()
    top = module_name.split(".")[0]
    if importlib.machinery.PathFinder.find_spec(top, [str(code_dir)]) is not None:
        _check_origin(top, code_dir)
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    try:
        loaded = sys.modules.get(module_name) if reimport else None
        if loaded is not None:
            _forget_bytecode(loaded)
        module = importlib.reload(loaded) if loaded else importlib.import_module(module_name)
    except SyntaxError as exc:
        raise InitError(
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{module_name}': {exc}",
        ) from exc
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure at import is an init error
        raise InitError(
            "Runtime.ImportModuleError",
            f"Unable to import module '{module_name}': {exc}",
        ) from exc
    target = getattr(module, attribute, None)
    if target is None or not callable(target):
        raise InitError(
            "Runtime.HandlerNotFound",
            f"Handler '{attribute}' missing on module '{module_name}'"
            if target is None
            else f"Handler '{handler}' is not callable",
        )
    return target  # type: ignore[no-any-return]
