"""The lab's HTTP plumbing, shared by its API daemon and its metadata service: the server and how an answer is sent."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


class LabHTTPServer(ThreadingHTTPServer):
    """A threaded server whose request threads never keep the process alive."""

    daemon_threads = True
    # The stdlib's listen backlog is 5: Terraform's parallel calls (up to 30 for a large cluster) overflowed it
    # and got "connection reset by peer" on a 20-node lab deploy.
    request_queue_size = 128


def serve(address: str, port: int, handler: type[BaseHTTPRequestHandler]) -> LabHTTPServer:
    """Bind `handler` on `address`:`port` (0: a free port) and return the server, not yet serving."""
    return LabHTTPServer((address, port), handler)


def json_body(out: object, empty_type: str = JSON) -> tuple[bytes, str]:
    """A JSON value as (bytes, content type); None is an empty body of type `empty_type`."""
    if out is None:
        return b"", empty_type
    return json.dumps(out).encode(), JSON


def send(
    handler: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str, headers: Mapping[str, str] = {}
) -> None:
    """Answer the handler's request: status, Content-Type, Content-Length, the extra `headers`, then the body."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    if data:
        handler.wfile.write(data)
