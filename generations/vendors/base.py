"""What every vendor adapter offers the rest of the app, and the HTTP handling they share.

Shaped like healthchecks' transports: this base class sends requests and turns every
failure into one VendorError carrying its kind; each vendor module only states what the
vendor accepts (its Offers), builds its payloads, reads its bodies and names its odd
error codes.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from . import pricing
from .http import USER_AGENT, make_client

logger = logging.getLogger("generations.vendors")


class Family(StrEnum):
    """The model families a member picks from; vendors sell them under their own names."""

    SEEDANCE_2 = "seedance-2.0"
    SEEDANCE_2_FAST = "seedance-2.0-fast"
    SEEDANCE_2_MINI = "seedance-2.0-mini"
    SEEDANCE_15_PRO = "seedance-1.5-pro"

    @property
    def label(self) -> str:
        return _FAMILY_LABELS[self]


_FAMILY_LABELS = {
    Family.SEEDANCE_2: "Seedance 2.0",
    Family.SEEDANCE_2_FAST: "Seedance 2.0 Fast",
    Family.SEEDANCE_2_MINI: "Seedance 2.0 Mini",
    Family.SEEDANCE_15_PRO: "Seedance 1.5 Pro",
}


class Mode(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    REFERENCE = "reference"

    @property
    def label(self) -> str:
        return f"{self.value}-to-video"


@dataclass(frozen=True)
class VideoRequest:
    family: str
    prompt: str
    duration: int = 5
    aspect_ratio: str = "16:9"
    resolution: str = "720p"
    audio: bool = False
    mode: str = "text"
    image_urls: tuple[str, ...] = ()
    video_urls: tuple[str, ...] = ()
    audio_urls: tuple[str, ...] = ()
    seed: int | None = None
    upscale_4k: bool = False
    metadata: dict = field(default_factory=dict)  # e.g. {"projectId": ..., "sceneId": ...}

    def __post_init__(self):
        # Callers (and JSON) hand over lists; tuples keep the request immutable.
        for name in ("image_urls", "video_urls", "audio_urls"):
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))
        object.__setattr__(self, "metadata", dict(self.metadata or {}))

    def to_dict(self) -> dict:
        return {
            "family": str(self.family),
            "prompt": self.prompt,
            "duration": self.duration,
            "aspect_ratio": self.aspect_ratio,
            "resolution": self.resolution,
            "audio": self.audio,
            "mode": str(self.mode),
            "image_urls": list(self.image_urls),
            "video_urls": list(self.video_urls),
            "audio_urls": list(self.audio_urls),
            "seed": self.seed,
            "upscale_4k": self.upscale_4k,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, d: dict) -> VideoRequest:
        # Unknown keys are ignored so requests stored by an older or newer release load.
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in d.items() if key in known})


class TaskState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def finished(self) -> bool:
        return self not in (TaskState.QUEUED, TaskState.RUNNING)


@dataclass
class TaskSnapshot:
    task_id: str
    state: TaskState
    progress: int | None = None
    output_urls: list[str] = field(default_factory=list)
    charge_credits: Decimal | None = None
    error_code: str | None = None
    error_message: str | None = None
    raw: dict = field(default_factory=dict)
    # What the vendor said that was not believed, in words (see VendorAdapter.bounded).
    ignored: list[str] = field(default_factory=list)


@dataclass
class Created:
    task_id: str
    charge_credits: Decimal | None
    raw: dict
    ignored: list[str] = field(default_factory=list)


# Bounds on what a vendor may tell us; past them a value is ignored, and the event says so.
MAX_TASK_ID_CHARS = 500
MAX_URL_CHARS = 8192
MAX_ERROR_CODE_CHARS = 100
MAX_ERROR_MESSAGE_CHARS = 2000
MAX_CHARGE_CREDITS = Decimal(10) ** 9
MAX_BODY_BYTES = 8 * 2**20
_TASK_ID = re.compile(r"[!-~]+")  # printable ASCII, no spaces


def clean_task_id(value) -> str | None:
    """A vendor's task id as we can store and send it back, or None."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    if not 0 < len(text) <= MAX_TASK_ID_CHARS or not _TASK_ID.fullmatch(text):
        return None
    return text


