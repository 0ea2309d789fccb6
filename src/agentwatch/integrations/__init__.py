"""One package per framework; each imports the core, never the reverse."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import wrapt

logger = logging.getLogger(__name__)


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

    def wrap(self, module_name: str, qualname: str, wrapper: Callable[..., Any]) -> bool:
        """Wrap one target; a target missing from the installed version is skipped and logged."""
        class_name, _, attribute = qualname.rpartition(".")
        try:
            module = importlib.import_module(module_name)
            owner = getattr(module, class_name)
            original = owner.__dict__[attribute]
        except (ImportError, AttributeError, KeyError):
            logger.debug("agentwatch: %s.%s not found in this version; not traced", module_name, qualname)
            return False
        setattr(owner, attribute, wrapt.FunctionWrapper(original, wrapper))
        self.applied.append(Patch(owner, attribute, original))
        return True

    def restore(self) -> None:
        while self.applied:
            patch = self.applied.pop()
            setattr(patch.owner, patch.name, patch.original)
