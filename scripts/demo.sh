#!/usr/bin/env bash
# The main job: run the support agent on a real local model with agentwatch and show its traces.
#
# On a fresh machine this installs agentwatch into .venv-demo, builds llama.cpp's llama-server
# once (cached, about 5 minutes on 2 cores), and serves SmolLM2 on 127.0.0.1 twice: port 8080 is
# the local route, port 8082 (model name smollm2-approved) the approved route of the policy in
# examples/policy.toml. It runs examples/support_agent.py under that policy, stops both servers,
# and prints `agentwatch report` and the trace tree of each run from the embedded store
# (.agentwatch/demo.db).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=.venv-demo
export AGENTWATCH_DB="${AGENTWATCH_DB:-.agentwatch/demo.db}"
export AGENTWATCH_MODEL_PORT="${AGENTWATCH_MODEL_PORT:-8080}"
export AGENTWATCH_MODEL_BASE_URL="http://127.0.0.1:${AGENTWATCH_MODEL_PORT}/v1"
export AGENTWATCH_POLICY="${AGENTWATCH_POLICY:-examples/policy.toml}"
APPROVED_PORT=8082

if ! command -v uv >/dev/null 2>&1; then
    "$PYTHON" -m pip install --quiet uv
fi
[ -x "$VENV/bin/python" ] || uv venv --quiet --python "$PYTHON" "$VENV"
uv pip install --quiet --python "$VENV/bin/python" -e ".[openai,evaluators]"

stop_servers() {
    bash scripts/local_model.sh stop
    AGENTWATCH_MODEL_INSTANCE=approved bash scripts/local_model.sh stop
}
bash scripts/local_model.sh start
trap stop_servers EXIT
AGENTWATCH_MODEL_INSTANCE=approved AGENTWATCH_MODEL_ALIAS=smollm2-approved \
    bash scripts/local_model.sh start "$APPROVED_PORT"

mkdir -p "$(dirname "$AGENTWATCH_DB")"
rm -f "$AGENTWATCH_DB" "$AGENTWATCH_DB-wal" "$AGENTWATCH_DB-shm"
output=$("$VENV/bin/python" examples/support_agent.py)
printf '%s\n' "$output"

stop_servers
trap - EXIT

echo
echo "== agentwatch report"
"$VENV/bin/agentwatch" report
for trace_id in $(printf '%s\n' "$output" | awk '/^   trace / { print $2 }'); do
    echo
    echo "== agentwatch trace $trace_id"
    "$VENV/bin/agentwatch" trace "$trace_id"
done
