"""A stand-in for wherever task media live (the asset library's signed URLs, a CDN),
served through the sandbox's one seam for downloads: generations.sandbox.media.transport.

Any URL not set up answers a small grey PNG (or a few bytes for a video or audio
suffix), so no test reaches the network; `image()` serves a solid colour, `fail()` an
HTTP error.
"""

import io

import httpx
from PIL import Image

GREY = (128, 128, 128)


def png(colour, size=(64, 36)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


class MediaHost:
    def __init__(self):
        self.answers: dict[str, httpx.Response] = {}
        self.requested: list[str] = []

    def image(self, url: str, colour, size=(64, 36)) -> str:
        self.answers[url] = httpx.Response(200, content=png(colour, size))
        return url

    def serve(self, url: str, content: bytes, status: int = 200) -> str:
        self.answers[url] = httpx.Response(status, content=content)
        return url

    def fail(self, url: str, status: int = 404) -> str:
        return self.serve(url, b"Not Found", status)

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requested.append(url)
        if url in self.answers:
            answer = self.answers[url]
            return httpx.Response(answer.status_code, content=answer.content)
        if url.rsplit(".", 1)[-1].lower() in ("mp4", "mov", "m4v", "mp3", "wav"):
            return httpx.Response(200, content=b"\x00" * 256)
        return httpx.Response(200, content=png(GREY))

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)
