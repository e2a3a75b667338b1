"""Fault injection for the vendor sandbox.

A sandbox task can be told to misbehave in two ways, merged with the prompt winning:

* **markers in the prompt**, anywhere in the text, case-insensitive::

      [[fault:NAME]]   [[fault:NAME:ARG]]   [[latency:SECONDS]]

  e.g. ``"A red kite over the sea [[fault:fail_after:2]] [[latency:0.5]]"``.
  Markers stay in the prompt (the rendered clip shows them). A marker the sandbox
  does not know is ignored, as a vendor would ignore it, and logged.
* **a SandboxKey row** whose ``key_prefix`` starts the API key (longest prefix wins), with
  a ``faults`` JSON object in the same vocabulary: ``{"latency": 1.5, "429": 5,
  "dup_callback": true}``. ``true`` means "with the default argument".

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
"""

import logging
import re
import time

from django.conf import settings

logger = logging.getLogger(__name__)

# name -> default argument (None: the fault takes no argument).
FAULTS = {
    "latency": 0.0,
    "429": 1.0,
    "402": None,
    "500": None,
    "timeout": None,  # default read from SANDBOX_HANG_SECONDS when it fires
    "malformed": None,
    "query_500": 1.0,
    "query_429": 1.0,
    "query_malformed": 1.0,
    "lost": None,
    "fail_after": 0.0,
    "dup_callback": None,
    "late_callback": 0.0,
    "output_404": None,
    "output_html": None,
}

MARKER = re.compile(r"\[\[\s*(fault|latency)\s*:\s*([^\]]*?)\s*\]\]", re.IGNORECASE)


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
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        if value is True or value is None or value == "":
            if name == "latency":
                raise ValueError("latency needs a number of seconds")
            cleaned[name] = True
        elif value is False:
            continue
        else:
            if FAULTS[name] is None and name != "timeout":
                raise ValueError(f"{name} takes no argument")
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{name} needs a number, not {value!r}") from None
            if number < 0:
                raise ValueError(f"{name} cannot be negative")
            cleaned[name] = number
    return cleaned


def merge(key_faults: dict, prompt_faults: dict) -> dict:
    return {**key_faults, **prompt_faults}


def arg(faults: dict, name: str, default: float | None = None) -> float | None:
    """The numeric argument of fault `name`, its default when given as a flag, or None if absent."""
    if name not in faults:
        return None
    value = faults[name]
    if value is True:
        return FAULTS[name] if default is None else default
    return float(value)


def hang_seconds(faults: dict) -> float:
    return arg(faults, "timeout", float(getattr(settings, "SANDBOX_HANG_SECONDS", 30.0)))


def sleep(seconds: float | None) -> None:
    """The one place the sandbox sleeps on a request thread; tests replace it."""
    if seconds:
        time.sleep(seconds)
