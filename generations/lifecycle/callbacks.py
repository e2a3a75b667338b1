"""Each generation's secret callback address (derived, so it never needs storing), and
the signature check of vendors that sign their callbacks."""

import hashlib
import hmac
import logging

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse

from generations import routing
from generations.models import Generation, VendorAccount
from generations.vendors import VendorError

log = logging.getLogger(__name__)
SECRET_CACHE_SECONDS = 24 * 3600
SECRET_REFETCH_SECONDS = 60


def callback_token(generation: Generation) -> str:
    """The secret in a generation's callback URL: derived, so it never needs storing."""
    message = f"callback:{generation.uuid}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def callback_url(generation: Generation) -> str:
    path = reverse("vendor_callback", args=[generation.uuid, callback_token(generation)])
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def signed_by_vendor(account: VendorAccount, headers, body: bytes) -> bool:
    """Whether a callback carries the signature of the account's vendor, for vendors that
    sign (Replicate). The secret comes from the vendor and is cached; when a signature
    does not match, the secret is fetched again (it may have been rotated), at most once
    a minute, so forged callbacks cannot make us call the vendor at will."""
    verify = account.adapter_class.verify_callback
    key = _secret_cache_key(account)
    secret = cache.get(key)
    try:
        if secret is None:
            secret = _fetch_secret(account, key)
            return verify(secret, headers, body)
        if verify(secret, headers, body):
            return True
        if not cache.add(f"{key}:refetched", True, SECRET_REFETCH_SECONDS):
            return False
        return verify(_fetch_secret(account, key), headers, body)
    except VendorError as exc:
        log.warning("could not fetch the webhook secret of %s: %s", account, exc.message)
        return False


def _secret_cache_key(account: VendorAccount) -> str:
    # A new key may belong to another vendor account with another secret.
    key_version = hashlib.sha256(account.api_key_encrypted.encode()).hexdigest()[:16]
    return f"webhook-secret:{account.uuid}:{key_version}"


def _fetch_secret(account: VendorAccount, cache_key: str) -> str:
    with account.adapter(client=routing.shared_client()) as adapter:
        secret = adapter.webhook_secret()
    cache.set(cache_key, secret, SECRET_CACHE_SECONDS)
    return secret
