"""The Vendors list reads its accounts' health through with_health()'s SQL compiled once."""

from datetime import timedelta

from django.utils import timezone

from generations.models import GenerationEvent, VendorAccount
from generations.operators.vendor_views import accounts_with_health, note_health, with_health
from tests.generations.factories import GenerationFactory, VendorAccountFactory


def test_the_list_reads_what_the_orm_query_reads_through_its_compiled_sql(db):
    """vendor_views.accounts_with_health() runs with_health()'s SQL compiled once, with
    each request's window: the same accounts and figures as the ORM query itself."""
    one = VendorAccountFactory(protocol="kinovi", label="Main")
    twin = VendorAccountFactory(protocol="seedance2_ink", label="Main", enabled=False)
    VendorAccountFactory(label="Quiet")
    running = GenerationFactory(running=True, vendor_account=one)
    running.log("check_failed", "Timeout")
    running.log("vendor_refused", "refused", vendor="Main", account_uuid=one.uuid.hex)
    running.log("vendor_refused", "old, by label", vendor="Main")
    old = running.log("failed", "Long ago")
    GenerationEvent.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=2))
    GenerationFactory(running=True, vendor_account=twin).log("failed", "Broke <badly>")

    fields = ["pk", "label", "in_flight_count", "errors_24h", "last_problem", "last_problem_at"]

    def figures(accounts):
        return [tuple(getattr(a, name) for name in fields) for a in accounts]

    for _ in range(2):  # the second time from the compiled SQL
        compiled = accounts_with_health()
        orm = [note_health(a) for a in with_health(VendorAccount.objects.all())]
        assert figures(compiled) == figures(orm)
    found = {a.label + str(a.enabled): a for a in compiled}
    assert found["MainTrue"].errors_24h == 3 and found["MainTrue"].in_flight_count == 1
    assert found["MainFalse"].errors_24h == 2 and found["QuietTrue"].errors_24h == 0
