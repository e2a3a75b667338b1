"""The sandbox's HTTP face: every vendor's create, query and cancel, and the clip files.

These are vendor APIs, so they are CSRF-exempt, speak JSON in the vendor's own words,
and answer bad input with the vendor's 4xx, never a 500.
"""

import json
import logging
import re
from pathlib import Path

from django.http import FileResponse, HttpResponse, HttpResponseNotFound, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from . import engine
from . import faults as fault_rules
from .models import SandboxKey, SandboxTask
from .protocols import PROTOCOLS
from .protocols.base import Kind, SandboxProtocol, VendorError

logger = logging.getLogger(__name__)

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
NOT_A_VIDEO = b"<!doctype html><html><head><title>Access denied</title></head><body><h1>Access denied</h1><p>This link has expired.</p></body></html>"


@csrf_exempt
def create_task(request, protocol):
    vendor = PROTOCOLS[protocol]
    refusal = _check_request(request, vendor, "POST")
    if refusal:
        return refusal
    key = engine.api_key(request)
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
        spec = vendor.parse_create(body)
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
    response = JsonResponse(vendor.created_body(task))
    if "timeout" in faults:
        # The task exists already: the client times out on a task it has paid for.
        fault_rules.sleep(fault_rules.hang_seconds(faults))
    if "malformed" in faults:
        return _truncated(response)
    return response


@csrf_exempt
def query_task(request, protocol, task_id=""):
    vendor = PROTOCOLS[protocol]
    refusal = _check_request(request, vendor, "GET")
    if refusal:
        return refusal
    task_id = task_id or request.GET.get(vendor.task_id_param, "")
    if not task_id:
        return vendor.error_response(vendor.missing_task_id())
    task = engine.find_task(vendor, engine.api_key(request), task_id)
    if task is None or "lost" in task.faults:
        return vendor.error_response(vendor.not_found())
    fault_rules.sleep(fault_rules.arg(task.faults, "latency"))

    failure = _query_failure(task)
    if failure == "query_429":
        return vendor.error_response(vendor.rate_limited(1))
    if failure == "query_500":
        return vendor.error_response(vendor.server_error())
    snap = engine.advance(task)
    response = JsonResponse(vendor.task_body(task, snap, engine.output_url(task)))
    return _truncated(response) if failure == "query_malformed" else response


@csrf_exempt
def cancel_task(request, protocol, task_id):
    vendor = PROTOCOLS[protocol]
    refusal = _check_request(request, vendor, "POST")
    if refusal:
        return refusal
    task = engine.find_task(vendor, engine.api_key(request), task_id)
    if task is None or "lost" in task.faults:
        return vendor.error_response(vendor.not_found())
    fault_rules.sleep(fault_rules.arg(task.faults, "latency"))
    if not engine.cancel(task):
        return vendor.error_response(vendor.not_cancellable())
    return JsonResponse(vendor.cancelled_body(task))


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
    return _file_response(request, task.output_path)


def _check_request(request, vendor: SandboxProtocol, method: str):
    """The vendor's answer to a wrong method or a missing or wrong key, else None."""
    if request.method != method:
        response = vendor.error_response(VendorError(Kind.NOT_ALLOWED, "Method not allowed"))
        response["Allow"] = method
        return response
    key = engine.api_key(request)
    if not engine.key_is_valid(key):
        return vendor.error_response(vendor.unauthorized(key_missing=not key))
    return None


def _query_failure(task: SandboxTask) -> str | None:
    """Which query fault, if any, this query meets: each hits the first N queries."""
    planned = [
        name for name in ("query_429", "query_500", "query_malformed") if name in task.faults
    ]
    if not planned:
        return None
    number = task.count_query()
    for name in planned:
        if number <= fault_rules.arg(task.faults, name):
            return name
    return None


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
