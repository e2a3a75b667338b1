"""Bounds on what a vendor may tell us; past them a value is ignored, and the job's event
says so. Vendors answering within their documents' words but not their examples send
kilobyte URLs, 300-character codes, negative or absurd charges."""

from __future__ import annotations

import ipaddress
import json
import re
from decimal import Decimal
from urllib.parse import urlsplit

from .parsing import to_decimal

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
