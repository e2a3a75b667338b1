"""Settling a job's hold: what it costs, and releasing or capturing when it ends badly.

The charge is the vendor's own figure when it is believable, else the price of the
account that ran the job, never another vendor's."""

import logging

from django.conf import settings
from django.db import transaction

from billing import ledger
from generations.lifecycle.steps import set_state
from generations.models import Generation

log = logging.getLogger(__name__)


def finish_unsuccessfully(
    generation, from_states, state, message, exc=None, code="", keep_charge=False
):
    """Fail, cancel or expire: release the hold, or capture it when the vendor keeps the charge.

    False when the job had already left `from_states` (someone else moved it).
    """
    kind = str(exc.kind) if exc else ""
    code = code or (exc.vendor_code if exc and exc.vendor_code else "")
    # One transaction: a worker that dies here leaves neither a finished job with
    # money still on hold nor money returned for a job still running.
    with transaction.atomic():
        if not set_state(
            generation,
            from_states,
            state,
            error_message=message[:2000],
            error_kind=kind,
            error_code=code[:100],
        ):
            return False
        generation.log(state, message[:2000])
        _settle_unsuccessful(generation, keep_charge)
    return True


def _settle_unsuccessful(generation, keep_charge: bool) -> None:
    hold = generation.hold
    if hold is None:
        return
    account = generation.vendor_account
    if keep_charge and account is not None:
        actual = settle_amount(generation)
        ledger.capture(
            hold,
            actual,
            vendor=str(account.uuid),
            vendor_label=account.label,
            memo="Charged: the vendor keeps the cost of this job",
        )
        Generation.objects.filter(pk=generation.pk).update(charge_micros=actual)
        generation.log(
            "charged", f"The vendor keeps the charge: {ledger.dollars(actual)} was charged."
        )
    else:
        ledger.release(hold, reason=f"Generation {generation.get_state_display().lower()}")
        generation.log(
            "released", f"{ledger.dollars(hold.amount)} on hold was returned to the team."
        )


def account_price_micros(generation) -> int:
    """What the account that ran the job asks for it: never another vendor's price."""
    if generation.price_micros is not None:
        return generation.price_micros
    account = generation.vendor_account
    try:
        return account.credits_to_micros(account.quote_credits(generation.video_request))
    except Exception:
        # Only for a job that reached an account before prices were recorded with it
        # and whose prices no longer cover the request: the first quote is the best
        # figure left, and never more than was held.
        log.exception("Generation %s cannot be priced at %s", generation.pk, account)
        return min(generation.quote_micros, generation.hold.amount)


def settle_amount(generation) -> int:
    """The charge to capture: the vendor's own figure when it is believable, else the
    price of the account that ran the job. A figure that is not believed is an event."""
    price = account_price_micros(generation)
    reported = generation.charge_credits
    if reported is None:
        return price
    account = generation.vendor_account
    micros = account.credits_to_micros(reported) if reported > 0 else 0
    # Judged against this account's own price: the hold may be sized on a dearer one.
    bound = price * settings.GENERATION_CHARGE_TOLERANCE
    if 0 < micros <= bound:
        return micros
    generation.log(
        "vendor_value_ignored",
        f"{account.label} reported a charge of {reported.normalize():f} credits "
        f"({ledger.dollars(micros) if micros else 'nothing'}), which is not believable for "
        f"this job; charged the account's price of {ledger.dollars(price)} instead.",
    )
    return price
