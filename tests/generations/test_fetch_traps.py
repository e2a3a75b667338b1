"""Clip downloads refuse every way a clip URL can be turned against our own network.

Each trap goes through lifecycle.store_clip, the one caller of fetch.fetch_to_file, so
"no partial file" is checked where it matters: the download directory (CLIP_TEMP_DIR)
is empty afterwards, and nothing reached the media storage.

Two real HTTP servers run on loopback. The "internal" one on 127.0.0.1 stands for
whatever sits inside our network; it records every request, so a refused trap is
shown to have sent nothing there, not merely to have failed to connect. The
"public" one on 127.0.0.2 serves the traps that need a server on the internet
(an endless body, a slow drip, HTML labelled as MP4, redirects). To reach it, the
`public_stand_in` fixture makes the address classifier treat exactly 127.0.0.2 as
public and delegates every other address to the real classifier: resolution,
the check of every resolved address, the pinned connect and the per-hop re-check
all run as in production, and 127.0.0.1 stays loopback. Host names are given
addresses by patching socket.getaddrinfo for names under .test only.
"""

import contextlib
import datetime as dt
import hashlib
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from generations import lifecycle
from generations.media import fetch
from generations.models import Clip
from tests.generations.factories import GenerationFactory, sample_mp4

STAND_IN = "127.0.0.2"
DEADLINE = 1.5
MAX_BYTES = 256 * 1024
HTML = b"<!doctype html><html><body>Not a video at all</body></html>" * 20
MP4_HEAD = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"


class TrapHandler(BaseHTTPRequestHandler):
    """Serves the traps by path; HTTP/1.0, so a body without a length ends at close."""

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.server.hits.append(self.path)
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        name = parts.path.strip("/").split("/")[0]
        route = getattr(self, "serve_" + name.replace("-", "_").replace(".", "_"))
        # The client hanging up mid-answer is what a refused trap looks like.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            route(parts.path, query)

    def send(self, status, body=b"", content_type="video/mp4", **headers):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def serve_clip_mp4(self, path, query):
        self.send(200, sample_mp4(), content_length=str(len(sample_mp4())))

    def serve_page_mp4(self, path, query):
        self.send(200, HTML)

    def serve_endless(self, path, query):
        self.send(200, MP4_HEAD)
        while not self.server.stopping.is_set():
            self.wfile.write(bytes(64 * 1024))

    def serve_claims_huge(self, path, query):
        self.send(200, MP4_HEAD, content_length=str(10 * 2**30))

    def serve_drip(self, path, query):
        self.send(200, MP4_HEAD)
        # A byte every 0.3 s for 10 s: a download without a deadline fails late, not never.
        for _ in range(33):
            if self.server.stopping.wait(0.3):
                return
            self.wfile.write(b"\x00")
            self.wfile.flush()

    def serve_silent(self, path, query):
        self.server.stopping.wait(10)

    def serve_redirect(self, path, query):
        self.send(302, location=query["to"])

    def serve_loop(self, path, query):
        hop = int(path.rsplit("/", 1)[1])
        self.send(302, location=f"/loop/{hop + 1}")

    def serve_secret(self, path, query):
        self.send(200, b"internal secrets", content_type="text/plain")

    def serve_sandbox(self, path, query):
        if path.endswith("/redirect"):
            self.serve_redirect(path, query)
        else:
            self.serve_clip_mp4(path, query)