def clean_output_url(value) -> str | None:
    """An http(s) URL of bounded length, or None."""
    if not isinstance(value, str) or len(value) > MAX_URL_CHARS or any(c.isspace() for c in value):
        return None
    return value if is_http_url(value) else None


def clean_charge(value) -> Decimal | None:
    """A charge in vendor credits we could believe: finite, not negative, not absurd."""
    amount = to_decimal(value)
    if amount is None or amount < 0 or amount >= MAX_CHARGE_CREDITS:
        return None
    return amount.quantize(Decimal("0.0001"))


def clean_text(value, limit: int) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:limit] or None


@dataclass
class CallbackHint:
    """Who a callback is about. Vendors don't sign callbacks: re-read the task to believe it."""

    task_id: str
    state: TaskState | None


class ErrorKind(StrEnum):
    BAD_REQUEST = "bad_request"  # fix the input
    AUTH = "auth"  # fix the key
    NO_CREDIT = "no_credit"  # top up at the vendor
    RATE_LIMITED = "rate_limited"  # retry later
    FAULT = "fault"  # vendor or network trouble: retry, or fail over
    UNKNOWN_OUTCOME = "unknown_outcome"  # a create may have gone through: never resend
    NOT_FOUND = "not_found"


class VendorError(Exception):
    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        vendor_code: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.vendor_code = vendor_code
        self.status_code = status_code
        self.retry_after = retry_after

    @property
    def retryable_elsewhere(self) -> bool:
        """True when a create surely was not accepted, so another vendor may take it."""
        return self.kind in (ErrorKind.RATE_LIMITED, ErrorKind.FAULT)

    def __reduce__(self):
        # Keyword-only arguments defeat Exception's default pickling (task queues pickle).
        return (type(self), (self.kind, self.message), self.__dict__)

    def __repr__(self) -> str:
        return f"VendorError({self.kind!s}, {self.message!r})"


@dataclass(frozen=True)
class Offer:
    """What one vendor accepts for one family, as its document states it."""

    model: str
    durations: tuple[int, ...]
    aspect_ratios: tuple[str, ...]
    resolutions: tuple[str, ...]
    modes: tuple[Mode, ...] = (Mode.TEXT,)


SECONDS_4_TO_15 = tuple(range(4, 16))

# 502 bad gateway, 504 gateway timeout; Cloudflare's 520 unknown error, 522 connection
# timed out and 524 timeout occur after the request may have reached the vendor.
GATEWAY_STATUSES = frozenset({502, 504, 520, 522, 524})


class _TooLarge(Exception):
    pass


# Raised before anything reached the vendor, so a create surely was not accepted.
_NOT_SENT = (
    httpx.InvalidURL,  # a broken base URL; not an httpx.HTTPError
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)

_STATUS_KINDS = {
    400: ErrorKind.BAD_REQUEST,
    401: ErrorKind.AUTH,
    402: ErrorKind.NO_CREDIT,
    403: ErrorKind.AUTH,
    408: ErrorKind.FAULT,  # the vendor gave up waiting for our body: nothing accepted
    422: ErrorKind.BAD_REQUEST,
    429: ErrorKind.RATE_LIMITED,
}

_SENTENCES = {
    ErrorKind.BAD_REQUEST: "{vendor} refused the request: {detail}.",
    ErrorKind.AUTH: "{vendor} refused the API key: {detail}. Check the key saved for this vendor.",
    ErrorKind.NO_CREDIT: "{vendor} says the account is out of credit: {detail}. Top up with the vendor.",
    ErrorKind.RATE_LIMITED: "{vendor} is limiting requests: {detail}.",
    ErrorKind.NOT_FOUND: "{vendor} has no such task: {detail}.",
    ErrorKind.FAULT: "{vendor} had a problem: {detail}.",
    ErrorKind.UNKNOWN_OUTCOME: (
        "{vendor} did not confirm the new task: {detail}. It may have been created and "
        "charged, so don't send it again before checking the task list at {vendor}."
    ),
}


