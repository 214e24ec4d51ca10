"""A loopback HTTP server that answers in two chunks, the second once a marker file exists."""

from __future__ import annotations

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MARKER = Path(sys.argv[2])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Seen-User", self.headers.get("X-Flowyard-User", "-"))
        self.send_header("X-Seen-Auth", self.headers.get("Authorization", "-"))
        self.send_header("X-Seen-Path", self.path)
        self.end_headers()
        self.chunk(b"first:" + body + b"\n")
        while not MARKER.exists():
            time.sleep(0.02)
        self.chunk(b"second\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