def start_server(address, port=0, tls=None):
    server = ThreadingHTTPServer((address, port), TrapHandler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    server.hits = []
    server.stopping = threading.Event()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def stop_server(server):
    server.stopping.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def internal():
    server = start_server("127.0.0.1")
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    stop_server(server)


@pytest.fixture
def public():
    server = start_server(STAND_IN)
    server.url = f"http://clips.cdn.test:{server.server_address[1]}"
    yield server
    stop_server(server)


@pytest.fixture
def tls_public(tmp_path, monkeypatch):
    """The stand-in over HTTPS with a certificate for clips.cdn.test, which fetch trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "clips.cdn.test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("clips.cdn.test")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert_file, key_file)
    monkeypatch.setattr(fetch, "_ssl_context", lambda: ssl.create_default_context(cafile=cert_file))
    server = start_server(STAND_IN, tls=server_side)
    server.port = server.server_address[1]
    yield server
    stop_server(server)


@pytest.fixture
def public_stand_in(monkeypatch):
    real = fetch.non_public_reason
    monkeypatch.setattr(
        fetch, "non_public_reason", lambda address: None if address == STAND_IN else real(address)
    )


class FakeDNS:
    """Answers for names under .test: a list of addresses per lookup, the last one repeating."""

    def __init__(self, real):
        self.real = real
        self.answers = {"clips.cdn.test": [[STAND_IN]], "internal.corp.test": [["10.0.0.5"]]}
        self.lookups = []

    def getaddrinfo(self, host, port, *args, **kwargs):
        if not str(host).endswith(".test"):
            return self.real(host, port, *args, **kwargs)
        self.lookups.append(host)
        queue = self.answers[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses
        ]


@pytest.fixture
def dns(monkeypatch):
    fake = FakeDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    return fake


@pytest.fixture
def incoming(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CLIP_TEMP_DIR = tmp_path / "incoming"
    settings.CLIP_TEMP_DIR.mkdir()
    settings.CLIP_DOWNLOAD_SECONDS = DEADLINE
    settings.CLIP_MAX_BYTES = MAX_BYTES
    settings.SANDBOX_ENABLED = False
    return settings.CLIP_TEMP_DIR


def media_files(incoming) -> set:
    media = incoming.parent / "media"
    return {p for p in media.rglob("*") if p.is_file()} if media.exists() else set()


def refused(url, incoming, *, within=DEADLINE + 1.5) -> str:
    """Store a clip from `url`, which must be refused; the refusal's message."""
    generation = GenerationFactory(output_url=url)
    clips, stored = Clip.objects.count(), media_files(incoming)
    started = time.monotonic()
    with pytest.raises(fetch.FetchRefused) as caught:
        lifecycle.store_clip(generation)
    assert time.monotonic() - started < within
    assert list(incoming.iterdir()) == []
    assert Clip.objects.count() == clips
    assert media_files(incoming) == stored
    return str(caught.value)


# --- the good case -------------------------------------------------------------------


def test_a_real_mp4_from_a_public_host_is_stored_whole(
    db, incoming, public, public_stand_in, dns, internal
):
    generation = GenerationFactory(output_url=f"{public.url}/clip.mp4")
    clip = lifecycle.store_clip(generation)
    mp4 = sample_mp4()
    assert clip.bytes == len(mp4)
    assert clip.sha256 == hashlib.sha256(mp4).hexdigest()
    assert clip.file.read() == mp4
    assert list(incoming.iterdir()) == []
    assert public.hits == ["/clip.mp4"]
    assert internal.hits == []


def test_the_first_dns_answer_is_the_one_connected_to_so_rebinding_cannot_reach_inside(
    db, incoming, public_stand_in, dns, internal
):
    # A rebinding name answers "public" to the first lookup and "loopback" to the next.
    # A download that checks the name and then lets the connect look it up again would
    # reach the internal server; the pinned connect looks once and uses that answer.
    port = internal.server_address[1]
    twin = start_server(STAND_IN, port)
    dns.answers["rebind.test"] = [[STAND_IN], ["127.0.0.1"]]
    try:
        clip = lifecycle.store_clip(
            GenerationFactory(output_url=f"http://rebind.test:{port}/clip.mp4")
        )
    finally:
        stop_server(twin)
    assert clip.sha256 == hashlib.sha256(sample_mp4()).hexdigest()
    assert dns.lookups == ["rebind.test"]
    assert twin.hits == ["/clip.mp4"]
    assert internal.hits == []


def test_https_checks_the_certificate_against_the_name_though_the_socket_goes_to_an_address(
    db, incoming, tls_public, public_stand_in, dns
):
    dns.answers["wrong-name.test"] = [[STAND_IN]]
    clip = lifecycle.store_clip(
        GenerationFactory(output_url=f"https://clips.cdn.test:{tls_public.port}/clip.mp4")
    )
    assert clip.sha256 == hashlib.sha256(sample_mp4()).hexdigest()
    assert tls_public.hits == ["/clip.mp4"]

    message = refused(f"https://wrong-name.test:{tls_public.port}/clip.mp4", incoming)
    assert message == (
        "The server's certificate is not valid for wrong-name.test; nothing was downloaded."
    )
    assert tls_public.hits == ["/clip.mp4"]


def test_the_sandbox_is_fetched_from_loopback_only_when_it_is_enabled(
    db, incoming, internal, settings
):
    settings.PUBLIC_BASE_URL = internal.url
    url = f"{internal.url}/sandbox/kinovi/files/clip.mp4"
    assert refused(url, incoming) == (
        "The address 127.0.0.1 is a loopback address, not a public one; it was not downloaded."
    )
    assert internal.hits == []

    settings.SANDBOX_ENABLED = True
    clip = lifecycle.store_clip(GenerationFactory(output_url=url))
    assert clip.sha256 == hashlib.sha256(sample_mp4()).hexdigest()
    assert internal.hits == ["/sandbox/kinovi/files/clip.mp4"]


def test_a_sandbox_served_by_another_process_is_fetched_from_its_own_address(
    db, incoming, internal, settings
):
    settings.PUBLIC_BASE_URL = "https://studio.example.com"
    settings.SANDBOX_ENABLED = True
    url = f"{internal.url}/sandbox/kinovi/files/clip.mp4"
    assert refused(url, incoming) == (
        "The address 127.0.0.1 is a loopback address, not a public one; it was not downloaded."
    )

    settings.SANDBOX_BASE_URL = internal.url
    clip = lifecycle.store_clip(GenerationFactory(output_url=url))
    assert clip.sha256 == hashlib.sha256(sample_mp4()).hexdigest()
    assert internal.hits == ["/sandbox/kinovi/files/clip.mp4"]
    assert refused(f"{internal.url}/secret", incoming) == (
        "The address 127.0.0.1 is a loopback address, not a public one; it was not downloaded."
    )


def test_a_sandbox_redirect_out_of_the_sandbox_is_checked_again(db, incoming, internal, settings):
    settings.PUBLIC_BASE_URL = internal.url
    settings.SANDBOX_ENABLED = True
    first_hop = f"/sandbox/redirect?to={internal.url}/secret"
    message = refused(internal.url + first_hop, incoming)
    assert message == (
        "The address 127.0.0.1 is a loopback address, not a public one; it was not downloaded."
    )
    assert internal.hits == [first_hop]


def test_dot_segments_do_not_lead_out_of_the_sandbox(db, incoming, internal, settings):
    settings.PUBLIC_BASE_URL = internal.url
    settings.SANDBOX_ENABLED = True
    message = refused(f"{internal.url}/sandbox/../secret", incoming)
    assert message == (
        "The address 127.0.0.1 is a loopback address, not a public one; it was not downloaded."
    )
    assert internal.hits == []


# --- the traps -------------------------------------------------------------------------


def test_a_redirect_to_loopback_is_refused(db, incoming, public, public_stand_in, dns, internal):
    message = refused(f"{public.url}/redirect?to={internal.url}/secret", incoming)
    assert message == (
        "The address 127.0.0.1 is a loopback address, not a public one; it was not downloaded."
    )
    assert public.hits == [f"/redirect?to={internal.url}/secret"]
    assert internal.hits == []


def test_a_host_name_that_resolves_to_a_private_address_is_refused(db, incoming, dns):
    message = refused("http://internal.corp.test/clip.mp4", incoming)
    assert message == (
        "The address internal.corp.test (10.0.0.5) is a private address, not a public one; "
        "it was not downloaded."
    )


def test_a_name_with_one_private_answer_among_public_ones_is_refused(db, incoming, dns):
    dns.answers["mixed.test"] = [["93.184.215.14", "10.1.2.3"]]
    message = refused("https://mixed.test/clip.mp4", incoming)
    assert message.startswith("The address mixed.test (10.1.2.3) is a private address")


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("http://[::ffff:127.0.0.1]/clip.mp4", "::ffff:127.0.0.1 is a loopback"),
        ("http://[::ffff:7f00:1]:8000/", "::ffff:7f00:1 (::ffff:127.0.0.1) is a loopback"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "fd00:ec2::254 is a cloud metadata"),
        ("http://[64:ff9b::a9fe:a9fe]/latest/", "64:ff9b::a9fe:a9fe is a cloud metadata"),
        ("http://[::1]/clip.mp4", "::1 is a loopback"),
        ("http://[fe80::1]/clip.mp4", "fe80::1 is a link-local"),
        ("http://[fd00::1]/clip.mp4", "fd00::1 is a private"),
        ("http://[2002:a00:1::]/clip.mp4", "2002:a00:1:: is a private"),
        ("http://0.0.0.0/clip.mp4", "0.0.0.0 is an unspecified"),
        ("http://2130706433/clip.mp4", "2130706433 (127.0.0.1) is a loopback"),
        ("http://100.64.0.1/clip.mp4", "100.64.0.1 is a reserved"),
        ("http://192.0.0.192/opc/v2/", "192.0.0.192 is a cloud metadata"),
    ],
)
def test_addresses_inside_some_network_of_ours_are_refused(db, incoming, internal, url, what):
    assert refused(url, incoming) == (
        f"The address {what} address, not a public one; it was not downloaded."
    )
    assert internal.hits == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://ftp.example.com/clip.mp4"])
