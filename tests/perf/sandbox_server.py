"""The vendor sandbox in a process of its own, for the lifecycle benchmark.

The benchmark measures the app; the simulated vendors (their API, their renders, their
callbacks) run here so that their CPU is counted apart from the web process's and the
cluster's. This is the whole Django app served by Django's threaded server, like
`manage.py runserver` without the autoreloader, on a free port of 127.0.0.1; it prints
`listening <url>` once it serves, and it is the address of its clips (PUBLIC_BASE_URL).

    python -m tests.perf.sandbox_server CALLS_FILE [RUN_SECONDS_LOW RUN_SECONDS_HIGH]

Every request it answers is kept (method, path, query) and written to CALLS_FILE as
JSON when it gets SIGTERM. Each task runs for a time drawn between the two bounds
(seeded, as in the benchmark before), so jobs end at every phase of their polling.
"""

import json
import os
import random
import signal
import socket
import sys
import threading

import django


def serve(calls_file: str, run_seconds: tuple[float, float] | None) -> None:
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.signals import request_started

    from generations.sandbox import engine

    if run_seconds:
        draw = random.Random(7)
        engine.run_seconds = lambda: draw.uniform(*run_seconds)

    calls = []
    lock = threading.Lock()

    def started(sender, environ, **kwargs):
        call = (environ["REQUEST_METHOD"], environ["PATH_INFO"], environ["QUERY_STRING"])
        with lock:
            calls.append(call)

    request_started.connect(started, weak=False)

    class Handler(WSGIRequestHandler):
        def setup(self):
            # Headers and body leave in two small sends; without this Nagle's algorithm
            # holds the second for the client's delayed ACK (40 ms no vendor adds).
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().setup()

        def log_message(self, *args):
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), Handler, allow_reuse_address=True)
    server.set_app(WSGIHandler())
    settings.PUBLIC_BASE_URL = f"http://127.0.0.1:{server.server_port}"

    def stop(signum, frame):
        with lock:
            text = json.dumps(calls)
        with open(calls_file, "w") as out:
            out.write(text)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"listening {settings.PUBLIC_BASE_URL}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seedance_site.settings")
    django.setup()
    bounds = (float(sys.argv[2]), float(sys.argv[3])) if len(sys.argv) > 3 else None
    serve(sys.argv[1], bounds)
