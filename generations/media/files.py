"""Stored files served over HTTP, honouring one `Range`, so players can seek and resume:
clips, posters and storyboard exports. From a bucket they are a redirect to a
short-lived presigned URL (the bucket honours Range itself), else streamed."""

import re

from django.http import Http404, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.utils.http import content_disposition_header

from generations.media import storage as media_storage

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# Past any file's size; a longer number (Python refuses int() of 4300 digits) means as much.
FAR = 10**18


def _position(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) < 18 else FAR


def _parse_range(header: str, size: int):
    """(start, end) inclusive for one byte range; None to send it all; "bad" when unsatisfiable.

    Several ranges at once are answered with the whole file, which RFC 9110 allows.
    """
    match = RANGE.match(header.strip())
    if not match:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        length = _position(last)
        if length == 0 or size == 0:
            return "bad"
        return max(size - length, 0), size - 1
    start = _position(first)
    end = min(_position(last), size - 1) if last else size - 1
    if start >= size or (last and _position(last) < start):
        return "bad"
    return start, end


def _streamed(chunks, close):
    try:
        yield from chunks
    finally:
        close()


def stored_file_response(request, fieldfile, content_type, *, filename, download=False, etag=None):
    """A member's copy of a stored file, after the caller's access check: a redirect to a
    presigned URL when it is in a bucket, else the file streamed with Range."""
    if not fieldfile or not fieldfile.name:
        raise Http404("No such file.")
    url = media_storage.presigned_url(
        fieldfile.storage,
        fieldfile.name,
        filename=filename,
        content_type=content_type,
        download=download,
    )
    if url is None:
        return ranged_file_response(
            request, fieldfile, content_type, filename=filename, download=download, etag=etag
        )
    response = HttpResponseRedirect(url)
    # The URL expires within minutes: no cache may hand it out later.
    response["Cache-Control"] = "private, no-store"
    return response


def ranged_file_response(request, fieldfile, content_type, *, filename, download=False, etag=None):
    """Stream a stored file, honouring one `Range`, so players can seek and resume."""
    if not fieldfile or not fieldfile.name:
        raise Http404("No such file.")
    storage = fieldfile.storage
    try:
        size = storage.size(fieldfile.name)
    except (FileNotFoundError, OSError):
        raise Http404("The file is missing from storage.") from None
    tag = f'"{etag}"' if etag else None
    wanted = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if wanted and if_range and if_range != tag:
        wanted = None  # the client's copy is of another version: send it all
    span = _parse_range(wanted, size) if wanted else None
    if span == "bad":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response
    start, end = span or (0, size - 1)
    length = max(end - start + 1, 0)
    chunks, close = media_storage.open_range(storage, fieldfile.name, start, end)
    response = StreamingHttpResponse(
        _streamed(chunks, close), status=206 if span else 200, content_type=content_type
    )
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if span:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    if tag:
        response["ETag"] = tag
    # Only the team may see it: browsers may keep it, shared caches may not.
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Disposition"] = content_disposition_header(download, filename)
    return response
