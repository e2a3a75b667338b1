"""The sandbox's HTTP face: every vendor's create, query and cancel, and the clip files.

These are vendor APIs, so they are CSRF-exempt, speak JSON in the vendor's own words,
and answer bad input with the vendor's 4xx, never a 500.
"""

import json
import logging
import math
import re
import socket
from pathlib import Path

from django.http import (
    FileResponse,
    HttpResponse,
    HttpResponseNotFound,
    JsonResponse,
    StreamingHttpResponse,
)
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from . import engine
from . import faults as fault_rules
from .models import SandboxKey, SandboxTask, Snapshot, State
from .protocols import PROTOCOLS
from .protocols.base import Kind, SandboxProtocol, VendorError

logger = logging.getLogger(__name__)

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
NOT_A_VIDEO = b"<!doctype html><html><head><title>Access denied</title></head><body><h1>Access denied</h1><p>This link has expired.</p></body></html>"
# What the proxy in front of a vendor says when the vendor's answer never reaches it.
GATEWAY_ERRORS = {
    502: ("Bad Gateway", "nginx"),
    504: ("Gateway Timeout", "nginx"),
    520: ("Web server is returning an unknown error", "cloudflare"),
    522: ("Connection timed out", "cloudflare"),
    524: ("A timeout occurred", "cloudflare"),
}
TRICKLE_CHUNK = 1024


@csrf_exempt
def create_task(request, protocol, **route):
    vendor = PROTOCOLS[protocol]
    refusal = _check_request(request, vendor, "POST")
    if refusal:
        return refusal
    key = engine.api_key(request, vendor.auth_scheme)
    try:
        body = json.loads(request.body)
    except ValueError:  # also UnicodeDecodeError
        body = None
    if not isinstance(body, dict):
        return vendor.error_response(vendor.malformed_body())
    if _holds_nul(body):
        # PostgreSQL cannot store it; refuse it on every database alike.
        return vendor.error_response(
            VendorError(Kind.BAD_REQUEST, "Request body contains a NUL character")
        )
    try:
        spec = vendor.parse_request(body, route, request.GET)
    except VendorError as error:
        return vendor.error_response(error)

    faults = fault_rules.merge(SandboxKey.faults_for(key), fault_rules.parse_markers(spec.prompt))
    fault_rules.sleep(fault_rules.arg(faults, "latency"))
    if "429" in faults:
        return vendor.error_response(vendor.rate_limited(fault_rules.arg(faults, "429")))
    if "402" in faults:
        return vendor.error_response(vendor.insufficient_credits(spec.charge))
    if "500" in faults:
        return vendor.error_response(vendor.server_error())

    task = engine.create_task(vendor, key, body, spec, faults)
    response = JsonResponse(vendor.created_body(task), status=vendor.created_status)
    if "timeout" in faults:
        # The task exists already: the client times out on a task it has paid for.
        fault_rules.sleep(fault_rules.hang_seconds(faults))
    if "gateway" in faults:
        return _gateway_error(int(fault_rules.arg(faults, "gateway")))
    if "malformed" in faults:
        return _truncated(response)
    return response


@csrf_exempt
def task_endpoint(request, protocol, task_id, **route):
    """One address read with GET and cancelled with the vendor's other method."""
    if request.method == PROTOCOLS[protocol].cancel_method:
        return cancel_task(request, protocol, task_id, **route)
    return query_task(request, protocol, task_id, **route)


