"""Run a real Arize Phoenix server on 127.0.0.1 for the end-to-end test, and read its REST API.

Phoenix binds its HTTP port to ``PHOENIX_HOST``, but in arize-phoenix 20.26.1 the OTLP gRPC
receiver always listens on ``[::]:PHOENIX_GRPC_PORT`` (``phoenix/server/grpc_server.py``), and no
setting moves it to loopback or turns it off except ``--read-only``, which also rejects the REST
API. Run as a script, this module starts ``phoenix serve`` with the gRPC receiver disabled through
the ``disabled`` argument of Phoenix's own ``GrpcServer``. The test sends spans over OTLP/HTTP, so
it needs no gRPC, and it checks that every socket the server listens on is on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
# Importing Phoenix alone took about 26 s on 2 cores, and start-up until /healthz returned 200
# took 23 to 41 s there (arize-phoenix 20.26.1).
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def clean_environment() -> dict[str, str]:
    """Copy the environment without OTel, Phoenix, agentwatch and pytest settings of the caller."""
    prefixes = ("OTEL_", "PHOENIX_", "AGENTWATCH_", "PYTEST_")
    return {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}


@dataclass
class PhoenixServer:
    """A ``phoenix serve`` subprocess and the loopback address of its HTTP port."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def get_json(self, path: str, timeout: float = 10.0) -> Any:
        """GET ``path`` from the server and decode the JSON body. HTTP errors raise HTTPError."""
        with urllib.request.urlopen(self.base_url + path, timeout=timeout) as response:
            return json.load(response)

    def wait_until_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Poll ``/healthz`` until it returns 200, and raise if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Phoenix exited with code {self.process.returncode} before it was ready. "
                    f"Log tail:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise TimeoutError(
            f"Phoenix did not return 200 from {self.base_url}/healthz within {timeout:.0f} s. "
            f"Log tail:\n{self.log_tail()}"
        )

    def listening_addresses(self) -> list[tuple[str, int]]:
        """Return (address, port) of every TCP socket the server and its children listen on."""
        import psutil  # a dependency of arize-phoenix

        root = psutil.Process(self.process.pid)
        addresses = []
        for process in [root, *root.children(recursive=True)]:
            for connection in process.net_connections(kind="tcp"):
                if connection.status == psutil.CONN_LISTEN:
                    addresses.append((connection.laddr.ip, connection.laddr.port))
        return addresses

    def stop(self) -> None:
        """Send SIGTERM to the server's PID, and SIGKILL if it has not exited in time."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)


def start_phoenix(working_dir: Path) -> PhoenixServer:
    """Start Phoenix on a free loopback port with its data in ``working_dir``, without waiting."""
    working_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **clean_environment(),
        "PHOENIX_WORKING_DIR": str(working_dir),
        "PHOENIX_HOST": HOST,
        "PHOENIX_PORT": str(port),
        # Unused while gRPC is disabled, but a free port keeps two servers from clashing on 4317.
        "PHOENIX_GRPC_PORT": str(free_port()),
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    }
    log_path = working_dir / "phoenix.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve())],
            cwd=working_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return PhoenixServer(process=process, port=port, log_path=log_path)


def _serve_without_grpc() -> None:
    """Run ``phoenix serve`` in this process with Phoenix's OTLP gRPC receiver disabled."""
    import phoenix.server.app as phoenix_app
    from phoenix.server.main import main

    original = phoenix_app.GrpcServer

    class DisabledGrpcServer(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disabled"] = True
            super().__init__(*args, **kwargs)

    phoenix_app.GrpcServer = DisabledGrpcServer
    sys.argv = ["phoenix", "serve"]
    main()


if __name__ == "__main__":
    _serve_without_grpc()
