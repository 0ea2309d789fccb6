"""Clients and requests for the real local model server (llama.cpp serving SmolLM2)."""

from __future__ import annotations

import os

import openai

BASE_URL = os.environ.get("AGENTWATCH_MODEL_BASE_URL", "http://127.0.0.1:8080/v1")
MODEL = "smollm2"
# llama-server ignores the key; a recognisable fake one lets tests prove keys are never recorded.
API_KEY = "sk-agentwatch-test-0123456789abcdef"

HELLO = [{"role": "user", "content": "Say hello in five words."}]


def sync_client() -> openai.OpenAI:
    return openai.OpenAI(base_url=BASE_URL, api_key=API_KEY, max_retries=0)


def async_client() -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=BASE_URL, api_key=API_KEY, max_retries=0)