class VendorAdapter:
    protocol: ClassVar[str]
    label: ClassVar[str]
    default_base_url: ClassVar[str]
    supports_cancel: ClassVar[bool] = False
    supports_callback: ClassVar[bool] = True
    offers: ClassVar[dict[Family, Offer]] = {}
    families: ClassVar[tuple[Family, ...]] = ()

    max_prompt_chars: ClassVar[int | None] = None
    has_audio_switch: ClassVar[bool] = False
    has_upscale: ClassVar[bool] = False
    create_path: ClassVar[str]
    # Vendor status string (lower-cased) -> our state; anything else is a FAULT.
    states: ClassVar[dict[str, TaskState]] = {}
    # HTTP statuses this vendor uses differently from the common table.
    status_kinds: ClassVar[dict[int, ErrorKind]] = {}
    # A task id no vendor will have, for test_connection.
    probe_task_id: ClassVar[str] = "seedance-studio-key-check"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.families = tuple(cls.offers)

    def __init__(
        self, api_key: str, base_url: str | None = None, client: httpx.Client | None = None
    ):
        self.api_key = api_key
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self._owns_client = client is None
        self.client = client or make_client()
        # Set once a request has left: an error after this may follow an accepted create.
        self.request_sent = False

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # --- what a vendor module provides -------------------------------------------

    def build_create_payload(self, request: VideoRequest, callback_url: str | None) -> dict:
        raise NotImplementedError

    def query_endpoint(self, task_id: str) -> tuple[str, dict | None]:
        """The path (and query parameters) that read one task."""
        raise NotImplementedError

    def read_created(self, body: dict) -> Created:
        raise NotImplementedError

    def read_task(self, body: dict, task_id: str) -> TaskSnapshot:
        raise NotImplementedError

    def callback_task(self, body: dict) -> tuple[Any, Any]:
        """(task id, vendor status) from a callback body; either may be None."""
        raise NotImplementedError

    def kind_for_code(self, code: str | None, status: int | None) -> ErrorKind | None:
        """The kind for a vendor's own error code, when its document names one."""
        return None

    def accepts_callback_url(self, url: str) -> bool:
        return self.supports_callback and is_http_url(url)

    # --- checking a request ------------------------------------------------------

    def check(self, request: VideoRequest) -> list[str]:
        try:
            family = Family(request.family)
        except ValueError:
            return [f"{self.label} does not know the model family {request.family!r}"]
        offer = self.offers.get(family)
        if offer is None:
            offered = join_choices([f.label for f in self.families])
            return [f"{self.label} does not offer {family.label}; it offers {offered}"]

        problems = self.check_prompt(request.prompt)
        for_family = f"for {family.label}"
        if request.mode not in offer.modes:
            modes = join_choices([Mode(m).label for m in offer.modes])
            problems.append(f"{self.label} offers {family.label} only as {modes}")
        duration = request.duration
        if isinstance(duration, bool) or duration not in offer.durations:
            problems.append(
                f"{self.label} accepts {describe_seconds(offer.durations)} {for_family}, not {duration!r}"
            )
        if self.sends_aspect_ratio(request) and request.aspect_ratio not in offer.aspect_ratios:
            problems.append(
                f"{self.label} accepts aspect ratios {join_choices(offer.aspect_ratios)} {for_family}, "
                f"not {request.aspect_ratio}"
            )
        if request.resolution not in offer.resolutions:
            problems.append(
                f"{self.label} accepts resolutions {join_choices(offer.resolutions)} {for_family}, "
                f"not {request.resolution}"
            )
        if request.audio and not self.has_audio_switch:
            problems.append(f"{self.label} has no setting for generated audio; turn audio off")
        if request.upscale_4k and not self.has_upscale:
            problems.append(f"{self.label} cannot upscale to 4K")
        if request.seed is not None:
            # No vendor documents a seed field, and we never send undocumented fields.
            problems.append(f"{self.label} does not accept a seed")
        if request.mode in offer.modes:
            problems += self.check_media(request, family)
        return problems

    @classmethod
    def prompt_rule(cls) -> str:
        """The prompt limit as a member reads it after the account's name; "" for none."""
        return f"takes up to {cls.max_prompt_chars:,} characters" if cls.max_prompt_chars else ""

    def check_prompt(self, prompt: str) -> list[str]:
        if not prompt or not prompt.strip():
            return [f"{self.label} needs a prompt"]
        if self.max_prompt_chars and len(prompt) > self.max_prompt_chars:
            return [
                f"{self.label} accepts prompts of at most {self.max_prompt_chars} characters; "
                f"this one has {len(prompt)}"
            ]
        return []

    def sends_aspect_ratio(self, request: VideoRequest) -> bool:
        return True

    def check_media(self, request: VideoRequest, family: Family) -> list[str]:
        """Media rules per mode; the base rule is text-only."""
        if request.image_urls or request.video_urls or request.audio_urls:
            return [f"{self.label} takes no images, videos or audio for text-to-video"]
        return []

    def count_problem(self, what: str, urls, low: int, high: int, mode: str) -> list[str]:
        count = len(urls)
        if not low <= count <= high:
            allowed = "no" if high == 0 else f"{low} to {high}" if high > low else str(low)
            return [f"{self.label} accepts {allowed} {what} for {Mode(mode).label}, not {count}"]
        return self.url_problem(what, urls)

    def url_problem(self, what: str, urls) -> list[str]:
        bad = [url for url in urls if not is_http_url(url)]
        return [f"{self.label} needs http(s) URLs for {what}, not {bad[0]!r}"] if bad else []

    # --- the calls ---------------------------------------------------------------

    def create(self, request: VideoRequest, callback_url: str | None = None) -> Created:
        problems = self.check(request)
        if problems:
            raise VendorError(ErrorKind.BAD_REQUEST, "; ".join(problems) + ".")
        if callback_url and not self.accepts_callback_url(callback_url):
            # The vendor would refuse the whole task over it; polling still finds the result.
            logger.info("%s: not sending a callback URL it cannot use", self.protocol)
            callback_url = None
        payload = self.build_create_payload(request, callback_url)
        body = self.send("POST", self.create_path, json_body=payload, creating=True)
        try:
            created = self.read_created(body)
        except VendorError:
            raise
        except Exception as exc:  # a body of unexpected types: it may still have been accepted
            raise self.fail(
                ErrorKind.UNKNOWN_OUTCOME, f"the answer could not be read ({type(exc).__name__})"
            ) from None
        charge = clean_charge(created.charge_credits)
        if charge is None and created.charge_credits is not None:
            created.ignored.append(self._ignored_charge(created.charge_credits))
        created.charge_credits = charge
        return created

    def query(self, task_id: str) -> TaskSnapshot:
        path, params = self.query_endpoint(task_id)
        body = self.send("GET", path, params=params)
        try:
            snapshot = self.read_task(body, task_id)
        except VendorError:
            raise
        except Exception as exc:  # a body of unexpected types is a vendor fault, not a crash
            raise self.fail(
                ErrorKind.FAULT, f"the task could not be read ({type(exc).__name__})"
            ) from None
        return self.bounded(snapshot)

    def bounded(self, snapshot: TaskSnapshot) -> TaskSnapshot:
        """Keep only what we can store and believe; say what was dropped.

        Vendors answering within their documents' words but not their examples send
        kilobyte URLs, 300-character codes, negative or absurd charges, progress as text.
        """
        urls = []
        for url in snapshot.output_urls or []:
            if clean_output_url(url) is not None:
                urls.append(url)
            else:
                shown = str(url)[:80] + ("…" if len(str(url)) > 80 else "")
                snapshot.ignored.append(
                    f"{self.label} gave an output address we cannot use "
                    f"({len(str(url))} characters: {shown!r}); it was ignored."
                )
        snapshot.output_urls = urls
        raw_charge = snapshot.charge_credits
        snapshot.charge_credits = clean_charge(raw_charge)
        if raw_charge is not None and snapshot.charge_credits is None:
            snapshot.ignored.append(self._ignored_charge(raw_charge))
        progress = snapshot.progress
        snapshot.progress = (
            to_progress(progress) if isinstance(progress, int | float | str) else None
        )
        snapshot.error_code = clean_text(snapshot.error_code, MAX_ERROR_CODE_CHARS)
        snapshot.error_message = clean_text(snapshot.error_message, MAX_ERROR_MESSAGE_CHARS)
        return snapshot

    def _ignored_charge(self, value) -> str:
        shown = str(value)[:40]
        return f"{self.label} reported a charge of {shown!r} credits, which cannot be right; it was ignored."

    def cancel(self, task_id: str) -> TaskSnapshot:
        raise VendorError(
            ErrorKind.BAD_REQUEST, f"{self.label} does not support cancelling a task."
        )

    def parse_callback(self, body: bytes) -> CallbackHint:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            data = None
        task_id, status = self.callback_task(data) if isinstance(data, dict) else (None, None)
        if not task_id or not isinstance(task_id, str | int):
            raise VendorError(
                ErrorKind.BAD_REQUEST, f"The {self.label} callback did not name a task."
            )
        state = self.states.get(str(status).strip().lower()) if status is not None else None
        return CallbackHint(task_id=str(task_id), state=state)

    def test_connection(self) -> str:
        path, params = self.query_endpoint(self.probe_task_id)
        try:
            self.send("GET", path, params=params)
        except VendorError as exc:
            # Asking for a task that does not exist is refused only after the key passed.
            if exc.kind in (ErrorKind.NOT_FOUND, ErrorKind.BAD_REQUEST):
                return "The key works."
            if exc.kind == ErrorKind.NO_CREDIT:
                return "The key works, but the account is out of credit."
            raise
        return "The key works."

    def quote(self, request: VideoRequest, price_rules: dict) -> Decimal:
        try:
            return pricing.quote_credits(request, price_rules)
        except pricing.PriceRuleError as exc:
            raise VendorError(
                ErrorKind.BAD_REQUEST,
                f"{self.label} cannot be priced: {exc}. An operator must fix its price rules.",
            ) from None

    # --- shared HTTP handling ----------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        *,
        json_body: dict | None = None,
        params: dict | None = None,
        creating: bool = False,
    ) -> dict:
        """One call to the vendor: a JSON object back, or a classified VendorError."""
        url = self.base_url + path
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        try:
            self.request_sent = True
            response, content = self._exchange(method, url, json_body, params, headers)
        except _NOT_SENT as exc:
            raise self.fail(ErrorKind.FAULT, f"could not connect ({_describe(exc)})") from None
        except httpx.HTTPError as exc:
            if creating:
                raise self.fail(ErrorKind.UNKNOWN_OUTCOME, _describe(exc)) from None
            raise self.fail(ErrorKind.FAULT, _describe(exc)) from None
        except _TooLarge:
            kind = ErrorKind.UNKNOWN_OUTCOME if creating else ErrorKind.FAULT
            raise self.fail(
                kind, f"the answer was larger than {MAX_BODY_BYTES // 2**20} MB"
            ) from None
        logger.info("%s %s %s -> %s", self.protocol, method, path, response.status_code)

        try:
            body = json.loads(content) if content else None
        except (ValueError, UnicodeDecodeError, RecursionError):
            body = None
        if response.is_success:
            if not isinstance(body, dict):
                kind = ErrorKind.UNKNOWN_OUTCOME if creating else ErrorKind.FAULT
                raise self.fail(kind, f"the answer was not JSON (HTTP {response.status_code})")
            if reports_failure(body):
                raise self.classify(reported_status(body), body, response, creating)
            return body
        raise self.classify(response.status_code, body, response, creating)

    def _exchange(self, method, url, json_body, params, headers) -> tuple[httpx.Response, bytes]:
        """Send one request and read at most MAX_BODY_BYTES of the answer."""
        with self.client.stream(
            method, url, json=json_body, params=params, headers=headers
        ) as response:
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise _TooLarge
                chunks.append(chunk)
        return response, b"".join(chunks)

    def classify(self, status, body, response: httpx.Response, creating: bool) -> VendorError:
        body = body if isinstance(body, dict) else {}
        code, message = error_details(body)
        kind = self.kind_for_code(code, status) or self.kind_for_status(status, creating)
        # A refusal inside an HTTP 200 would otherwise be explained as "OK".
        reason = None if response.is_success else response.reason_phrase
        detail = message or reason or "no explanation given"
        # Some vendors repeat the HTTP status as their code; say it once.
        shown_code = code if code and code != str(status) else None
        facts = ", ".join(
            fact for fact in (f"HTTP {status}" if status else None, shown_code) if fact
        )
        if facts:
            detail = f"{detail} ({facts})"
        retry_after = retry_after_seconds(response.headers, body)
        if kind == ErrorKind.RATE_LIMITED:
            detail += (
                f"; try again in {retry_after:g} seconds" if retry_after else "; try again later"
            )
        return self.fail(kind, detail, code=code, status=status, retry_after=retry_after)

    def kind_for_status(self, status: int | None, creating: bool) -> ErrorKind:
        if status is None:
            return ErrorKind.FAULT
        if status in self.status_kinds:
            return self.status_kinds[status]
        if status == 404:
            # On create a 404 means a wrong endpoint, so nothing was accepted.
            return ErrorKind.FAULT if creating else ErrorKind.NOT_FOUND
        if status in GATEWAY_STATUSES and creating:
            # A gateway in front of the vendor lost or timed out on its answer: the vendor
            # may have created (and will charge for) the task all the same.
            return ErrorKind.UNKNOWN_OUTCOME
        if status in _STATUS_KINDS:
            return _STATUS_KINDS[status]
        if 400 <= status < 500:
            return ErrorKind.BAD_REQUEST
        return ErrorKind.FAULT  # 5xx, and redirects we refuse to follow

    def fail(self, kind, detail, *, code=None, status=None, retry_after=None) -> VendorError:
        message = self.scrub(_SENTENCES[kind].format(vendor=self.label, detail=detail[:400]))
        logger.warning("%s: %s", self.protocol, message)
        return VendorError(
            kind,
            message,
            vendor_code=self.scrub(str(code)) if code is not None else None,
            status_code=status,
            retry_after=retry_after,
        )

    def scrub(self, text: str) -> str:
        # Some vendors echo the key back in their error text.
        return text.replace(self.api_key, "[API key]") if self.api_key else text

    # --- helpers for vendor modules ----------------------------------------------

    def offer_for(self, request: VideoRequest) -> Offer:
        try:
            return self.offers[Family(request.family)]
        except (KeyError, ValueError):
            raise VendorError(
                ErrorKind.BAD_REQUEST, f"{self.label} does not offer {request.family}."
            ) from None

    def created(self, task_id, charge, body: dict) -> Created:
        cleaned = clean_task_id(task_id)
        if cleaned is None:
            shown = (
                "no task id" if not task_id else f"a task id we cannot use ({str(task_id)[:60]!r})"
            )
            raise self.fail(ErrorKind.UNKNOWN_OUTCOME, f"the answer named {shown}")
        return Created(task_id=cleaned, charge_credits=to_decimal(charge), raw=body)

    def state_of(self, status) -> TaskState:
        if status is None or status == "":
            raise self.fail(ErrorKind.FAULT, "the task had no status")
        state = self.states.get(str(status).strip().lower())
        if state is None:
            raise self.fail(ErrorKind.FAULT, f"the task has a status we don't know: {status!r}")
        return state


