#!/usr/bin/env bash
# Record the test cassettes that are missing, from the real local model server.
#
# Starts llama-server with embeddings on (mean pooling, which the OpenAI embeddings endpoint
# needs), runs pytest in record-once mode so existing cassettes stay as they are, and stops the
# server. Delete a cassette under cassettes/ to record it again. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON_BIN="${PYTHON_BIN:-.venv-openai3/bin/python}"
bash scripts/local_model.sh start -- --embeddings --pooling mean
trap 'bash scripts/local_model.sh stop' EXIT
AGENTWATCH_RECORD=once "$PYTHON_BIN" -m pytest -q -m "not e2e" "$@"
