"""Reading vendor bodies tolerantly: envelopes, JSON inside strings, URL lists, numbers,
error shapes and Retry-After; and the few words the checks are phrased with."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime


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
