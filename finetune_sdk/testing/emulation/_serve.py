"""Serve the Bedrock emulation over HTTP on 127.0.0.1, so clients reach it through botocore's whole stack.

``python -m finetune_sdk.testing.emulation._serve`` starts a :class:`BedrockEmulation` (jobs move on the real
clock, ``job_duration_s`` seconds) and one HTTP server per service (``bedrock``, ``bedrock-runtime``) on free
loopback ports, prints ``{"bedrock": URL, "bedrock-runtime": URL}`` as one JSON line, and serves until stdin
closes or it is terminated. Each request is handed to the emulation's router and validator exactly as an
in-process ``before-send`` request would be, so the same handler tables answer. Data checks that read S3 are
off: the emulation's own S3 lives in its process.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["serve"]

_SERVICES = ("bedrock", "bedrock-runtime")


class _Request:
    """The parts of a botocore ``AWSPreparedRequest`` the emulation reads."""

    def __init__(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body


def _handler(emulation: Any, service: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            host = f"http://{self.server.server_address[0]}:{self.server.server_address[1]}"  # type: ignore[index]
            request = _Request(self.command, host + self.path, dict(self.headers.items()), body)
            try:
                response = emulation._on_send(request, event_name=f"before-send.{service}")
            except NotImplementedError as exc:
                self._send(501, {"Content-Type": "text/plain"}, str(exc).encode())
                return
            except Exception:  # a scripted dropped connection or timeout: close without answering
                self.close_connection = True
                return
            self._send(response.status_code, dict(response.headers.items()), response.content)

        def _send(self, status: int, headers: dict[str, str], content: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in ("content-length", "date"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def serve(*, job_duration_s: float = 2.0) -> dict[str, ThreadingHTTPServer]:
    """Start the emulation and its HTTP servers (in daemon threads); returns the servers by service."""
    from finetune_sdk._clock import SystemClock
    from finetune_sdk.testing.emulation import BedrockEmulation

    emulation = BedrockEmulation(clock=SystemClock(), job_duration_s=job_duration_s, check_data=False)
    emulation.start()
    servers: dict[str, ThreadingHTTPServer] = {}
    for service in _SERVICES:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(emulation, service))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[service] = server
    return servers


def main() -> None:
    servers = serve()
    urls = {name: f"http://127.0.0.1:{server.server_address[1]}" for name, server in servers.items()}
    sys.stdout.write(json.dumps(urls) + "\n")
    sys.stdout.flush()
    sys.stdin.read()  # serve until the parent closes our stdin (or terminates us)
    for server in servers.values():
        server.shutdown()


if __name__ == "__main__":
    main()
