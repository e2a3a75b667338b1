"""Fault injection for the vendor sandbox.

A sandbox task can be told to misbehave in two ways, merged with the prompt winning:

* **markers in the prompt**, anywhere in the text, case-insensitive::

      [[fault:NAME]]   [[fault:NAME:ARG]]   [[latency:SECONDS]]

  e.g. ``"A red kite over the sea [[fault:fail_after:2]] [[latency:0.5]]"``.
  Markers stay in the prompt (the rendered clip shows them). A marker the sandbox
  does not know is ignored, as a vendor would ignore it, and logged.
* **a SandboxKey row** whose ``key_prefix`` starts the API key (longest prefix wins), with
  a ``faults`` JSON object in the same vocabulary: ``{"latency": 1.5, "429": 5,
  "dup_callback": true}``. ``true`` means "with the default argument". Arguments are
  numbers of zero or more, except ``charge`` (any number, negative too) and
  ``video_size`` (a text such as ``"2600x2"``).

| marker                        | applies to | effect                                                           |
|-------------------------------|------------|------------------------------------------------------------------|
| ``[[latency:S]]``             | create, every query and cancel | sleep S seconds before answering             |
| ``[[fault:429]]`` ``[[fault:429:S]]`` | create | the vendor's 429 body, ``Retry-After: S`` (default 1); nothing stored |
| ``[[fault:402]]``             | create     | the vendor's insufficient-credits answer; nothing stored         |
| ``[[fault:500]]``             | create     | the vendor's 500 answer; nothing stored                          |
| ``[[fault:timeout]]`` ``[[fault:timeout:S]]`` | create | the task is stored, then the answer hangs S seconds (default ``SANDBOX_HANG_SECONDS``): a read timeout *after* the vendor accepted the task |
| ``[[fault:malformed]]``       | create     | the task is stored, the 200 answer is truncated JSON             |
| ``[[fault:query_500:N]]`` ``[[fault:query_429:N]]`` ``[[fault:query_malformed:N]]`` | query | the first N queries (default 1) answer 500 / 429 / truncated JSON, later ones answer normally |
| ``[[fault:lost]]``            | query, cancel | create succeeds, then the vendor forgets the task: every query is the vendor's not-found, and no callback is sent |
| ``[[fault:fail_after:S]]``    | lifecycle  | the task fails S seconds after it was created (default 0) instead of succeeding |
| ``[[fault:dup_callback]]``    | callback   | the callback is POSTed twice                                     |
| ``[[fault:late_callback:S]]`` | callback   | the callback is POSTed S seconds after the task ended            |
| ``[[fault:output_404]]``      | output URL | the task succeeds but its output URL answers 404                 |
| ``[[fault:output_html]]``     | output URL | the output URL answers an HTML page labelled ``video/mp4``       |

Vendors that answer a little differently from their documents:

| marker                        | applies to | effect                                                           |
|-------------------------------|------------|------------------------------------------------------------------|
| ``[[fault:gateway:CODE]]``    | create     | the task is stored, then a gateway's HTML page answers CODE (502, 504, 520, 522 or 524; default 502), as if the vendor's answer was lost on the way |
| ``[[fault:query_404:N]]``     | query      | the first N queries (default 1) answer the vendor's not-found: a task not yet visible right after create |
| ``[[fault:query_404_at:K]]``  | query      | only the K-th query (default 2) answers not-found; the others answer normally |
| ``[[fault:charge:X]]``        | every answer with a charge | the charge reported is X, failed tasks included; X may be negative, zero, fractional or huge (aigptimage reports no charge) |
| ``[[fault:long_url:N]]``      | output URL | the output URL is padded with ``?pad=…`` to N characters (default 2500); it still serves the clip |
| ``[[fault:long_error:N]]``    | failure    | a failed task's error code is N characters (default 300) and its message 10×N, wherever the vendor reports them |
| ``[[fault:long_task_id:N]]``  | every answer | the task id handed out is N characters (default 300; 64 to 10000): the vendor's own id, a dot and filler; queries, cancel and callbacks use it |
| ``[[fault:oversized:N]]``     | query      | every answer about the task carries an extra ``padding`` field of N characters (default 3000000) |
| ``[[fault:wrong_types]]``     | query      | the status stays documented, other fields change JSON type: progress a word, charge an object, output URL a number or nested list, error a list (empty for none), timestamps text (seedanceapi_org's text timestamp a number) |
| ``[[fault:unknown_status:N]]`` | query     | the first N queries (default 1) report a status the document does not list (``rendering``; seedanceapi_org ``RENDERING``) |
| ``[[fault:no_output]]``       | lifecycle  | the task succeeds without an output URL: an empty list, a missing field or an empty string, as the vendor's shape allows |
| ``[[fault:regress]]``         | query      | once the task has succeeded, every even-numbered query (2nd, 4th, … counting all of the task's queries) reports it running at 99% |
| ``[[fault:video_size:WxH]]``  | output URL | the clip is rendered at exactly W×H pixels, ignoring SANDBOX_RENDER_SCALE; even sides of 2 to 8192 (H.264 needs even sides) |
| ``[[fault:slow_download:S]]`` | output URL | a GET of the whole file trickles its bytes in small chunks over S seconds (default 5) |
| ``[[fault:truncated_download]]`` | output URL | a GET of the whole file declares the full Content-Length, sends half of it and hangs up (byte ranges are served whole) |
| ``[[fault:early_callback]]``  | callback   | a callback announcing success goes out as soon as the task is created; queries still say queued or running, and the real end-of-task callback follows |
| ``[[fault:callback_garbage]]`` | callback  | the end-of-task callback's body is random bytes, not JSON |
| ``[[fault:cancel_500]]``      | cancel     | cancel (seedance2_ink) answers the vendor's 500 and cancels nothing |
| ``[[fault:never_finishes]]``  | lifecycle  | the task stays queued, then running at 99%, for ever: no end, no clip, no callback (a cancel still ends it) |
"""

