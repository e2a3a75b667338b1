"""Encryption at rest for vendor API keys: MultiFernet over FIELD_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so a new key can be put first and
`manage.py rotate_vendor_keys` re-encrypts the rows before the old one is dropped.
"""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        # Development only (settings refuse to start without keys when DEBUG is off).
        derived = hashlib.sha256(f"vendor-keys:{settings.SECRET_KEY}".encode()).digest()
        keys = (base64.urlsafe_b64encode(derived).decode(),)
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except ValueError:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64-encoded bytes each)"
        ) from None


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A vendor key can't be decrypted with FIELD_ENCRYPTION_KEYS: was a key removed "
            "before `manage.py rotate_vendor_keys` ran?"
        ) from None


def rotate(token: str) -> str:
    return fernet().rotate(token.encode()).decode()
