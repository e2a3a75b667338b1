"""What the ledger raises when it cannot do what was asked."""


class LedgerError(Exception):
    """The ledger cannot do what was asked; the message says why, for people."""


class Refused(LedgerError):
    """A limit stops this spend. `limit` is "team", "member", "project" or "role"."""

    def __init__(self, message, *, limit, needed=None, left=None):
        super().__init__(message)
        self.limit = limit
        self.needed = needed
        self.left = left


class KeyReused(LedgerError):
    """An idempotency key came back with different arguments: a caller's bug."""