import hashlib
import logging
import math
import re
import time
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger(__name__)

NOTHING = "nothing"
NUMBER = "number"
WHOLE = "whole number"
SIGNED = "signed number"
SIZE = "size"

GATEWAY_CODES = (502, 504, 520, 522, 524)
VIDEO_SIDE = (2, 8192)


@dataclass(frozen=True)
class Rule:
    """What a fault's argument may be, and what a bare ``[[fault:NAME]]`` means."""

    default: float | None = None  # the argument of a bare marker
    takes: str = NUMBER
    needs: str = ""  # set when a bare marker is not enough: what to give instead
    low: float = 0
    high: float = math.inf
    choices: tuple[int, ...] = ()


FLAG = Rule(takes=NOTHING)

FAULTS = {
    "latency": Rule(needs="a number of seconds"),
    "429": Rule(1.0),
    "402": FLAG,
    "500": FLAG,
    "timeout": Rule(),  # default read from SANDBOX_HANG_SECONDS when it fires
    "malformed": FLAG,
    "query_500": Rule(1.0),
    "query_429": Rule(1.0),
    "query_malformed": Rule(1.0),
    "lost": FLAG,
    "fail_after": Rule(0.0),
    "dup_callback": FLAG,
    "late_callback": Rule(0.0),
    "output_404": FLAG,
    "output_html": FLAG,
    # Vendors that answer a little differently from their documents.
    "gateway": Rule(502, takes=WHOLE, choices=GATEWAY_CODES),
    "query_404": Rule(1.0),
    "query_404_at": Rule(2, takes=WHOLE, low=1),
    "charge": Rule(takes=SIGNED, needs="a number of credits", low=-math.inf),
    "long_url": Rule(2500, takes=WHOLE, high=1_000_000),
    "long_error": Rule(300, takes=WHOLE, high=100_000),
    # Longer than any vendor's own id; short enough for a URL and a request line.
    "long_task_id": Rule(300, takes=WHOLE, low=64, high=10_000),
    "oversized": Rule(3_000_000, takes=WHOLE, high=100_000_000),
    "wrong_types": FLAG,
    "unknown_status": Rule(1.0),
    "no_output": FLAG,
    "regress": FLAG,
    "video_size": Rule(takes=SIZE, needs="a size such as 2600x2"),
    "slow_download": Rule(5.0),
    "truncated_download": FLAG,
    "early_callback": FLAG,
    "callback_garbage": FLAG,
    "cancel_500": FLAG,
    "never_finishes": FLAG,
}

# The faults that hit queries by their number, so queries must be counted.
COUNTED = (
    "query_404",
    "query_404_at",
    "query_429",
    "query_500",
    "query_malformed",
    "unknown_status",
    "regress",
)

MARKER = re.compile(r"\[\[\s*(fault|latency)\s*:\s*([^\]]*?)\s*\]\]", re.IGNORECASE)
SIZE_TEXT = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_markers(text: str) -> dict:
    """Return the faults named by markers in `text`, as {name: argument or True}."""
    found = {}
    for kind, spec in MARKER.findall(text or ""):
        if kind.lower() == "latency":
            name, _, arg = "latency", "", spec
        else:
            name, _, arg = spec.partition(":")
        name = name.strip().lower()
        try:
            found.update(clean_faults({name: arg.strip() or True}))
        except ValueError as exc:
            logger.warning("sandbox: ignoring fault marker %r: %s", spec, exc)
    return found


def clean_faults(data) -> dict:
    """Validate a faults mapping (a SandboxKey's JSON); raise ValueError on a bad entry."""
    if not isinstance(data, dict):
        raise ValueError('faults must be a JSON object such as {"429": 5, "latency": 1}')
    cleaned = {}
    for name, value in data.items():
        name = str(name).lower()
        rule = FAULTS.get(name)
        if rule is None:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        if value is True or value is None or value == "":
            if rule.needs:
                raise ValueError(f"{name} needs {rule.needs}")
            cleaned[name] = True
        elif value is False:
            continue
        else:
            cleaned[name] = _clean_argument(name, rule, value)
    return cleaned


