"""Which vendor accounts can take a request, in what order, at what price."""

from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache

import httpx
from django.conf import settings

from generations.models import RoutingPolicy, TeamRouting, VendorAccount
from generations.vendors import REGISTRY
from generations.vendors.http import make_client
from generations.vendors.pricing import PriceRuleError


@cache
def shared_client():
    """One connection pool per process for every vendor call (httpx.Client is thread-safe)."""
    read = settings.VENDOR_READ_TIMEOUT_SECONDS
    return make_client(timeout=httpx.Timeout(connect=5.0, read=read, write=20.0, pool=5.0))


@dataclass
class Route:
    account: VendorAccount
    credits: Decimal
    micros: int


@dataclass
class Routing:
    routes: list[Route] = field(default_factory=list)
    # Why each enabled account cannot take the request as asked, in words.
    problems: list[str] = field(default_factory=list)

    @property
    def first(self) -> Route | None:
        return self.routes[0] if self.routes else None

    @property
    def hold_micros(self) -> int:
        """The most any candidate would cost, so a fail-over never needs more money."""
        return max((r.micros for r in self.routes), default=0)


def check_request(account: VendorAccount, request) -> list[str]:
    adapter_class = REGISTRY.get(account.protocol)
    if adapter_class is None:
        return [f"{account.label} uses an unknown protocol {account.protocol!r}"]
    adapter = adapter_class("", base_url=account.base_url or None, client=shared_client())
    return adapter.check(request)


@dataclass
class Verdict:
    """Whether one vendor account takes a request as given, at what price, or why not."""

    account: VendorAccount
    problems: list[str] = field(default_factory=list)  # in words a member understands
    credits: Decimal | None = None
    micros: int = 0

    @property
    def accepts(self) -> bool:
        return not self.problems


def verdicts(request, accounts=None) -> list[Verdict]:
    """Each enabled vendor account (or each of `accounts`) and whether it accepts
    `request` as given: its model family, mode (text, first frame, first + last frame,
    references) and media counts, duration, ratio, resolution, audio, and a price to
    hold. An account that does not says why, in words a member understands."""
    if accounts is None:
        accounts = VendorAccount.objects.filter(enabled=True)
    return [verdict(account, request) for account in accounts]


def verdict(account: VendorAccount, request) -> Verdict:
    problems = check_request(account, request)
    if problems:
        return Verdict(account, problems)
    try:
        credits = account.quote_credits(request)
    except PriceRuleError as exc:
        return Verdict(account, [f"{account.label} has no price for this: {exc}"])
    micros = account.credits_to_micros(credits)
    if micros <= 0:
        # Nothing to hold means nothing to charge: a price of zero is a mistake in the
        # account's prices, not a free vendor.
        return Verdict(
            account,
            [
                f"{account.label} is priced at nothing for this request; an operator must "
                "set its prices"
            ],
        )
    return Verdict(account, [], credits, micros)


def route(team, request, pinned: VendorAccount | None = None, accounts=None) -> Routing:
    """Every enabled account that can serve `request` as asked, in the team's order.

    `accounts`, when given, are the enabled accounts as the caller read them, so a page
    that already listed them routes among the same rows without reading them again.

    Only accounts that accept the request as given are routes; the others' reasons are
    the routing's problems. Cooling-down and busy accounts stay in the list: the worker
    skips them at submit time, when it knows the state of the moment.
    """
    if accounts is None:
        accounts = VendorAccount.objects.filter(enabled=True)
        if pinned is not None:
            accounts = accounts.filter(pk=pinned.pk)
    elif pinned is not None:
        # `accounts` are enabled accounts the caller has read already (the Generate form's).
        accounts = [account for account in accounts if account.pk == pinned.pk]
    routing = Routing()
    for found in verdicts(request, accounts):
        if found.accepts:
            routing.routes.append(Route(found.account, found.credits, found.micros))
        else:
            routing.problems.extend(found.problems)
    if len(routing.routes) < 2:
        return routing  # nothing to order (a pinned vendor, or one that serves the request)
    if TeamRouting.policy_for(team) == RoutingPolicy.CHEAPEST:
        routing.routes.sort(key=lambda r: (r.micros, r.account.priority, r.account.pk))
    else:
        routing.routes.sort(key=lambda r: (r.account.priority, r.micros, r.account.pk))
    return routing


def has_room(account: VendorAccount) -> bool:
    return account.in_flight() < account.max_concurrent
