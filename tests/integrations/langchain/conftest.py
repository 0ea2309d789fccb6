"""Skip the LangChain tests where the `langchain` extra is not installed (the openai 2.x suite)."""

from __future__ import annotations

import importlib.util

_PACKAGES = ("langchain_core", "langgraph", "langchain_openai")

collect_ignore_glob = [] if all(importlib.util.find_spec(name) for name in _PACKAGES) else ["test_*.py"]