@csrf_exempt
def query_task(request, protocol, task_id="", *, answer="task_body", **route):
    vendor = PROTOCOLS[protocol]
    refusal = _check_request(request, vendor, "GET")
    if refusal:
        return refusal
    task_id = task_id or request.GET.get(vendor.task_id_param, "")
    if not task_id:
        return vendor.error_response(vendor.missing_task_id())
    task = engine.find_task(vendor, engine.api_key(request, vendor.auth_scheme), task_id)
    if task is None or "lost" in task.faults:
        return vendor.error_response(vendor.not_found())
    fault_rules.sleep(fault_rules.arg(task.faults, "latency"))

    number = task.count_query() if fault_rules.counts_queries(task.faults) else 0
    failure = fault_rules.query_failure(task.faults, number)
    if failure == "query_404":
        return vendor.error_response(vendor.not_found())
    if failure == "query_429":
        return vendor.error_response(vendor.rate_limited(1))
    if failure == "query_500":
        return vendor.error_response(vendor.server_error())
    snap = engine.advance(task)
    if answer != "task_body":
        # A second reading of the task (fal's result), in the vendor's own status code.
        status, body = getattr(vendor, answer)(task, snap, engine.output_url(task))
        return JsonResponse(body, status=status)
    response = JsonResponse(_task_answer(vendor, task, snap, number))
    return _truncated(response) if failure == "query_malformed" else response


@csrf_exempt
def cancel_task(request, protocol, task_id, **route):
    vendor = PROTOCOLS[protocol]
    refusal = _check_request(request, vendor, vendor.cancel_method)
    if refusal:
        return refusal
    task = engine.find_task(vendor, engine.api_key(request, vendor.auth_scheme), task_id)
    if task is None or "lost" in task.faults:
        return vendor.error_response(vendor.not_found())
    fault_rules.sleep(fault_rules.arg(task.faults, "latency"))
    if "cancel_500" in task.faults:
        return vendor.error_response(vendor.server_error())
    if not engine.cancel(task):
        return vendor.error_response(vendor.not_cancellable())
    return JsonResponse(vendor.cancelled_body(task), status=vendor.cancelled_status)


@csrf_exempt
def vendor_read(request, protocol, answer, **route):
    """A keyed GET the vendor answers from the key alone (Replicate's webhook secret)."""
    vendor = PROTOCOLS[protocol]
    refusal = _check_request(request, vendor, "GET")
    if refusal:
        return refusal
    return JsonResponse(getattr(vendor, answer)(engine.api_key(request, vendor.auth_scheme)))


@require_safe
def output_file(request, token):
    """The vendor's CDN: public, no key, byte ranges for players that seek."""
    task = SandboxTask.objects.filter(output_token=token).first()
    if task is None or "output_404" in task.faults:
        return HttpResponseNotFound("Not Found", content_type="text/plain")
    if "output_html" in task.faults:
        # A CDN error page that still claims to be the video.
        return HttpResponse(NOT_A_VIDEO, content_type="video/mp4")
    if not task.output_path.exists():
        return HttpResponseNotFound("Not Found", content_type="text/plain")
    # Only a download of the whole file misbehaves: a client resuming with a byte
    # range gets its bytes.
    if request.method == "GET" and not request.headers.get("Range"):
        if "truncated_download" in task.faults:
            return _cut_off_file(request, task.output_path)
        if "slow_download" in task.faults:
            seconds = fault_rules.arg(task.faults, "slow_download")
            return _trickled_file(task.output_path, seconds)
    return _file_response(request, task.output_path)


def _check_request(request, vendor: SandboxProtocol, method: str):
    """The vendor's answer to a wrong method or a missing or wrong key, else None."""
    if request.method != method:
        response = vendor.error_response(VendorError(Kind.NOT_ALLOWED, "Method not allowed"))
        response["Allow"] = method
        return response
    key = engine.api_key(request, vendor.auth_scheme)
    if not engine.key_is_valid(key):
        return vendor.error_response(vendor.unauthorized(key_missing=not key))
    return None


def _task_answer(vendor: SandboxProtocol, task: SandboxTask, snap: Snapshot, number: int):
    """The vendor's answer about a task, bent by the faults that change what it says.

    `number` is the query's number (1 for the first), 0 when no fault counts queries.
    """
    faults = task.faults
    if snap.state == State.SUCCEEDED and fault_rules.regresses(faults, number):
        snap = Snapshot(State.RUNNING, 99)
    body = vendor.task_body(task, snap, engine.output_url(task))
    if fault_rules.in_first_queries(faults, "unknown_status", number):
        body = vendor.with_status(body, vendor.undocumented_status)
    if "wrong_types" in faults:
        body = vendor.mistyped(body)
    if "oversized" in faults:
        body["padding"] = "x" * fault_rules.length(faults, "oversized")
    return body


