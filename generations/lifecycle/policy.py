"""How patient to be with vendors: cooldowns after their errors, back-off between polls."""

import logging
import random

from django.conf import settings

from generations.vendors import ErrorKind, VendorError

log = logging.getLogger(__name__)


def note_vendor_error(account, exc: VendorError) -> None:
    cooldown = None
    if exc.kind == ErrorKind.RATE_LIMITED:
        base = exc.retry_after or settings.VENDOR_COOLDOWN_SECONDS * 2 ** min(
            account.consecutive_errors, 5
        )
        cooldown = base * random.uniform(1.0, 1.25)  # noqa: S311 - jitter, not security
    elif exc.kind in (ErrorKind.AUTH, ErrorKind.NO_CREDIT):
        cooldown = settings.VENDOR_ACCOUNT_PROBLEM_COOLDOWN_SECONDS
    elif exc.kind == ErrorKind.FAULT:
        cooldown = settings.VENDOR_COOLDOWN_SECONDS if account.consecutive_errors >= 2 else None
    account.note_error(exc.message, cooldown)


def seconds_to_next_check(checks: int, called_back: bool) -> float:
    """How long to wait before asking the vendor again, after `checks` checks.

    Polls start often and back off to GENERATION_POLL_MAX_SECONDS. A vendor that was
    given our callback URL tells us when the task ends, so then polling is only a
    safety net against a lost callback, and far slower.
    """
    longest = settings.GENERATION_POLL_MAX_SECONDS
    if called_back:
        delay = settings.GENERATION_CALLBACK_POLL_SECONDS or 4 * longest
    else:
        delay = min(settings.GENERATION_POLL_FIRST_SECONDS * 1.5**checks, longest)
    # Jobs sent together would keep being polled together, in waves that the sweep
    # works through seconds late; a little randomness spreads them out.
    return delay * random.uniform(0.8, 1.0)  # noqa: S311 - jitter, not security
