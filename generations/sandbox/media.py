"""The sandbox downloading a task's images, videos and audio, as a vendor does.

A vendor fetches the media URLs it is given when the task starts (here: on the render
thread, before the clip is drawn): a URL that answers 404, times out, is larger than the
vendor reads, or is not an image where an image is due fails the task (in the vendor's
failure words), never the create request, and never with a crash. Images are kept as PNG files next to the clips, so a clip rendered
after a restart still shows them; videos and audio are only fetched, not kept.

Anyone with a sandbox key chooses these URLs, so only the app's own (PUBLIC_BASE_URL,
where the asset library signs its files) are fetched from a private address; any other
must resolve to public addresses only, checked as the app's clip downloads check them.
Either way one deadline (SANDBOX_MEDIA_TIMEOUT) bounds the whole download, and the app's
own addresses are not followed where they redirect.
"""

import contextlib
import functools
import io
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings
from PIL import Image

from generations.media.fetch import FetchRefused, guarded_client, own_site_client

# A seam for tests, like callbacks.transport: an httpx.MockTransport serves the bytes.
transport: httpx.BaseTransport | None = None

# Images are shrunk to this long side when kept: clips are rendered far smaller.
KEPT_IMAGE_SIDE = 1920
CHUNK = 64 * 1024


@dataclass(frozen=True)
class MediaSpec:
    """The media of a create request, by the role the vendor's document gives each."""

    first_frame: str = ""
    last_frame: str = ""
    reference_images: tuple[str, ...] = ()
    videos: tuple[str, ...] = ()
    audios: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(
            self.first_frame
            or self.last_frame
            or self.reference_images
            or self.videos
            or self.audios
        )

    def as_dict(self) -> dict:
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, stored: dict) -> "MediaSpec":
        def urls(name):
            value = stored.get(name) or ()
            return tuple(url for url in value if isinstance(url, str))

        return cls(
            first_frame=str(stored.get("first_frame") or ""),
            last_frame=str(stored.get("last_frame") or ""),
            reference_images=urls("reference_images"),
            videos=urls("videos"),
            audios=urls("audios"),
        )

    def images(self) -> list[tuple[str, str]]:
        """(role, URL) of every image, in the order the vendor reads them."""
        frames = [("first_frame", self.first_frame), ("last_frame", self.last_frame)]
        references = [("reference_image", url) for url in self.reference_images]
        return [(role, url) for role, url in frames + references if url]


class MediaFailure(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


WHAT = {
    "first_frame": "the first frame image",
    "last_frame": "the last frame image",
    "reference_image": "a reference image",
    "video": "a reference video",
    "audio": "a reference audio clip",
}


def collect(media: MediaSpec, folder: Path, token: str) -> dict:
    """Fetch every URL of `media`; keep its images in `folder` as `<token>-….png`.

    Returns where the images are, as rendering.render_clip takes them
    ({"first_frame": path, "last_frame": path, "references": [paths]}); raises
    MediaFailure with the words a vendor would use.
    """
    kept: dict = {"first_frame": None, "last_frame": None, "references": []}
    folder.mkdir(parents=True, exist_ok=True)
    for number, (role, url) in enumerate(media.images()):
        image = _decoded_image(download(url, WHAT[role]), url, WHAT[role])
        path = folder / f"{token}-{number}.png"
        image.save(path, format="PNG")
        if role == "reference_image":
            kept["references"].append(str(path))
        else:
            kept[role] = str(path)
    for role, urls in (("video", media.videos), ("audio", media.audios)):
        for url in urls:
            download(url, WHAT[role])
    return kept


def download(url: str, what: str) -> bytes:
    limit = int(settings.SANDBOX_MEDIA_MAX_BYTES)
    timeout = float(settings.SANDBOX_MEDIA_TIMEOUT)
    failed = f"Could not download {what} ({shown(url)})"
    try:
        own = _is_own(url)
        with (
            _client_for(own, timeout) as client,
            # The app's signed addresses answer with the bytes: a redirect from one is
            # refused (its answer is not a success), never followed unchecked.
            client.stream("GET", url, timeout=timeout, follow_redirects=not own) as answer,
        ):
            if not answer.is_success:
                raise MediaFailure(f"{failed}: the server answered HTTP {answer.status_code}")
            body = bytearray()
            for chunk in answer.iter_bytes(CHUNK):
                body += chunk
                if len(body) > limit:
                    raise MediaFailure(f"{failed}: it is larger than {limit // 2**20} MB")
    except (httpx.TimeoutException, httpcore.TimeoutException):
        raise MediaFailure(f"{failed}: it timed out") from None
    except FetchRefused as exc:
        raise MediaFailure(f"{failed}: {exc}") from None
    except (ValueError, UnicodeError, httpcore.UnsupportedProtocol):
        # "https://[::1/", "https://xn--/": past the protocol's URL check, refused by the
        # URL parser or IDNA on the render thread, where nothing else would end the task.
        raise MediaFailure(f"{failed}: it is not an address that can be fetched") from None
    except (
        httpx.HTTPError,
        httpx.InvalidURL,
        httpcore.NetworkError,
        httpcore.ProtocolError,
    ) as exc:
        raise MediaFailure(f"{failed}: {type(exc).__name__}") from None
    return bytes(body)


def _is_own(url: str) -> bool:
    return str(httpx.URL(url)).startswith(settings.PUBLIC_BASE_URL.rstrip("/") + "/")


@contextlib.contextmanager
def _client_for(own: bool, timeout: float):
    """The tests' transport; else a client whose deadline bounds the whole download,
    checking addresses unless the URL is the app's own."""
    if transport is not None:
        yield _client(transport)  # cached, and kept open
        return
    with own_site_client(timeout) if own else guarded_client(timeout) as client:
        yield client


def shown(url: str) -> str:
    """A URL as an error may print it: without its query, which may hold a signature."""
    try:
        return urlsplit(url)._replace(query="", fragment="").geturl()[:200]
    except ValueError:  # "https://[::1/": not a URL, so no query to hide
        return url.split("?", 1)[0][:200]


def _decoded_image(data: bytes, url: str, what: str) -> Image.Image:
    most = int(settings.SANDBOX_MEDIA_MAX_PIXELS)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            width, height = opened.size
            if width * height > most:
                # Judged from the header: a small file can declare a huge picture.
                raise MediaFailure(
                    f"{what.capitalize()} ({shown(url)}) is {width}×{height} pixels, "
                    f"more than {most:,}"
                )
            image = opened.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise MediaFailure(f"{what.capitalize()} ({shown(url)}) is not an image") from None
    image.thumbnail((KEPT_IMAGE_SIDE, KEPT_IMAGE_SIDE))
    return image


@functools.cache
def _client(through: httpx.BaseTransport | None) -> httpx.Client:
    return httpx.Client(
        transport=through,
        follow_redirects=True,
        max_redirects=3,
        headers={"User-Agent": "seedance-sandbox/1.0"},
    )
