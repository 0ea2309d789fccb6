#!/usr/bin/env bash
# Run the test suite on openai 3.x and on openai 2.x, each in its own virtual environment.
#
# Installs everything from PyPI into .venv-openai3 and .venv-openai2 (uv is installed with pip
# when missing). The Phoenix end-to-end test runs in the openai 3.x environment only, because
# it exercises the exporter, not the SDK. LlamaIndex runs in the openai 2.x environment only,
# because llama-index-llms-openai requires openai<3. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if ! command -v uv >/dev/null 2>&1; then
    "$PYTHON" -m pip install --quiet uv
fi

run_suite() {
    local major=$1 extras=$2 marker=$3
    shift 3
    local venv=".venv-openai$major"
    echo "== openai ${major}.x: installing into $venv"
    [ -x "$venv/bin/python" ] || uv venv --quiet --python "$PYTHON" "$venv"
    uv pip install --quiet --python "$venv/bin/python" -e ".[$extras]" "openai>=${major},<$((major + 1))"
    echo "== openai ${major}.x: $("$venv/bin/python" -c 'import openai; print(openai.__version__)')"
    if [ "$major" = 3 ]; then
        "$venv/bin/ruff" check src tests examples benchmarks
        "$venv/bin/mypy"
    fi
    "$venv/bin/python" -m pytest -q -m "$marker" "$@"
}

run_suite 3 "dev,e2e,evaluators,langchain" "" "$@"
run_suite 2 "dev,langchain,llamaindex" "not e2e" "$@"
