"""The credit ledger: the only code that moves money.

Other apps call five operations and read a few:

    hold(team, member, project, amount, memo, key, reference="", *, savepoint=True) -> Hold
    capture(hold, actual, vendor, vendor_label, memo="") -> Hold
    release(hold, reason) -> Hold
    grant(team, amount, by, memo, key) -> Transfer
    adjust(team, amount, by, reason, key) -> Transfer
    balances(team) -> Balances
    problems() -> list[str]          (what `manage.py reconcile_ledger` reports)

Amounts are integers in micro-dollars ($1 = MICROS = 1_000_000). Every write follows
one recipe, like openedx-ledger but with real locks: in one `atomic()`, lock
the team's two account rows (AVAILABLE, then HOLDS), look up the idempotency key,
check the limits, then move balances with conditional `F()` updates and write
the transfer rows. A hold, the one write on every job, does the same in fewer
statements: holds.py says how. On SQLite `select_for_update()` is a no-op, but
settings open every transaction IMMEDIATE, so writers are serialized anyway. The
database keeps the last guards: balances that must not go negative have a
CheckConstraint, and keys are unique per team and operation.

Rows are locked in one fixed order, so two writers never wait on each other in a
cycle: the hold (a new hold's key, or the hold a capture or release resolves),
then the member's and the project's usage rows (usage.py), then the team's
AVAILABLE and HOLDS accounts, then a system account. Each lock is kept to the end
of its transaction.

System accounts (GRANTS, ADJUSTMENTS, VENDOR_SPEND) are shared by all teams,
so they are never locked up front: each operation touches at most one of them,
always after the team's rows. Call one ledger operation per transaction when several
teams, members or projects are involved (several holds for one member in one
project, as a job's variants are, are fine), or you bring back the possibility of a
lock cycle.

The modules, lowest floor first: money (micro-dollars as text, no database),
errors, rows (inserting a row without the ORM's per-call work), accounts
(locking and moving balances), reports (reading), usage (the running totals
the caps read), limits (caps), holds and grants (the writes), reconcile
(proving the books).
"""

from billing.ledger.errors import KeyReused, LedgerError, Refused
from billing.ledger.grants import adjust, grant
from billing.ledger.holds import capture, hold, release
from billing.ledger.limits import refusal
from billing.ledger.money import MAX_AMOUNT, MICROS, cap_text, dollars, month_start, parse_dollars
from billing.ledger.reconcile import problems, summary
from billing.ledger.reports import (
    Balances,
    Overview,
    StatementLine,
    available_balance,
    balances,
    overview,
    spend_breakdowns,
    spend_by,
    spend_by_day,
    statement,
    statement_lines,
    vendor_names,
)
from billing.ledger.usage import (
    member_usage_this_month,
    members_usage_this_month,
    project_usage,
)

__all__ = [
    "MAX_AMOUNT",
    "MICROS",
    "Balances",
    "KeyReused",
    "LedgerError",
    "Overview",
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
    "overview",
    "parse_dollars",
    "problems",
    "project_usage",
    "refusal",
    "release",
    "spend_breakdowns",
    "spend_by",
    "spend_by_day",
    "statement",
    "statement_lines",
    "vendor_names",
    "summary",
]
