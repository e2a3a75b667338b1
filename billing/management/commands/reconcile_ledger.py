"""Prove the ledger adds up, or name what does not.

Checks that every transfer moves a positive amount between two accounts of the
kinds its type allows (and only its own team's), that all balances sum to zero,
that each cached balance equals its transfers (credits - debits), that no
balance that must not go negative has, that each hold was resolved at most
once with transfers that match its status, and that the running totals the caps
read (each member's pending and this month's spend, each project's pending and
spend) equal the holds and transfers they count. Exits non-zero when anything
fails, so it can run from cron or CI.
"""

from django.core.management.base import BaseCommand, CommandError

from billing import ledger
from billing.models import AccountKind


class Command(BaseCommand):
    help = "Verify the credit ledger: balanced transfers, zero-sum balances, consistent holds."

    def handle(self, *args, **options):
        found = ledger.problems()
        facts = ledger.summary()
        holds = facts["holds"]
        balances = facts["balances"]
        self.stdout.write(
            f"{facts['accounts']} accounts, {facts['transfers']} transfers, "
            f"{sum(holds.values())} holds ({holds.get('pending', 0)} pending, "
            f"{holds.get('captured', 0)} captured, {holds.get('released', 0)} released) "
            f"across {facts['teams']} teams."
        )
        for kind in AccountKind:
            if kind in balances:
                self.stdout.write(f"  {kind.label:<16} {ledger.dollars(balances[kind]):>18}")
        if found:
            for problem in found:
                self.stderr.write(f"  ✗ {problem}")
            raise CommandError(
                f"The ledger does not reconcile ({len(found)} problem(s)): " + " ".join(found)
            )
        self.stdout.write(self.style.SUCCESS("The ledger reconciles."))