# --- reading vendor bodies tolerantly ----------------------------------------------


def unwrap(body: dict) -> dict:
    """The task inside a `{code, message, data: {...}}` envelope, or the body itself."""
    data = body.get("data")
    return data if isinstance(data, dict) else body


def parse_json_string(value):
    """Some vendors send nested JSON as a string; read it either way."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def urls_from(value) -> list[str]:
    """URLs from a list of strings or of {url: ...} objects, or a single one of either."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    urls = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("url")
        if isinstance(item, str) and item:
            urls.append(item)
    return urls


def to_decimal(value) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None


def to_progress(value) -> int | None:
    try:
        progress = int(value)
    except (TypeError, ValueError):
        return None
    return max(0, min(100, progress))


def _body_code(body: dict):
    code = body.get("code")
    if isinstance(code, str) and code.isdigit():
        return int(code)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def reports_failure(body: dict) -> bool:
    """A 2xx body that still says no: `{success: false}` or an envelope code other than 200."""
    if body.get("success") is False:
        return True
    code = _body_code(body)
    return code is not None and code not in (0, 200)


def reported_status(body: dict) -> int | None:
    code = _body_code(body)
    return code if code is not None and 100 <= code <= 599 else None


_CODE_WORD = re.compile(r"[A-Z][A-Z0-9_]+")


