"""Calling a vendor: one client per process, and every failure turned into one
VendorError carrying its kind (bad request, auth, no credit, rate-limited, fault, unknown
outcome, not found), in words a member understands, with the key scrubbed out."""

import json
import logging
from typing import ClassVar

import httpx

from seedance_site.instruments import timed_vendor_call

from .bounds import MAX_BODY_BYTES
from .parsing import error_details, reported_status, reports_failure, retry_after_seconds
from .types import ErrorKind, VendorError

logger = logging.getLogger("generations.vendors")

USER_AGENT = "SeedanceStudio/0.1"

# Explicit on every phase: httpx's 5 s default read timeout is shorter than some
# vendors take to accept a job, and an unbounded pool wait would stall a worker.
TIMEOUT = httpx.Timeout(connect=5, read=20, write=20, pool=5)


def make_client(**overrides) -> httpx.Client:
    options = {
        "timeout": TIMEOUT,
        "headers": {"User-Agent": USER_AGENT},
        # A vendor that redirects an API call is misconfigured (wrong base URL, http
        # instead of https); following it could replay a paid POST elsewhere.
        "follow_redirects": False,
    }
    options.update(overrides)
    return httpx.Client(**options)


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


class VendorHttp:
    """The HTTP half of an adapter: send a request, read a bounded JSON answer, classify."""

    protocol: ClassVar[str]
    label: ClassVar[str]
    default_base_url: ClassVar[str]
    # HTTP statuses this vendor uses differently from the common table.
    status_kinds: ClassVar[dict[int, ErrorKind]] = {}

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

    def authorization(self) -> str:
        """The Authorization header's value; most vendors take a bearer key."""
        return f"Bearer {self.api_key}"

    def kind_for_code(self, code: str | None, status: int | None) -> ErrorKind | None:
        """The kind for a vendor's own error code, when its document names one."""
        return None

    # --- shared HTTP handling ----------------------------------------------------

    @timed_vendor_call
    def send(
        self,
        method: str,
        path: str,
        *,
        json_body: dict | None = None,
        params: dict | None = None,
        creating: bool = False,
        empty_ok: bool = False,
    ) -> dict:
        """One call to the vendor: a JSON object back, or a classified VendorError.

        `path` is under the base URL, or a whole URL the vendor handed out (the caller
        checks it is on the vendor's own host). `empty_ok`: an empty 2xx answer is {}."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        headers = {
            "Authorization": self.authorization(),
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
            if empty_ok and not content.strip():
                return {}
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
