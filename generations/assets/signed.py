"""The addresses vendors fetch inputs from: unguessable, expiring, signed, and naming
one asset only. They need no session; tampered, expired or unknown ones are a 404.

The token is django.core.signing over (asset id, expiry) with its own salt, so a token
of any other feature (or a changed id or expiry) never verifies here.
"""

from datetime import datetime

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

SALT = "generations.assets.vendor-address"


def signed_url(asset, until: datetime) -> str:
    """The absolute address under PUBLIC_BASE_URL at which `asset` is served until `until`."""
    token = signing.dumps([asset.uuid.hex, int(until.timestamp())], salt=SALT, compress=False)
    path = reverse("asset_signed", kwargs={"token": f"{token}.{asset_extension(asset)}"})
    return settings.PUBLIC_BASE_URL + path


def asset_extension(asset) -> str:
    # Some vendors judge a URL by its ending (".jpeg, .png, .webp", ".mp4, .mov").
    return {"jpeg": "jpg"}.get(asset.format, asset.format)


def read_token(token_with_extension: str) -> tuple[str, str] | None:
    """(asset uuid hex, extension) of a valid, unexpired token; None otherwise."""
    token, dot, extension = token_with_extension.rpartition(".")
    if not dot:
        return None
    try:
        asset_hex, until = signing.loads(token, salt=SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(until, int) or until <= timezone.now().timestamp():
        return None
    return (asset_hex, extension) if isinstance(asset_hex, str) else None
