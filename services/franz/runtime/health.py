"""`/healthz`, `/readyz` and `/metrics` on METRICS_PORT, served from a daemon thread; and a service's
read-only JSON API beside them (sachbearbeiter's tickets), so a process serves one HTTP port."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

# A status and a JSON body.
JsonReply = tuple[int, object]
# A service's API: the reply for a path and its query, or None for a path that is not the API's.
Api = Callable[[str, Mapping[str, list[str]]], JsonReply | None]


class HealthServer:
    """Liveness is "the process answers"; readiness is whatever the service says it is."""

    def __init__(
        self,
        *,
        port: int,
        ready: Callable[[], bool],
        registry: CollectorRegistry = REGISTRY,
        host: str = "0.0.0.0",
        api: Api | None = None,
    ) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                path = url.path
                reply = self._api(path, url.query) if api is not None else None
                if reply is not None:
                    status, body = reply
                    self._reply(status, orjson.dumps(body), "application/json")
                elif path == "/healthz":
                    self._reply(200, b"ok\n", "text/plain")
                elif path == "/readyz":
                    is_ready = server.ready()
                    self._reply(
                        200 if is_ready else 503, b"ready\n" if is_ready else b"not ready\n", "text/plain"
                    )
                elif path == "/metrics":
                    self._reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                else:
                    self._reply(404, b"not found\n", "text/plain")

            def _api(self, path: str, query: str) -> JsonReply | None:
                assert api is not None
                try:
                    return api(path, parse_qs(query, max_num_fields=20))
                except Exception as error:
                    log.exception("the API failed to answer", extra={"path": path})
                    return 500, {"error": f"internal error ({type(error).__name__}); see the service's log"}

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Probes every few seconds would drown the service's own logs."""

        self.ready = ready
        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
