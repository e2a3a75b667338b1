"""Download a URL that a vendor (or anyone) gave us, without being turned against our own network.

Each hop's host is resolved once, when the connection is opened, by the network
backend below: every address it resolves to must be public (IPv4, IPv6, and IPv4
inside IPv6: mapped, compatible, 6to4, NAT64), and the socket is opened to that
checked address itself. A name whose DNS answer changes between a check and the
connect (rebinding) therefore cannot reach inside. Redirects are followed by hand and
every hop goes through the same backend. One deadline bounds every connect, TLS
handshake, read and write, so a server that sends nothing, or a byte at a time, is cut
off on time; the body is capped in size and must start like an MP4.

The vendor sandbox (under PUBLIC_BASE_URL/sandbox/, or SANDBOX_BASE_URL/sandbox/ when
another process serves it; only when SANDBOX_ENABLED) is our own server, usually on
loopback: its URLs skip the address check but keep the deadline and every other check.
"""

import functools
import hashlib
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
from django.conf import settings

from seedance_site.instruments import counted_download

MAX_REDIRECTS = 3
# Per network operation; the whole download is bounded by `deadline_seconds` as well.
TIMEOUT = httpx.Timeout(10.0, read=30.0)
HEAD = 8

# Cloud metadata services: named in the refusal so an operator recognises the attack.
METADATA_ADDRESSES = {
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, OpenStack
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
}
# Not "global" to the IANA registries, but Python 3.11's is_global still says so.
NOT_PUBLIC_NETWORKS = [
    ipaddress.ip_network(n)
    for n in ("192.0.0.0/24", "64:ff9b:1::/48", "fec0::/10", "3fff::/20", "5f00::/16")
]
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class FetchRefused(Exception):
    """The download was refused or failed; the message says why in plain words."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


@dataclass
class Fetched:
    bytes: int
    sha256: str
    content_type: str


def sandbox_prefix() -> str | None:
    if settings.SANDBOX_ENABLED:
        base = settings.SANDBOX_BASE_URL or settings.PUBLIC_BASE_URL
        return base.rstrip("/") + "/sandbox/"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, where the network would route it so."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # IPv4-compatible ::a.b.c.d (deprecated)
        return ipaddress.IPv4Address(int(ip))
    return None


def non_public_reason(address: str) -> str | None:
    """What kind of address this is when it is not ours to fetch from, else None."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        ip = _embedded_ipv4(ip) or ip
    if ip in METADATA_ADDRESSES:
        return "cloud metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if not ip.is_global or any(ip in network for network in NOT_PUBLIC_NETWORKS):
        return "reserved"
    return None


