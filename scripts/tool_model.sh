#!/usr/bin/env bash
# Run a local OpenAI-compatible model server that makes tool calls: the
# llama-cpp-python server with SmolLM2-135M-Instruct and the
# chatml-function-calling chat format.
#
# llama.cpp's llama-server (scripts/local_model.sh) answers SmolLM2 requests
# with plain text and ignores `tools`; under chatml-function-calling the
# llama-cpp-python server turns the answer into named tool calls. Both
# servers load the same GGUF file, which local_model.sh downloads and caches.
# llama-cpp-python is compiled from its sdist by pip into a cached virtual
# environment, so only the first `install` needs access to PyPI.

set -euo pipefail

readonly LLAMA_CPP_PYTHON_VERSION="0.3.36"
readonly MODEL_ALIAS="smollm2"
readonly CHAT_FORMAT="chatml-function-calling"
readonly DEFAULT_PORT=8081
readonly CONTEXT_SIZE=4096

readonly SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly CACHE_DIR="${AGENTWATCH_CACHE:-$HOME/.cache/agentwatch}"
readonly VENV_DIR="$CACHE_DIR/llama-cpp-python-venv"
readonly VENV_PYTHON="$VENV_DIR/bin/python"
# Written after a successful install, so an interrupted build is never taken for a cached one.
readonly INSTALLED_MARKER="$VENV_DIR/.agentwatch-installed-$LLAMA_CPP_PYTHON_VERSION"
readonly INSTALL_LOG="$CACHE_DIR/llama-cpp-python-install.log"
readonly PID_FILE="$CACHE_DIR/tool-model-server.pid"
readonly PORT_FILE="$CACHE_DIR/tool-model-server.port"
readonly SERVER_LOG="$CACHE_DIR/tool-model-server.log"

readonly PYTHON="${PYTHON:-python3}"
readonly START_TIMEOUT_S="${AGENTWATCH_TOOL_MODEL_START_TIMEOUT:-60}"
readonly STOP_TIMEOUT_S=10

readonly SCRIPT_NAME="tool_model.sh"
readonly SERVER_LABEL="the tool model server"
readonly SERVER_COMMAND="$VENV_PYTHON -m llama_cpp.server"
# shellcheck source=scripts/_server_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_server_lib.sh"

usage() {
    cat <<EOF
Usage: $(basename "$0") COMMAND [ARGS]

Commands:
  install               Compile and install llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION
                        into $VENV_DIR
                        (skipped when installed). Takes several minutes on 2 cores.
  start [PORT]          Install if needed, fetch the model with local_model.sh, then start
                        the server on 127.0.0.1:PORT (default: \$AGENTWATCH_TOOL_MODEL_PORT or
                        $DEFAULT_PORT) with the model alias "$MODEL_ALIAS" and the chat format
                        $CHAT_FORMAT, and wait until /v1/models returns OK.
  stop                  Stop the server started by 'start'. Does nothing if it is not running.
  status                Print the PID and port of the running server; exit 1 if none is running.

Environment:
  AGENTWATCH_CACHE                    cache folder (default: \$HOME/.cache/agentwatch)
  AGENTWATCH_TOOL_MODEL_PORT          port for 'start' when no PORT argument is given
  AGENTWATCH_TOOL_MODEL_START_TIMEOUT seconds 'start' waits for the server (default: 60)
  PYTHON                              interpreter that creates the virtual environment
                                      (default: python3)

Files:
  install log $INSTALL_LOG
  server log  $SERVER_LOG
  PID file    $PID_FILE
EOF
}

# --- install -----------------------------------------------------------------