def _gateway_error(status: int) -> HttpResponse:
    reason, server = GATEWAY_ERRORS[status]
    page = (
        f"<html><head><title>{status} {reason}</title></head><body>"
        f"<center><h1>{status} {reason}</h1></center><hr><center>{server}</center>"
        "</body></html>"
    )
    return HttpResponse(page, status=status, reason=reason, content_type="text/html")


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _truncated(response: HttpResponse) -> HttpResponse:
    content = response.content
    return HttpResponse(content[: max(1, len(content) // 2)], content_type="application/json")


def _trickled_file(path: Path, seconds: float) -> StreamingHttpResponse:
    """The whole clip in small chunks, spread over `seconds`."""
    content = path.read_bytes()
    chunks = [
        content[start : start + TRICKLE_CHUNK] for start in range(0, len(content), TRICKLE_CHUNK)
    ]
    pause = seconds / max(1, len(chunks))

    def trickle():
        for chunk in chunks:
            fault_rules.sleep(pause)
            yield chunk

    response = StreamingHttpResponse(trickle(), content_type="video/mp4")
    response["Content-Length"] = str(len(content))
    return response


def _cut_off_file(request, path: Path) -> StreamingHttpResponse:
    """The full Content-Length, then half the bytes, then the connection drops."""
    content = path.read_bytes()

    def half_then_hang_up():
        yield content[: math.ceil(len(content) / 2)]
        _hang_up(request.META)

    response = StreamingHttpResponse(half_then_hang_up(), content_type="video/mp4")
    response["Content-Length"] = str(len(content))
    return response


def _hang_up(environ: dict) -> None:
    """Shut the client's connection under a response that sent less than it promised.

    WSGI has no way to say so: a server handed fewer bytes than Content-Length keeps a
    kept-alive connection open, and the client waits for bytes that never come instead
    of seeing the body end early. So shut the socket itself, where the server lets us
    find it: gunicorn hands it over; Django's own server only through the reader of
    the request body. Elsewhere (the test client) the short body is all there is.
    """
    connection = environ.get("gunicorn.socket")
    if connection is not None:
        fileno = connection.fileno()
    else:
        reader = getattr(getattr(environ.get("wsgi.input"), "_read", None), "__self__", None)
        try:
            fileno = reader.fileno()
        except (AttributeError, OSError, ValueError):
            return
    try:
        # fromfd() works on a duplicate descriptor: shutting it down ends the
        # connection, closing it leaves the server's own descriptor to the server.
        with socket.fromfd(fileno, socket.AF_INET, socket.SOCK_STREAM) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        logger.debug("sandbox: could not hang up a truncated download", exc_info=True)


def _file_response(request, path: Path) -> HttpResponse:
    size = path.stat().st_size
    match = RANGE.match(request.headers.get("Range", "").strip())
    if not match or not (match[1] or match[2]):
        if request.method == "HEAD":
            response = HttpResponse(content_type="video/mp4")
            response["Content-Length"] = str(size)
        else:
            response = FileResponse(path.open("rb"), content_type="video/mp4")
        response["Accept-Ranges"] = "bytes"
        return response
    if match[1]:
        start = int(match[1])
        end = min(int(match[2]), size - 1) if match[2] else size - 1
    else:  # "bytes=-N": the last N bytes
        start, end = max(0, size - int(match[2])), size - 1
    if start >= size or start > end:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    with path.open("rb") as clip:
        clip.seek(start)
        chunk = clip.read(end - start + 1)
    response = HttpResponse(
        b"" if request.method == "HEAD" else chunk, status=206, content_type="video/mp4"
    )
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Content-Length"] = str(len(chunk))
    response["Accept-Ranges"] = "bytes"
    return response
