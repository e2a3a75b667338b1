"""The credit ledger: the only code that moves money.

Other apps call five operations and read a few:

    hold(team, member, project, amount, memo, key, reference="") -> Hold
    capture(hold, actual, vendor, vendor_label, memo="") -> Hold
    release(hold, reason) -> Hold
    grant(team, amount, by, memo, key) -> Transfer
    adjust(team, amount, by, reason, key) -> Transfer
    balances(team) -> Balances
    problems() -> list[str]          (what `manage.py reconcile_ledger` reports)

Amounts are integers in micro-dollars ($1 = MICROS = 1_000_000). Every write follows
one recipe, like openedx-ledger but with real locks: in one `atomic()`, lock
the team's two account rows (AVAILABLE, then HOLDS: a fixed order, so two
writers never wait on each other in a cycle), look up the idempotency key,
check the limits, then move balances with conditional `F()` updates and write
the transfer rows. On SQLite `select_for_update()` is a no-op, but settings
open every transaction IMMEDIATE, so writers are serialized anyway. The
database keeps the last guards: balances that must not go negative have a
CheckConstraint, and keys are unique per team and operation.

System accounts (GRANTS, ADJUSTMENTS, VENDOR_SPEND) are shared by all teams,
so they are never locked up front: each operation touches at most one of them,
always after the team's rows, and the UPDATE itself holds its row lock to the
end of the transaction. Call one ledger operation per transaction when several
teams are involved, or you bring back the possibility of a lock cycle.

The modules, lowest floor first: money (micro-dollars as text, no database),
errors, accounts (locking and moving balances), reports (reading), limits (caps),
holds and grants (the writes), reconcile (proving the books).
"""

from billing.ledger.errors import KeyReused, LedgerError, Refused
from billing.ledger.grants import adjust, grant
from billing.ledger.holds import capture, hold, release
from billing.ledger.limits import (
    member_usage_this_month,
    members_usage_this_month,
    project_usage,
    refusal,
)
from billing.ledger.money import MAX_AMOUNT, MICROS, cap_text, dollars, month_start, parse_dollars
from billing.ledger.reconcile import problems, summary
from billing.ledger.reports import (
    Balances,
    StatementLine,
    available_balance,
    balances,
    spend_by,
    spend_by_day,
    statement,
    statement_lines,
)

__all__ = [
    "MAX_AMOUNT",
    "MICROS",
    "Balances",
    "KeyReused",
    "LedgerError",
    "Refused",
    "StatementLine",
    "adjust",
    "available_balance",
    "balances",
    "cap_text",
    "capture",
    "dollars",
    "grant",
    "hold",
    "member_usage_this_month",
    "members_usage_this_month",
    "month_start",
    "parse_dollars",
    "problems",
    "project_usage",
    "refusal",
    "release",
    "spend_by",
    "spend_by_day",
    "statement",
    "statement_lines",
    "summary",
]