def _clean_argument(name: str, rule: Rule, value):
    if rule.takes == NOTHING:
        raise ValueError(f"{name} takes no argument")
    if rule.takes == SIZE:
        return _clean_size(name, value)
    number = _number(value)
    if number is None:
        raise ValueError(f"{name} needs a number, not {value!r}")
    if rule.takes == WHOLE and number != int(number):
        raise ValueError(f"{name} needs a whole number, not {value!r}")
    if rule.takes != SIGNED and number < 0:
        raise ValueError(f"{name} cannot be negative")
    if rule.choices and number not in rule.choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, rule.choices))}")
    if not rule.low <= number <= rule.high:
        raise ValueError(f"{name} must be from {rule.low:g} to {rule.high:g}")
    if rule.takes == WHOLE:
        return int(number)
    # A huge charge keeps every digit; the other numbers are seconds and counts.
    return number if rule.takes == SIGNED else float(number)


def _number(value) -> int | float | None:
    """A finite number from JSON or marker text, None if `value` is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def _clean_size(name: str, value) -> str:
    match = SIZE_TEXT.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{name} needs a size such as 2600x2 (width x height), not {value!r}")
    low, high = VIDEO_SIDE
    width, height = int(match[1]), int(match[2])
    for side in (width, height):
        # H.264 in 4:2:0 cannot encode an odd side.
        if side % 2 or not low <= side <= high:
            raise ValueError(f"{name} needs even sides from {low} to {high} pixels, not {value!r}")
    return f"{width}x{height}"


def merge(key_faults: dict, prompt_faults: dict) -> dict:
    return {**key_faults, **prompt_faults}


def arg(faults: dict, name: str, default: float | None = None) -> float | None:
    """The numeric argument of fault `name`, its default when given as a flag, or None if absent."""
    if name not in faults:
        return None
    value = faults[name]
    if value is True:
        return FAULTS[name].default if default is None else default
    return float(value)


def length(faults: dict, name: str) -> int | None:
    """The whole-number argument of a length fault (long_url, oversized, …), or None."""
    value = arg(faults, name)
    return None if value is None else int(value)


def charge(faults: dict) -> int | float | None:
    """The charge [[fault:charge:X]] reports, a whole number when it is one, or None."""
    if "charge" not in faults:
        return None
    value = faults["charge"]
    return int(value) if value == int(value) else value


def video_size(faults: dict) -> tuple[int, int] | None:
    if "video_size" not in faults:
        return None
    width, _, height = faults["video_size"].partition("x")
    return int(width), int(height)


def hang_seconds(faults: dict) -> float:
    return arg(faults, "timeout", float(settings.SANDBOX_HANG_SECONDS))


def counts_queries(faults: dict) -> bool:
    return any(name in faults for name in COUNTED)


def query_failure(faults: dict, number: int) -> str | None:
    """Which failing answer, if any, query number `number` (1 for the first) gets."""
    if "query_404_at" in faults and number == arg(faults, "query_404_at"):
        return "query_404"
    for name in ("query_404", "query_429", "query_500", "query_malformed"):
        if in_first_queries(faults, name, number):
            return name
    return None


def in_first_queries(faults: dict, name: str, number: int) -> bool:
    """Whether query `number` is among the first N that fault `name` hits."""
    return name in faults and number <= arg(faults, name)


def regresses(faults: dict, number: int) -> bool:
    """Whether query `number` reports a finished task running again."""
    return "regress" in faults and number % 2 == 0


def stretch(text: str, size: int, separator: str = " ") -> str:
    """`text` repeated to exactly `size` characters."""
    repeats = size // (len(text) + len(separator)) + 1
    return separator.join([text] * repeats)[:size]


def long_task_id(task_id: str, size: int) -> str:
    """The vendor's own id, a dot (in no vendor's ids) and filler, `size` characters in all.

    The filler comes from the id itself, so the long id can be told from a made-up one
    without storing it.
    """
    filler = hashlib.sha256(task_id.encode()).hexdigest()
    return f"{task_id}." + stretch(filler, size - len(task_id) - 1, "")


def own_task_id(task_id: str) -> str:
    """The vendor's own id inside an id that `long_task_id` stretched."""
    return task_id.partition(".")[0]


def padded_url(url: str, size: int) -> str:
    """`url` with a query parameter that brings it to `size` characters (at least ?pad=)."""
    separator = "&" if "?" in url else "?"
    prefix = f"{url}{separator}pad="
    return prefix + "x" * max(0, size - len(prefix))


def sleep(seconds: float | None) -> None:
    """The one place the sandbox sleeps on a request thread; tests replace it."""
    if seconds:
        time.sleep(seconds)
