"""Real and hostile files for the asset checks, made in memory (or in a test's tmp_path)."""

import io
import struct
import wave
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.generations.factories import render_mp4


def image_bytes(size=(640, 480), fmt="PNG", colour=(200, 80, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, fmt)
    return buffer.getvalue()


def wav_bytes(seconds=3.0, rate=8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        samples = int(seconds * rate)
        out.writeframes(b"".join(struct.pack("<h", (i * 500) % 30000) for i in range(samples)))
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(side=12000) -> bytes:
    """A real PNG of side×side grey pixels in a few hundred kilobytes: decoded, it would
    take side² bytes (144 MB at 12000)."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def mp4_bytes(tmp_path, *, seconds=3.0, size=(640, 640), fps=24, name="clip.mp4") -> bytes:
    return render_mp4(tmp_path / name, seconds=seconds, size=size, fps=fps).read_bytes()


def upload(name, content, content_type="application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)
