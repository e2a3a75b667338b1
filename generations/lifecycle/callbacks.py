"""Each generation's secret callback address: derived, so it never needs storing."""

import hashlib
import hmac
import logging

from django.conf import settings
from django.urls import reverse

from generations.models import Generation

log = logging.getLogger(__name__)


def callback_token(generation: Generation) -> str:
    """The secret in a generation's callback URL: derived, so it never needs storing."""
    message = f"callback:{generation.uuid}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def callback_url(generation: Generation) -> str:
    path = reverse("vendor_callback", args=[generation.uuid, callback_token(generation)])
    return settings.PUBLIC_BASE_URL.rstrip("/") + path
