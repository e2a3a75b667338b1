"""POSTing a vendor's end-of-task callback, the way that vendor does it.

Runs on the engine's callback thread pool, never on a request thread, and never
raises: a callback that cannot be delivered is logged, as a vendor would shrug.
"""

import functools
import json
import logging
import time

import httpx

logger = logging.getLogger(__name__)

# Seams for tests: an httpx.MockTransport to capture what is sent, and the pause
# between retries (evolink's 1/2/4 s) so a test need not wait for it.
transport: httpx.BaseTransport | None = None
pause = time.sleep


def deliver(
    url: str,
    body: dict | bytes,
    *,
    timeout: float,
    retry_delays=(),
    copies: int = 1,
    label="",
    headers: dict | None = None,
):
    """POST `body` to `url` `copies` times, each with the vendor's retries after a failure.

    A dict goes as JSON; bytes go as they are, still labelled JSON, as a broken vendor
    would send them ([[fault:callback_garbage]]).
    """
    client = _client(transport)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    for _ in range(copies):
        _post_with_retries(client, url, content, headers or {}, retry_delays, label, timeout)


@functools.cache
def _client(through: httpx.BaseTransport | None) -> httpx.Client:
    """One client per transport (tests swap it in): a new one loads the CA bundle, some
    17 ms of CPU, more than rendering a benchmark's clip. No connection is kept between
    callbacks, as a vendor keeps none: a kept one would hold a server thread open (and,
    on a test's live server, its database session)."""
    return httpx.Client(
        transport=through,
        follow_redirects=False,
        headers={"User-Agent": "seedance-sandbox/1.0"},
        limits=httpx.Limits(max_keepalive_connections=0),
    )


def _post_with_retries(
    client: httpx.Client, url: str, content: bytes, headers: dict, retry_delays, label, timeout
) -> bool:
    for attempt, delay in enumerate((0, *retry_delays), start=1):
        if delay:
            pause(delay)
        try:
            response = client.post(
                url,
                content=content,
                headers={"Content-Type": "application/json", **headers},
                timeout=timeout,
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            logger.warning(
                "sandbox: callback for %s to %s failed (try %d): %s", label, url, attempt, exc
            )
            continue
        if response.is_success:
            return True
        logger.warning(
            "sandbox: callback for %s to %s answered %s (try %d)",
            label,
            url,
            response.status_code,
            attempt,
        )
    return False
