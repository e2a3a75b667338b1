"""The one place vendor HTTP clients are made, so every adapter times out the same way."""

import httpx

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
