"""Secrets we hand out once and keep only as a hash: invitation links, vendor callback URLs."""

import hashlib


def hash_token(token: str) -> str:
    """The stored form of a token: unsalted SHA-256 is enough for 256 random bits."""
    return hashlib.sha256(token.encode()).hexdigest()