def error_details(body: dict) -> tuple[str | None, str | None]:
    """(vendor code, vendor message) from the error shapes the five vendors use."""
    code = message = None
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message") or error.get("msg")
    elif isinstance(error, str):
        if _CODE_WORD.fullmatch(error):
            code = error
        else:
            message = error
    if code is None and isinstance(body.get("code"), str) and not body["code"].isdigit():
        code = body["code"]
    code = code if code is not None else body.get("error_code") or body.get("errorCode")
    message = (
        message
        or body.get("message")
        or body.get("msg")
        or body.get("error_message")
        or body.get("detail")
    )
    return (
        str(code) if code not in (None, "") else None,
        message if isinstance(message, str) and message else None,
    )


MAX_RETRY_AFTER_SECONDS = 3600.0


def retry_after_seconds(headers, body: dict) -> float | None:
    """The vendor's Retry-After, in seconds, at most an hour (a vendor's typo must not
    rest an account for decades, nor overflow a date)."""
    seconds = _retry_after(headers, body)
    return None if seconds is None else min(seconds, MAX_RETRY_AFTER_SECONDS)


def _retry_after(headers, body: dict) -> float | None:
    value = (headers.get("Retry-After") or "").strip()
    if value:
        try:
            seconds = float(value)
            return max(0.0, seconds) if seconds == seconds else None  # NaN: none given
        except (ValueError, OverflowError):
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    error = body.get("error")
    for holder in (body, error if isinstance(error, dict) else {}):
        for key in ("retry_after", "retryAfter"):
            seconds = holder.get(key)
            if isinstance(seconds, int | float) and not isinstance(seconds, bool):
                try:
                    seconds = float(seconds)
                except OverflowError:
                    return MAX_RETRY_AFTER_SECONDS
                if seconds == seconds:  # not NaN
                    return max(0.0, seconds)
    return None


