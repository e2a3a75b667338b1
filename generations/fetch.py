"""Download a URL that a vendor (or anyone) gave us, without being turned against our own network.

Every hop is checked after DNS resolution: private, loopback, link-local,
multicast, reserved and metadata addresses are refused (IPv4, IPv6 and
IPv4-mapped forms), redirects are followed by hand and re-checked, and the body
is capped in size and time. A refused or failed download leaves no file behind.
"""

import hashlib
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
from django.conf import settings

MAX_REDIRECTS = 3
CHUNK = 64 * 1024


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
        return settings.PUBLIC_BASE_URL.rstrip("/") + "/sandbox/"
    return None


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            ip = mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str) -> None:
    """Refuse a URL whose scheme or resolved address is not for us to fetch."""
    prefix = sandbox_prefix()
    if prefix and url.startswith(prefix):
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchRefused(
            f"Only http and https addresses can be downloaded, not {parts.scheme!r}."
        )
    if not parts.hostname:
        raise FetchRefused("The address has no host name.")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchRefused(
            f"The host {parts.hostname} could not be found.", transient=True
        ) from None
    for info in infos:
        if not _is_public(info[4][0]):
            raise FetchRefused(
                f"The address {parts.hostname} points into a private network; it was not downloaded."
            )


def fetch_to_file(
    url: str,
    out,
    *,
    max_bytes: int,
    deadline_seconds: float,
    client: httpx.Client,
    accept=("video/mp4", "application/octet-stream", "binary/octet-stream"),
) -> Fetched:
    """Stream `url` into the open binary file `out`. The caller removes `out` on failure."""
    started = time.monotonic()
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url)
        try:
            with client.stream("GET", url) as response:
                if response.is_redirect:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchRefused("The server redirected without saying where to.")
                    url = urljoin(url, location)
                    continue
                if response.status_code != 200:
                    raise FetchRefused(
                        f"The clip could not be downloaded: the server answered {response.status_code}.",
                        transient=response.status_code >= 500,
                    )
                content_type = (
                    response.headers.get("content-type", "").split(";")[0].strip().lower()
                )
                if content_type not in accept:
                    raise FetchRefused(
                        f"The file is not a video (it says {content_type or 'nothing'})."
                    )
                length = response.headers.get("content-length")
                if length and length.isdigit() and int(length) > max_bytes:
                    raise FetchRefused(
                        f"The clip is larger than the {max_bytes // 2**20} MB limit."
                    )
                return _copy(response, out, max_bytes, started, deadline_seconds, content_type)
        except httpx.TimeoutException:
            raise FetchRefused("The download timed out.", transient=True) from None
        except httpx.TransportError as exc:
            raise FetchRefused(
                f"The download failed: {exc.__class__.__name__}.", transient=True
            ) from None
    raise FetchRefused("The server redirected too many times.")


def _copy(response, out, max_bytes, started, deadline_seconds, content_type) -> Fetched:
    digest = hashlib.sha256()
    total = 0
    head = b""
    for chunk in response.iter_bytes(CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise FetchRefused(f"The clip is larger than the {max_bytes // 2**20} MB limit.")
        if time.monotonic() - started > deadline_seconds:
            raise FetchRefused("The download took too long and was stopped.", transient=True)
        if len(head) < 12:
            head += chunk[: 12 - len(head)]
        digest.update(chunk)
        out.write(chunk)
    # Every MP4 starts with a box whose type, at bytes 4-8, is "ftyp".
    if head[4:8] != b"ftyp":
        raise FetchRefused("The file is not an MP4 video, whatever its label says.")
    return Fetched(bytes=total, sha256=digest.hexdigest(), content_type=content_type)