def test_schemes_other_than_http_are_refused(db, incoming, url):
    scheme = url.split(":")[0]
    assert refused(url, incoming) == (
        f"Only http and https addresses can be downloaded, not '{scheme}'."
    )


def test_gopher_is_refused(db, incoming):
    message = refused("gopher://127.0.0.1:70/_GET%20/", incoming)
    assert message == "Only http and https addresses can be downloaded, not 'gopher'."


def test_a_redirect_to_another_scheme_is_refused(db, incoming, public, public_stand_in, dns):
    message = refused(f"{public.url}/redirect?to=file:///etc/passwd", incoming)
    assert message == "Only http and https addresses can be downloaded, not 'file'."


def test_an_endless_body_is_cut_off_at_the_size_cap(db, incoming, public, public_stand_in, dns):
    message = refused(f"{public.url}/endless", incoming)
    assert message == "The clip is larger than the 0.25 MB limit."


def test_a_declared_length_over_the_cap_is_refused_before_reading(
    db, incoming, public, public_stand_in, dns
):
    message = refused(f"{public.url}/claims-huge", incoming)
    assert message == "The clip is larger than the 0.25 MB limit."


def test_a_slow_drip_is_stopped_at_the_deadline(db, incoming, public, public_stand_in, dns):
    started = time.monotonic()
    message = refused(f"{public.url}/drip", incoming)
    assert message == "The download took longer than 1.5 seconds and was stopped."
    assert time.monotonic() - started >= DEADLINE


def test_a_server_that_never_answers_is_stopped_at_the_deadline(
    db, incoming, public, public_stand_in, dns
):
    message = refused(f"{public.url}/silent", incoming)
    assert message == "The download took longer than 1.5 seconds and was stopped."


def test_html_labelled_as_mp4_is_refused_by_its_first_bytes(
    db, incoming, public, public_stand_in, dns
):
    message = refused(f"{public.url}/page.mp4", incoming)
    assert message == "The file is not an MP4 video, whatever its label says."


def test_a_redirect_chain_that_is_too_long_is_refused(db, incoming, public, public_stand_in, dns):
    message = refused(f"{public.url}/loop/0", incoming)
    assert message == "The server redirected more than 3 times."
    assert public.hits == ["/loop/0", "/loop/1", "/loop/2", "/loop/3"]


def test_a_redirect_from_a_public_name_to_a_private_name_is_refused(
    db, incoming, public, public_stand_in, dns, internal
):
    message = refused(f"{public.url}/redirect?to=http://internal.corp.test/clip.mp4", incoming)
    assert message == (
        "The address internal.corp.test (10.0.0.5) is a private address, not a public one; "
        "it was not downloaded."
    )
    assert dns.lookups == ["clips.cdn.test", "internal.corp.test"]