def public_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, all of them public, or FetchRefused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise FetchRefused(f"The host {host} could not be found.", transient=True) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    # One bad answer refuses the name: a rebinding attacker mixes a public address in.
    for address in addresses:
        reason = non_public_reason(address)
        if reason:
            shown = host if host == address else f"{host} ({address})"
            article = "an" if reason[0] in "aeiou" else "a"
            raise FetchRefused(
                f"The address {shown} is {article} {reason} address, not a public one; "
                "it was not downloaded."
            )
    if not addresses:
        raise FetchRefused(f"The host {host} could not be found.", transient=True)
    return addresses


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every operation ends by the download's deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float):
        self._stream = stream
        self._deadline = deadline

    def _within(self, timeout: float | None, expired: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise expired("the download's deadline passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._within(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._within(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        timeout = self._within(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, timeout), self._deadline
        )

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Opens sockets only to the public addresses its own lookup found, before the deadline.

    TLS still verifies the certificate against the host name: httpcore passes the
    URL's host to start_tls, whatever address the socket went to.
    """

    def __init__(self, deadline: float, *, check_addresses: bool):
        self._backend = httpcore.SyncBackend()
        self._deadline = deadline
        self._check_addresses = check_addresses

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = public_addresses(host, port) if self._check_addresses else [host]
        failure = None
        for address in addresses:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise httpcore.ConnectTimeout("the download's deadline passed")
            try:
                stream = self._backend.connect_tcp(
                    address,
                    port,
                    timeout=left if timeout is None else min(timeout, left),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        raise failure


@functools.cache
def _ssl_context():
    return httpx.create_ssl_context()


class _ResponseBody(httpx.SyncByteStream):
    def __init__(self, stream):
        self._stream = stream

    def __iter__(self):
        yield from self._stream

    def close(self) -> None:
        self._stream.close()


class _PinnedTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool that uses `_PinnedBackend`.

    httpx's own HTTPTransport takes no network backend (encode/httpx#3749), so this
    is its handle_request, minus proxies (which would do their own DNS) and HTTP/2.
    httpcore's errors come through unmapped; fetch_to_file catches them.
    """

    def __init__(self, backend: httpcore.NetworkBackend):
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(), network_backend=backend, max_connections=1
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._pool.handle_request(
            httpcore.Request(
                method=request.method,
                url=httpcore.URL(
                    scheme=request.url.raw_scheme,
                    host=request.url.raw_host,
                    port=request.url.port,
                    target=request.url.raw_path,
                ),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
        )
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseBody(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def _client(deadline: float, *, check_addresses: bool) -> httpx.Client:
    backend = _PinnedBackend(deadline, check_addresses=check_addresses)
    return httpx.Client(
        transport=_PinnedTransport(backend),
        timeout=TIMEOUT,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "SeedanceStudio/1 (clip download)", "Accept-Encoding": "identity"},
    )


def guarded_client(deadline_seconds: float) -> httpx.Client:
    """A client whose every connection, redirects included, goes only to public
    addresses and ends by one deadline (the sandbox downloading task media uses it)."""
    return _client(time.monotonic() + deadline_seconds, check_addresses=True)


def public_client(seconds: float) -> httpx.Client:
    """A client that connects only to public addresses and gives up after `seconds` in
    all: for sending to an address a team typed (its webhook endpoint)."""
    return _client(time.monotonic() + seconds, check_addresses=True)


def own_site_client(deadline_seconds: float) -> httpx.Client:
    """A client for our own server's addresses (PUBLIC_BASE_URL): no address check, but
    the same one deadline, and no redirect followed (one would leave the trusted address
    unchecked)."""
    return _client(time.monotonic() + deadline_seconds, check_addresses=False)


def check_url(url: str) -> bool:
    """Refuse a URL we must never fetch; True when it is the sandbox's, on our own server."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number
        # Compared as httpx will send it, which resolves "/sandbox/../admin/" to "/admin/".
        sent = str(httpx.URL(url))
    except (ValueError, httpx.InvalidURL):
        raise FetchRefused("The address is not a valid URL.") from None
    prefix = sandbox_prefix()
    if prefix and sent.startswith(prefix):
        return True
    if parts.scheme not in ("http", "https"):
        raise FetchRefused(
            f"Only http and https addresses can be downloaded, not {parts.scheme!r}."
        )
    if not parts.hostname:
        raise FetchRefused("The address has no host name.")
    return False


def refusal(url: str) -> str | None:
    """Why `url` will not be downloaded, checked now (a typed address, before anyone waits
    on it); None when it may be. The download checks again, at every redirect."""
    try:
        if check_url(url):
            return None
        parts = urlsplit(url)
        public_addresses(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except FetchRefused as exc:
        return str(exc)
    return None


# Long on purpose: the redirect loop, its per-hop address checks and the cleanup on
# failure must be read together to see that no hop escapes the checks.
@counted_download
def fetch_to_file(
    url: str,
    out,
    *,
    max_bytes: int,
    deadline_seconds: float,
    accept=("video/mp4", "application/octet-stream", "binary/octet-stream"),
) -> Fetched:
    """Stream `url` into the open binary file `out`. The caller removes `out` on failure."""
    deadline = time.monotonic() + deadline_seconds
    try:
        for _ in range(MAX_REDIRECTS + 1):
            trusted = check_url(url)
            with (
                _client(deadline, check_addresses=not trusted) as client,
                client.stream("GET", url) as response,
            ):
                if response.is_redirect:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchRefused("The server redirected without saying where to.")
                    url = urljoin(url, location)
                    continue
                _check_response(response, accept, max_bytes)
                return _copy(response, out, max_bytes)
        raise FetchRefused(f"The server redirected more than {MAX_REDIRECTS} times.")
    except (httpx.TimeoutException, httpcore.TimeoutException):
        # A timeout cut short by the deadline fires at it, give or take the clock's grain.
        if time.monotonic() >= deadline - 0.05:
            raise FetchRefused(
                f"The download took longer than {deadline_seconds:g} seconds and was stopped.",
                transient=True,
            ) from None
        raise FetchRefused(
            "The server stopped sending; the download timed out.", transient=True
        ) from None
    except (
        httpx.HTTPError,
        httpx.InvalidURL,
        httpcore.NetworkError,
        httpcore.ProtocolError,
    ) as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            raise FetchRefused(
                f"The server's certificate is not valid for {urlsplit(url).hostname}; "
                "nothing was downloaded."
            ) from None
        raise FetchRefused(
            f"The download failed: {exc.__class__.__name__}.", transient=True
        ) from None
    except httpcore.UnsupportedProtocol:
        raise FetchRefused("Only http and https addresses can be downloaded.") from None


def _check_response(response: httpx.Response, accept, max_bytes: int) -> None:
    if response.status_code != 200:
        raise FetchRefused(
            f"The clip could not be downloaded: the server answered {response.status_code}.",
            transient=response.status_code >= 500,
        )
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in accept:
        raise FetchRefused(f"The file is not a video (it says {content_type or 'nothing'}).")
    length = response.headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length) > max_bytes:
        raise FetchRefused(f"The clip is larger than the {_megabytes(max_bytes)} limit.")


def _copy(response: httpx.Response, out, max_bytes: int) -> Fetched:
    digest = hashlib.sha256()
    total = 0
    head = b""
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > max_bytes:
            raise FetchRefused(f"The clip is larger than the {_megabytes(max_bytes)} limit.")
        if len(head) < HEAD:
            head += chunk[: HEAD - len(head)]
            _check_head(head, final=False)
        digest.update(chunk)
        out.write(chunk)
    _check_head(head, final=True)
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return Fetched(bytes=total, sha256=digest.hexdigest(), content_type=content_type)


def _check_head(head: bytes, *, final: bool) -> None:
    # Every MP4 starts with a box whose type, at bytes 4-8, is "ftyp". Checked as soon
    # as those bytes arrive, so a web page labelled video/mp4 is not downloaded whole.
    if (len(head) >= HEAD or final) and head[4:8] != b"ftyp":
        raise FetchRefused("The file is not an MP4 video, whatever its label says.")


def _megabytes(count: int) -> str:
    return f"{count / 2**20:g} MB"
