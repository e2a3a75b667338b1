"""The sandbox fetching media from the app's own address (where signed asset addresses
live): trusted for its address only, never as a way round the download's deadline or
the public-address check for wherever it redirects."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from generations.sandbox import media
from tests.media_host import png


class OwnSite(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/redirect":
            # Elsewhere on loopback: what a private service (or 169.254.169.254) would be.
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{self.server.server_port}/secret")
            self.end_headers()
        elif self.path == "/drip.png":
            body = png((10, 20, 30))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for byte in body[:40]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)
        else:
            body = png((10, 20, 30))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def own_site(settings, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), OwnSite)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    settings.PUBLIC_BASE_URL = base
    monkeypatch.setattr(media, "transport", None)  # the real network path
    yield base
    server.shutdown()
    server.server_close()


def test_an_address_of_the_app_itself_is_fetched(own_site):
    assert media.download(f"{own_site}/inputs/x.png", "the first frame image").startswith(
        b"\x89PNG"
    )


def test_a_redirect_from_the_apps_own_address_is_not_followed_into_private_addresses(own_site):
    with pytest.raises(media.MediaFailure) as failed:
        media.download(f"{own_site}/redirect", "the first frame image")
    assert "could not download the first frame image" in failed.value.message.lower()


def test_a_download_from_the_apps_own_address_ends_by_the_deadline(own_site, settings):
    # A byte every 0.2 s never trips a per-read timeout of 1 s: only a deadline for the
    # whole download ends it.
    settings.SANDBOX_MEDIA_TIMEOUT = 1.0
    started = time.monotonic()
    with pytest.raises(media.MediaFailure, match="timed out"):
        media.download(f"{own_site}/drip.png", "the first frame image")
    assert time.monotonic() - started < 3.0
