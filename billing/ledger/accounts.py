"""The one place balances change: find and lock accounts, check arguments, move money.

Every write in holds.py and grants.py goes through `move_money`, inside the
transaction that locked the team's accounts with `team_accounts(lock=True)`.
"""

from django.db import connection

from billing.ledger import spend
from billing.ledger.errors import KeyReused, LedgerError
from billing.ledger.money import MAX_AMOUNT, dollars
from billing.models import TEAM_ACCOUNT_KINDS, Account, AccountKind, Transfer
from seedance_site import rows


def check_amount(amount, *, allow_zero=False, allow_negative=False) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"Amounts are whole micro-dollars (int), not {type(amount).__name__}.")
    if abs(amount) > MAX_AMOUNT:
        raise ValueError(f"{amount} micro-dollars is beyond what the ledger accepts.")
    if amount < 0 and not allow_negative:
        raise ValueError("Amounts must not be negative.")
    if amount == 0 and not allow_zero:
        raise ValueError("Amounts must not be zero.")


def check_key(key) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError("An idempotency key (a non-empty string) is required.")
    if len(key) > 200:
        raise ValueError("Idempotency keys are at most 200 characters.")
    return key


def clip(text, length) -> str:
    return (text or "")[:length]


TEAM_ACCOUNTS = "team_id = %s AND kind IN (%s, %s)"
SYSTEM_ACCOUNT = "team_id IS NULL AND kind = %s AND vendor = %s"


def team_accounts(team_id, *, lock: bool) -> tuple[Account, Account]:
    """The team's AVAILABLE and HOLDS accounts, created on first use, locked in that order.

    AVAILABLE's row lock is the team's lock: every write takes it before HOLDS
    ("available" sorts first), `set_aside` included.
    """
    params = [team_id, *(kind.value for kind in TEAM_ACCOUNT_KINDS)]
    # NO KEY: the balance changes, the key does not, so a transfer being written
    # elsewhere need not wait for this transaction to check its foreign key.
    read = {"order_by": "kind", "lock": rows.NO_KEY if lock else ""}
    accounts = {a.kind: a for a in rows.select(Account, TEAM_ACCOUNTS, params, **read)}
    if len(accounts) < len(TEAM_ACCOUNT_KINDS):
        # AVAILABLE first, so it gets the lower pk, as the statement and admin list it.
        for kind in TEAM_ACCOUNT_KINDS:
            Account.objects.get_or_create(team_id=team_id, kind=kind)
        accounts = {a.kind: a for a in rows.select(Account, TEAM_ACCOUNTS, params, **read)}
    return accounts[AccountKind.AVAILABLE], accounts[AccountKind.HOLDS]


def system_account(kind, vendor="", vendor_label="") -> Account:
    label = clip(vendor_label, 200)
    found = rows.select(Account, SYSTEM_ACCOUNT, [kind, vendor])
    if found:
        account = found[0]
    else:
        account, _ = Account.objects.get_or_create(
            team=None,
            kind=kind,
            vendor=vendor,
            defaults={
                "vendor_label": label,
                "may_go_negative": kind in (AccountKind.GRANTS, AccountKind.ADJUSTMENTS),
            },
        )
    if label and account.vendor_label != label:
        Account.objects.filter(pk=account.pk).update(vendor_label=label)
        account.vendor_label = label
    return account


# Hand-written SQL, as in usage.py: the hold path runs these on every hold.
TAKE_FROM_AVAILABLE = (
    "UPDATE billing_account SET balance = balance - %s "
    "WHERE team_id = %s AND kind = %s AND balance >= %s RETURNING id"
)
ADD_TO_HOLDS = (
    "UPDATE billing_account SET balance = balance + %s "
    "WHERE team_id = %s AND kind = %s RETURNING id"
)


def set_aside(cursor, team_id, amount) -> tuple[int, int] | None:
    """Move `amount` from the team's AVAILABLE to its HOLDS balance: (their pks).

    The conditional UPDATE of AVAILABLE takes the team's lock and checks the
    balance in one statement. None when the balance is short or the team has no
    accounts yet; the caller rolls back and asks why.
    """
    cursor.execute(TAKE_FROM_AVAILABLE, [amount, team_id, AccountKind.AVAILABLE.value, amount])
    available = cursor.fetchone()
    if available is None:
        return None
    cursor.execute(ADD_TO_HOLDS, [amount, team_id, AccountKind.HOLDS.value])
    holds = cursor.fetchone()
    return (available[0], holds[0]) if holds is not None else None


# Written once, like set_aside's: a capture moves money twice and a release once, and the
# ORM's UPDATEs and INSERT cost more Python time to build than the database took to run.
DEBIT = "UPDATE billing_account SET balance = balance - %s WHERE id = %s"
GUARD = " AND balance >= %s"
CREDIT = "UPDATE billing_account SET balance = balance + %s WHERE id = %s"


def move_money(debit: Account, credit: Account, amount: int, kind, **fields) -> Transfer:
    """Write one transfer and move both cached balances, in the caller's transaction."""
    with connection.cursor() as cursor:
        if debit.may_go_negative:
            cursor.execute(DEBIT, [amount, debit.pk])
        else:
            # Callers have checked under the lock already; this is the guard in SQL.
            cursor.execute(DEBIT + GUARD, [amount, debit.pk, amount])
        if cursor.rowcount != 1:
            raise LedgerError(f"{debit} does not hold {dollars(amount)}.")
        cursor.execute(CREDIT, [amount, credit.pk])
        debit.balance -= amount
        credit.balance += amount
        transfer = Transfer(debit=debit, credit=credit, amount=amount, kind=kind, **fields)
        transfer.pk = rows.insert(cursor, transfer, returning=True)
    transfer._state.adding, transfer._state.db = False, connection.alias
    spend.record(transfer)
    return transfer


def same_call(existing, first: dict, now: dict, what: str, key: str):
    if first != now:
        changed = ", ".join(sorted(k for k in now if first.get(k) != now[k]))
        raise KeyReused(
            f"The key “{key}” was already used for another {what} (different {changed})."
        )
    return existing
