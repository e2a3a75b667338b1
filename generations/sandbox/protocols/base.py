"""What every simulated vendor shares; each vendor module only says how it speaks.

A protocol parses a create body into a `TaskSpec` (or raises `VendorError` with the
vendor's own code), and turns a task's `Snapshot` into the vendor's response, callback
and error bodies. The engine and the views do everything else.
"""

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from django.http import JsonResponse

from ..media import MediaSpec
from ..models import SandboxTask, Snapshot


class Kind:
    """What went wrong, before a vendor puts it in its own words and status code."""

    BAD_REQUEST = "bad_request"  # the body is not what the API takes at all
    INVALID = "invalid"  # a field has a value the vendor refuses
    UNAUTHORIZED = "unauthorized"
    NO_CREDIT = "no_credit"
    NOT_FOUND = "not_found"
    NOT_ALLOWED = "not_allowed"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"


STATUS = {
    Kind.BAD_REQUEST: 400,
    Kind.INVALID: 400,
    Kind.UNAUTHORIZED: 401,
    Kind.NO_CREDIT: 402,
    Kind.NOT_FOUND: 404,
    Kind.NOT_ALLOWED: 405,
    Kind.CONFLICT: 409,
    Kind.RATE_LIMITED: 429,
    Kind.SERVER_ERROR: 500,
}


class VendorError(Exception):
    def __init__(self, kind, message, *, code=None, param=None, extra=None, headers=None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code  # the vendor's own code when it documents one
        self.param = param  # the offending field, for vendors that name it
        self.extra = extra or {}  # documented extra fields (kinovi's limit/current)
        self.headers = headers or {}


@dataclass
class TaskSpec:
    """A create request as the vendor understood it, defaults applied."""

    model: str
    prompt: str
    duration: float
    aspect_ratio: str
    resolution: str  # 480p, 720p, 1080p or 4k: picks the pixel size
    audio: bool = False
    callback_url: str = ""
    charge: int | None = None
    media: MediaSpec = field(default_factory=MediaSpec)


class SandboxProtocol(ABC):
    name = ""
    create_path = ""
    query_path = ""  # may hold <str:task_id>
    task_id_param = ""  # the query-string name when the id is not in the path
    cancel_path = ""  # may equal query_path when the vendor cancels with another method
    cancel_method = "POST"
    created_status = 200  # the HTTP status of an accepted create
    cancelled_status = 200
    auth_scheme = "bearer"  # the Authorization scheme its keys travel in
    callback_retry_delays: tuple[float, ...] = ()
    callback_timeout: float | None = None  # None: SANDBOX_CALLBACK_TIMEOUT
    status = STATUS
    status_path: tuple[str, ...] = ("status",)  # where a task answer names the status
    undocumented_status = "rendering"  # a status the vendor's document does not list
    # The error code of a task whose media could not be downloaded (see media.py).
    media_failure_code = "invalid_media"

    # Subclasses say how the vendor speaks.

    @abstractmethod
    def new_task_id(self) -> str: ...

    @abstractmethod
    def parse_create(self, body: dict) -> TaskSpec:
        """Validate a create body as the vendor does; raise VendorError on a refusal."""

    @abstractmethod
    def created_body(self, task: SandboxTask) -> dict: ...

    @abstractmethod
    def task_body(self, task: SandboxTask, snap: Snapshot, output_url: str) -> dict: ...

    @abstractmethod
    def error_body(self, error: VendorError, status: int) -> dict: ...

    def callback_body(self, task: SandboxTask, snap: Snapshot, output_url: str) -> dict:
        return self.task_body(task, snap, output_url)

    def callback_headers(self, task: SandboxTask, content: bytes) -> dict:
        """Headers a callback carries beyond its JSON type (a signature, where signed)."""
        return {}

    def parse_request(self, body: dict, route: dict, query) -> TaskSpec:
        """A create as the vendor reads it: from its body, and for vendors that name the
        model in the path or a callback in the query string, from those too."""
        return self.parse_create(body)

    def extra_routes(self) -> list[tuple[str, str, str, dict]]:
        """(path, view name in views, route name, view arguments) beyond create, query
        and cancel; they are matched before those."""
        return []

    def can_cancel(self, snap: Snapshot) -> bool:
        return not snap.terminal

    @abstractmethod
    def mistyped(self, body: dict) -> dict:
        """A task answer with its status as documented and other fields of the wrong JSON
        type ([[fault:wrong_types]]): progress a word, charge an object, output URL a
        number or nested list, error a list, timestamps text."""

    # Shared.

    def with_status(self, body: dict, status: str) -> dict:
        """A task answer that names `status` where the status goes."""
        *outer, name = self.status_path
        inner = body
        for key in outer:
            inner = inner[key]
        inner[name] = status
        return body

    def error_response(self, error: VendorError) -> JsonResponse:
        status = self.status[error.kind]
        response = JsonResponse(self.error_body(error, status), status=status)
        for header, value in error.headers.items():
            response[header] = value
        return response

    def unauthorized(self, key_missing: bool) -> VendorError:
        message = "Missing Authorization header" if key_missing else "Invalid API key"
        return VendorError(Kind.UNAUTHORIZED, message)

    def not_found(self) -> VendorError:
        return VendorError(Kind.NOT_FOUND, "Task not found")

    def missing_task_id(self) -> VendorError:
        return self.not_found()

    def malformed_body(self) -> VendorError:
        return VendorError(Kind.BAD_REQUEST, "Request body must be a JSON object")

    def rate_limited(self, retry_after: float) -> VendorError:
        seconds = max(1, math.ceil(retry_after))
        return VendorError(
            Kind.RATE_LIMITED,
            "Too many requests: rate limit exceeded, retry later",
            headers={
                "Retry-After": str(seconds),
                "X-RateLimit-Limit": "3",
                "X-RateLimit-Remaining": "0",
            },
        )

    def insufficient_credits(self, charge: int | None) -> VendorError:
        return VendorError(Kind.NO_CREDIT, "Insufficient credits")

    def server_error(self) -> VendorError:
        return VendorError(Kind.SERVER_ERROR, "Internal server error, retry later")

    def not_cancellable(self) -> VendorError:
        return VendorError(Kind.CONFLICT, "Only queued or processing tasks can be cancelled")


# Small readers for request fields; each returns None when the value does not fit.


def whole_number(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def one_of(value, options) -> bool:
    """Whether `value` is one of the string `options` (a list or dict body is not)."""
    return isinstance(value, str) and value in options


def text(value) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def url_list(value, *, schemes=("http", "https")) -> list[str] | None:
    """A list of absolute URLs (None if it is not one); a missing field is an empty list."""
    if value is None:
        return []
    if not isinstance(value, list):
        return None
    for item in value:
        if not isinstance(item, str):
            return None
        try:
            parts = urlsplit(item)
        except ValueError:  # "https://[::1/": a 400, as a vendor answers, never a 500
            return None
        if parts.scheme not in schemes or not parts.netloc:
            return None
    return value


def as_text(value) -> str:
    """A value written as text, the way a loosely typed backend does; "" for nothing."""
    return "" if value is None else str(value)


def as_object(charge) -> dict:
    return {"amount": charge, "unit": "credits"}


def as_list(error: dict | None) -> list:
    """An error object as the list of its values; an empty list for no error."""
    return list(error.values()) if error else []


def epoch_ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def credits(rate, seconds) -> int:
    """Rate × seconds rounded up, the way the vendors bill fractions."""
    return math.ceil(rate * seconds)
