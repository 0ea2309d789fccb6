# Shared helpers of scripts/local_model.sh and scripts/tool_model.sh, sourced by both.
#
# The sourcing script sets, before it calls these functions:
#   SCRIPT_NAME     prefix of log lines
#   SERVER_LABEL    how log lines name the server ("llama-server")
#   SERVER_COMMAND  start of the server's command line, which proves a PID is still ours
#   PID_FILE, PORT_FILE, STOP_TIMEOUT_S

log() {
    echo "$SCRIPT_NAME: $*" >&2
}

die() {
    log "error: $*"
    exit 1
}

require_commands() {
    local name
    for name in "$@"; do
        command -v "$name" >/dev/null 2>&1 || die "required command '$name' not found in PATH; install it and retry"
    done
}

cpu_count() {
    nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2
}

# Print the PID from the PID file if that process is alive and runs SERVER_COMMAND. A PID file
# whose process is gone, or whose PID now belongs to another program, is deleted.
running_pid() {
    [[ -f "$PID_FILE" ]] || return 1

    local pid
    pid="$(tr -dc '0-9' <"$PID_FILE")"
    if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
        rm -f "$PID_FILE" "$PORT_FILE"
        return 1
    fi

    local command_line
    command_line="$(ps -p "$pid" -o args= 2>/dev/null || true)"
    if [[ "$command_line" != "$SERVER_COMMAND"* ]]; then
        log "PID $pid from $PID_FILE is not $SERVER_LABEL (it runs: ${command_line:-unknown}); deleting the stale PID file"
        rm -f "$PID_FILE" "$PORT_FILE"
        return 1
    fi

    echo "$pid"
}

validate_port() {
    local port="$1"
    if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
        die "invalid port '$port'; expected an integer from 1 to 65535"
    fi
}

# Succeed when something accepts TCP connections on 127.0.0.1:PORT.
# curl exits with 7 (failed to connect) when nothing listens on the port.
port_in_use() {
    local status=0
    curl --noproxy '*' --silent --output /dev/null --max-time 2 "http://127.0.0.1:$1/" || status=$?
    [[ $status -ne 7 ]]
}

# Send SIGTERM to PID, then SIGKILL if it is still alive after STOP_TIMEOUT_S.
stop_pid() {
    local pid="$1"
    kill -TERM "$pid" 2>/dev/null || return 0

    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "$SERVER_LABEL (PID $pid) did not exit ${STOP_TIMEOUT_S} s after SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
}

stop_server() {
    local pid
    if ! pid="$(running_pid)"; then
        log "$SERVER_LABEL is not running"
        return 0
    fi

    stop_pid "$pid"
    rm -f "$PID_FILE" "$PORT_FILE"
    log "stopped $SERVER_LABEL (PID $pid)"
}

server_status() {
    local pid
    if ! pid="$(running_pid)"; then
        log "$SERVER_LABEL is not running"
        return 1
    fi
    echo "pid=$pid port=$(cat "$PORT_FILE" 2>/dev/null || echo unknown)"
}