# NOTE: install takes no lock, so two runs at the same time against one cache
# folder can delete each other's virtual environment and fail.
install_server() {
    if [[ -f "$INSTALLED_MARKER" && -x "$VENV_PYTHON" ]]; then
        log "llama-cpp-python $LLAMA_CPP_PYTHON_VERSION is installed in $VENV_DIR"
        return 0
    fi

    require_commands "$PYTHON" cmake c++
    local started_at=$SECONDS
    mkdir -p "$CACHE_DIR"
    rm -rf "$VENV_DIR"
    : >"$INSTALL_LOG"

    log "creating $VENV_DIR (log: $INSTALL_LOG)"
    "$PYTHON" -m venv "$VENV_DIR" >>"$INSTALL_LOG" 2>&1 || die "creating the virtual environment failed; see $INSTALL_LOG"
    "$VENV_PYTHON" -m pip install --quiet --upgrade pip >>"$INSTALL_LOG" 2>&1 ||
        die "upgrading pip failed; see $INSTALL_LOG"

    # These CMake options exist in the llama.cpp version vendored in
    # llama-cpp-python $LLAMA_CPP_PYTHON_VERSION:
    # - LLAMA_CURL=OFF and LLAMA_OPENSSL=OFF: no download or HTTPS code is built, since the
    #   model is a local file.
    # - LLAMA_BUILD_UI=OFF and LLAMA_USE_PREBUILT_UI=OFF: nothing is fetched with npm.
    # - GGML_NATIVE=OFF: a fixed instruction set instead of -march=native, so the cached
    #   library does not depend on the build machine's CPU (on x86-64 it needs AVX2).
    local cmake_args="-DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF"
    cmake_args+=" -DLLAMA_USE_PREBUILT_UI=OFF -DGGML_NATIVE=OFF"
    cmake_args+=" -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"

    log "compiling llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION with $(cpu_count) parallel jobs; this takes several minutes"
    CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL="$(cpu_count)" \
        "$VENV_PYTHON" -m pip install --no-binary llama-cpp-python \
        "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION" >>"$INSTALL_LOG" 2>&1 ||
        die "pip install of llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION failed; see $INSTALL_LOG"

    "$VENV_PYTHON" -c "import llama_cpp.server" >>"$INSTALL_LOG" 2>&1 ||
        die "llama_cpp.server does not import after the install; see $INSTALL_LOG"
    touch "$INSTALLED_MARKER"
    log "installed llama-cpp-python in $((SECONDS - started_at)) s"
}

# --- server process ----------------------------------------------------------

# The llama-cpp-python server has no /health route; /v1/models answers once the model is loaded.
server_ready() {
    curl --noproxy '*' --silent --fail --output /dev/null --max-time 2 "http://127.0.0.1:$1/v1/models"
}

start_server() {
    local port="${1:-${AGENTWATCH_TOOL_MODEL_PORT:-$DEFAULT_PORT}}"
    validate_port "$port"
    if ! [[ "$START_TIMEOUT_S" =~ ^[0-9]+$ ]]; then
        die "invalid AGENTWATCH_TOOL_MODEL_START_TIMEOUT '$START_TIMEOUT_S'; expected a whole number of seconds"
    fi
    require_commands curl

    local pid
    if pid="$(running_pid)"; then
        local running_port
        running_port="$(cat "$PORT_FILE" 2>/dev/null || echo unknown)"
        if [[ "$running_port" == "$port" ]]; then
            log "the tool model server is already running (PID $pid, http://127.0.0.1:$port/v1)"
            return 0
        fi
        die "the tool model server is already running on port $running_port (PID $pid); run '$0 stop' first"
    fi

    install_server
    local model_path
    model_path="$(bash "$SCRIPT_DIR/local_model.sh" model)" || die "fetching the model with local_model.sh failed"

    if port_in_use "$port"; then
        die "port $port on 127.0.0.1 is already in use; stop that program or pass another port"
    fi

    log "starting the llama-cpp-python server on 127.0.0.1:$port (log: $SERVER_LOG)"
    nohup "$VENV_PYTHON" -m llama_cpp.server \
        --host 127.0.0.1 \
        --port "$port" \
        --model "$model_path" \
        --model_alias "$MODEL_ALIAS" \
        --chat_format "$CHAT_FORMAT" \
        --n_ctx "$CONTEXT_SIZE" >"$SERVER_LOG" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
    echo "$port" >"$PORT_FILE"

    local deadline=$((SECONDS + START_TIMEOUT_S))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE" "$PORT_FILE"
            die "the tool model server exited during startup; see $SERVER_LOG"
        fi
        if server_ready "$port"; then
            log "the tool model server is ready (PID $pid, http://127.0.0.1:$port/v1, model \"$MODEL_ALIAS\")"
            return 0
        fi
        sleep 0.5
    done

    stop_pid "$pid"
    rm -f "$PID_FILE" "$PORT_FILE"
    die "timed out after $START_TIMEOUT_S s waiting for HTTP 200 from http://127.0.0.1:$port/v1/models; see $SERVER_LOG"
}

main() {
    local command="${1:-}"
    [[ $# -gt 0 ]] && shift

    if [[ "$command" != "start" && $# -gt 0 ]]; then
        die "unexpected argument '$1' for command '$command'"
    fi
    if [[ "$command" == "start" && $# -gt 1 ]]; then
        die "unexpected argument '$2' for command 'start'; it takes at most a PORT"
    fi

    case "$command" in
        install) install_server ;;
        start) start_server "$@" ;;
        stop) stop_server ;;
        status) server_status ;;
        -h | --help | help) usage ;;
        "")
            usage >&2
            exit 2
            ;;
        *)
            log "error: unknown command '$command'"
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
