"""Shared fixtures: the labelled data sets and the bundled embedding model (when installed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentwatch.evaluators import default_embedder

DATA = Path(__file__).parent / "data"


def load_jsonl(name: str) -> list[dict[str, Any]]:
    with open(DATA / name, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="session")
def groundedness_cases() -> list[dict[str, Any]]:
    return load_jsonl("groundedness.jsonl")


@pytest.fixture(scope="session")
def tool_cases() -> list[dict[str, Any]]:
    return load_jsonl("tool_calls.jsonl")


@pytest.fixture(scope="session")
def toolsets() -> dict[str, list[dict[str, Any]]]:
    with open(DATA / "toolsets.json", encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="session")
def embedder():
    model = default_embedder()
    if not model.available():
        pytest.skip(f"local-model tier not installed: {model.load_error}")
    return model
