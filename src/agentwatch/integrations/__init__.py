"""One package per framework; each imports the core, never the reverse."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import wrapt

logger = logging.getLogger(__name__)


def report_missing_target(module_name: str, name: str, lost: str | None) -> None:
    """Log a patch target that an installed package lacks: a warning when tracing loses ``lost``."""
    if lost is None:
        logger.debug("agentwatch: %s.%s not found in this version; not traced", module_name, name)
        return
    logger.warning(
        "agentwatch: %s.%s was not found in the installed version, so %s. "
        "Install a version the README lists as supported, or report the version you run.",
        module_name,
        name,
        lost,
    )


def import_target_module(module_name: str, name: str, lost: str | None) -> Any:
    """Import the module of a patch target; return None, logged, when that is not possible.

    A package that is not installed is logged at debug level. A module missing from an installed
    package (a private module that moved) is a missing target. A module that fails to import for
    another reason (a package built against other releases of its dependencies) is a warning.
    """
    try:
        return importlib.import_module(module_name)
    except ImportError:
        package = module_name.partition(".")[0]
        try:
            installed = importlib.util.find_spec(package) is not None
        except (ImportError, ValueError):
            installed = False
        if installed and package != module_name:
            report_missing_target(module_name, name, lost)
        else:
            logger.debug("agentwatch: %s is not installed; %s not traced", module_name, name)
    except Exception as exc:  # noqa: BLE001 - a broken install must not break instrument()
        logger.warning(
            "agentwatch: importing %s failed (%s: %s), so %s is not traced. "
            "Reinstall the package or install a version the README lists as supported.",
            module_name,
            type(exc).__name__,
            exc,
            name,
        )
    return None


@dataclass
class Patch:
    """One class attribute replaced by a wrapper, and the original to put back."""

    owner: type
    name: str
    original: Any


@dataclass
class Patcher:
    """Apply wrappers to ``module:Class.method`` targets and restore them all on ``restore()``."""

    applied: list[Patch] = field(default_factory=list)

    def wrap(
        self, module_name: str, qualname: str, wrapper: Callable[..., Any], *, lost: str | None = None
    ) -> bool:
        """Wrap one target; a target missing from the installed version is skipped and logged.

        ``lost`` describes what tracing loses without the target. When it is given and the module
        is installed but lacks the target (a renamed private method), the log line is a warning.
        """
        class_name, _, attribute = qualname.rpartition(".")
        module = import_target_module(module_name, qualname, lost)
        if module is None:
            return False
        try:
            owner = getattr(module, class_name)
            original = owner.__dict__[attribute]
        except (AttributeError, KeyError):
            report_missing_target(module_name, qualname, lost)
            return False
        setattr(owner, attribute, wrapt.FunctionWrapper(original, wrapper))
        self.applied.append(Patch(owner, attribute, original))
        return True

    def restore(self) -> None:
        while self.applied:
            patch = self.applied.pop()
            setattr(patch.owner, patch.name, patch.original)