def _describe(exc: Exception) -> str:
    # The class name says enough; httpx messages can carry the full URL.
    words = {
        "ConnectTimeout": "the connection timed out",
        "ConnectError": "the connection failed",
        "PoolTimeout": "no free connection",
        "ReadTimeout": "no answer in time",
        "WriteTimeout": "sending timed out",
        "RemoteProtocolError": "the connection broke off",
        "ReadError": "the connection broke off",
    }
    return words.get(type(exc).__name__, type(exc).__name__)


# --- small words and checks --------------------------------------------------------


def join_choices(items) -> str:
    items = [str(item) for item in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def describe_seconds(durations: tuple[int, ...]) -> str:
    values = sorted(durations)
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]} to {values[-1]} seconds"
    return f"{join_choices(values)} seconds"


def is_http_url(url: str, *, https_only: bool = False) -> bool:
    try:
        parts = urlsplit(url)
    except (TypeError, ValueError):
        return False
    schemes = ("https",) if https_only else ("http", "https")
    return parts.scheme in schemes and bool(parts.hostname)


def is_public_url(url: str, *, https_only: bool = False) -> bool:
    """An http(s) URL whose host a vendor on the internet could reach."""
    if not is_http_url(url, https_only=https_only):
        return False
    host = urlsplit(url).hostname
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." in host  # a dotless name only resolves on a private network
    return address.is_global
