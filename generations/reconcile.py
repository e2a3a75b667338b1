"""Jobs against their holds: the part of `manage.py reconcile_ledger` that knows jobs.

The ledger proves its own books; this proves that every job's money ended where the
job did: a finished job holds nothing, a clip was paid for, a failure was not charged
unless the vendor kept the charge (and its story says so).
"""

from django.db.models import Exists, F, OuterRef, Q

from generations.models import Clip, Generation, GenerationEvent, State


def _some(query, limit=5) -> str:
    uuids = [str(u) for u in query.values_list("uuid", flat=True)[: limit + 1]]
    shown = ", ".join(uuids[:limit])
    return shown + (", …" if len(uuids) > limit else "")


def job_problems() -> list[str]:
    found = []
    finished = Generation.objects.filter(state__in=Generation.FINISHED)

    def report(query, words):
        if count := query.count():
            found.append(f"{count} job(s) {words}: {_some(query)}.")

    report(finished.filter(hold__status="pending"), "finished with their money still on hold")
    succeeded = Generation.objects.filter(state=State.SUCCEEDED)
    report(
        succeeded.filter(hold__isnull=False).exclude(hold__status="captured"),
        "succeeded without being charged",
    )
    report(
        succeeded.filter(~Exists(Clip.objects.filter(generation=OuterRef("pk")))),
        "succeeded without a stored clip",
    )
    kept_charge = GenerationEvent.objects.filter(generation=OuterRef("pk"), kind="charged")
    report(
        finished.exclude(state=State.SUCCEEDED)
        .filter(hold__status="captured")
        .filter(~Exists(kept_charge)),
        "failed, cancelled or expired but were charged with no event saying the vendor "
        "keeps the charge",
    )
    report(
        finished.filter(hold__status="captured").exclude(
            charge_micros=F("hold__captured_amount") + F("hold__shortfall")
        ),
        "were charged a different amount than their hold records",
    )
    report(
        Generation.objects.active().filter(Q(hold__status="captured") | Q(hold__status="released")),
        "are still in progress although their hold was settled",
    )
    return found
