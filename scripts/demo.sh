#!/usr/bin/env bash
# The main job: run the support agent on a real local model with agentwatch and show its traces.
#
# On a fresh machine this installs agentwatch into .venv-demo, builds llama.cpp's llama-server
# once (cached, about 5 minutes on 2 cores), serves SmolLM2 on 127.0.0.1, runs
# examples/support_agent.py, stops the server, and prints `agentwatch report` and the last run's
# trace tree from the embedded store (.agentwatch/demo.db).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=.venv-demo
export AGENTWATCH_DB="${AGENTWATCH_DB:-.agentwatch/demo.db}"
export AGENTWATCH_MODEL_PORT="${AGENTWATCH_MODEL_PORT:-8080}"
export AGENTWATCH_MODEL_BASE_URL="http://127.0.0.1:${AGENTWATCH_MODEL_PORT}/v1"

if ! command -v uv >/dev/null 2>&1; then
    "$PYTHON" -m pip install --quiet uv
fi
[ -x "$VENV/bin/python" ] || uv venv --quiet --python "$PYTHON" "$VENV"
uv pip install --quiet --python "$VENV/bin/python" -e ".[openai]"

bash scripts/local_model.sh start
trap 'bash scripts/local_model.sh stop' EXIT

mkdir -p "$(dirname "$AGENTWATCH_DB")"
rm -f "$AGENTWATCH_DB" "$AGENTWATCH_DB-wal" "$AGENTWATCH_DB-shm"
output=$("$VENV/bin/python" examples/support_agent.py)
printf '%s\n' "$output"

bash scripts/local_model.sh stop
trap - EXIT

echo
echo "== agentwatch report"
"$VENV/bin/agentwatch" report
last_trace=$(printf '%s\n' "$output" | awk '/^   trace / { id = $2 } END { print id }')
echo
echo "== agentwatch trace $last_trace"
"$VENV/bin/agentwatch" trace "$last_trace"
