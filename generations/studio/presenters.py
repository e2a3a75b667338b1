"""What the studio pages show that no model knows: what each vendor allows, quotes and
costs in words, may I cancel (the cards are in cards.py). Presenters read; they never
change a row."""

import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from django.conf import settings
from django.utils import timezone

from billing import ledger
from billing.models import HoldStatus
from generations import access, lifecycle, routing
from generations.assets import inputs as asset_inputs
from generations.models import State, VendorAccount
from generations.routing import Routing
from generations.vendors import REGISTRY, Family
from generations.vendors.parsing import describe_seconds, join_choices
from generations.vendors.types import Mode
from seedance_site import fragments

# Every value some vendor offers for some family, in the order a person reads them.
ALL_DURATIONS = sorted(
    {
        d
        for adapter in REGISTRY.values()
        for offer in adapter.offers.values()
        for d in offer.durations
    }
)

ALL_ASPECT_RATIOS = ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive"]

ALL_RESOLUTIONS = ["480p", "720p", "1080p"]

PREFERRED = {"duration": 5, "aspect_ratio": "16:9", "resolution": "720p"}

MAX_VARIANTS = 4


def submit_key(ok: bool, variants: int) -> str:
    return f"{'ok' if ok else 'refused'}-{variants}"


# Every submit_key a page draws (the form keeps variants within 1..MAX_VARIANTS): a live
# quote echoes a posted key only when it is one of these, so nothing posted is reflected.
SUBMIT_KEYS = frozenset(
    submit_key(ok, n) for ok in (True, False) for n in range(1, MAX_VARIANTS + 1)
)

# The longest prompt any vendor takes; each vendor's own limit is checked by its adapter.
PROMPT_HARD_LIMIT = max(a.max_prompt_chars or 0 for a in REGISTRY.values()) or 20_000

RATIO_LABELS = {"adaptive": "Adaptive (the model picks)"}


@dataclass
class Option:
    value: str
    label: str
    enabled: bool
    selected: bool = False


@dataclass
class Options:
    """What a model allows at the enabled vendors (or the one pinned), and why not more."""

    family: Family
    pinned: VendorAccount | None
    serving: list = field(default_factory=list)  # (account, adapter class, offer)
    durations: list = field(default_factory=list)
    aspect_ratios: list = field(default_factory=list)
    resolutions: list = field(default_factory=list)
    modes: list = field(default_factory=list)  # the Modes any serving account offers
    audio: bool = False
    notes: dict = field(default_factory=dict)  # field name -> why options are missing
    prompt_limit: int | None = None
    prompt_note: str = ""

    @property
    def who(self) -> str:
        return self.pinned.label if self.pinned else "any enabled vendor"

    @property
    def key(self) -> str:
        """What these options depend on, so the page knows when to redraw them."""
        return f"{self.family}|{self.pinned.uuid if self.pinned else ''}"


def account_name(account) -> str:
    """The account's label, with its vendor's name when the label does not say it."""
    vendor = account.adapter_class.label if account.protocol in REGISTRY else account.protocol
    if vendor.lower() in account.label.lower():
        return account.label
    return f"{account.label} · {vendor}"


def accounts_by_family(accounts) -> dict[Family, list]:
    served: dict[Family, list] = {family: [] for family in Family}
    for account in accounts:
        adapter = REGISTRY.get(account.protocol)
        for family in adapter.offers if adapter else ():
            served[family].append(account)
    return served


def options_for(family: Family, pinned: VendorAccount | None, accounts) -> Options:
    """The union of what the accounts that serve `family` accept: any of them may take it."""
    options = Options(family=family, pinned=pinned)
    candidates = [pinned] if pinned else accounts
    for account in candidates:
        adapter = REGISTRY.get(account.protocol)
        if adapter and family in adapter.offers:
            options.serving.append((account, adapter, adapter.offers[family]))
    if not options.serving:
        reason = (
            f"{pinned.label} does not offer {family.label}."
            if pinned
            else f"No enabled vendor account offers {family.label}."
        )
        options.notes["family"] = reason
        return options

    offers = [offer for _, _, offer in options.serving]
    options.durations = sorted({d for o in offers for d in o.durations})
    ratios = {r for o in offers for r in o.aspect_ratios}
    options.aspect_ratios = [r for r in ALL_ASPECT_RATIOS if r in ratios]
    resolutions = {r for o in offers for r in o.resolutions}
    options.resolutions = [r for r in ALL_RESOLUTIONS if r in resolutions]
    modes = {m for o in offers for m in o.modes}
    options.modes = [m for m in Mode if m in modes]
    options.audio = any(adapter.has_audio_switch for _, adapter, _ in options.serving)

    _note_what_is_missing(options)

    char_limits = [adapter.max_prompt_chars for _, adapter, _ in options.serving]
    if all(char_limits):
        options.prompt_limit = max(char_limits)
    limits = [
        f"{account.label} {adapter.prompt_rule()}"
        for account, adapter, _ in options.serving
        if adapter.prompt_rule()
    ]
    options.prompt_note = "; ".join(limits) + "." if limits else ""
    return options


def _note_what_is_missing(options: Options) -> None:
    """Say, field by field, what the serving vendors leave out and which is narrower."""
    family, pinned = options.family, options.pinned
    where = f"for {family.label} at {options.who}"
    narrower = [
        f"{account.label} only {describe_seconds(offer.durations)}"
        for account, _, offer in options.serving
        if len(options.serving) > 1 and set(offer.durations) != set(options.durations)
    ]
    missing = [d for d in ALL_DURATIONS if d not in options.durations]
    if missing or narrower:
        note = f"{describe_seconds(options.durations).capitalize()} {where}."
        options.notes["duration"] = " ".join([note, *(f"{n}." for n in narrower)])
    for name, every, offered in (
        ("aspect_ratio", ALL_ASPECT_RATIOS, options.aspect_ratios),
        ("resolution", ALL_RESOLUTIONS, options.resolutions),
    ):
        missing = [value for value in every if value not in offered]
        if missing:
            options.notes[name] = f"Not offered {where}: {join_choices(missing)}."
    _note_missing_modes(options, where)
    if not options.audio:
        options.notes["audio"] = (
            f"{pinned.label} has no setting for generated audio."
            if pinned
            else f"No vendor that serves {family.label} here can generate audio."
        )
    else:
        without = [a.label for a, adapter, _ in options.serving if not adapter.has_audio_switch]
        if without:
            with_audio = [a.label for a, adapter, _ in options.serving if adapter.has_audio_switch]
            options.notes["audio"] = f"Only {join_choices(with_audio)} can add audio."


def _note_missing_modes(options: Options, where: str) -> None:
    """Which ways of steering the clip (first frame, references...) are not offered,
    and which serving account offers fewer than the others."""
    missing = [m.label for m in Mode if m not in options.modes]
    narrower = [
        f"{account.label} only {join_choices([Mode(m).label for m in offer.modes])}"
        for account, _, offer in options.serving
        if len(options.serving) > 1 and set(offer.modes) != set(options.modes)
    ]
    if missing or narrower:
        note = [f"Not offered {where}: {join_choices(missing)}."] if missing else []
        options.notes["mode"] = " ".join([*note, *(f"{n}." for n in narrower)])
    rules = [
        f"{account.label} {adapter.reference_rule}"
        for account, adapter, offer in options.serving
        if Mode.REFERENCE in offer.modes and adapter.reference_rule
    ]
    if rules:
        options.notes["reference"] = "; ".join(rules) + "."


@dataclass
class QuoteSummary:
    """The live quote in the words the page uses, and why submitting is not possible."""

    routing: Routing
    variants: int
    available: int
    hold_total: int = 0
    expected_total: int = 0
    reasons: list = field(default_factory=list)

    @classmethod
    def build(cls, routing, *, team, user, project, variants) -> "QuoteSummary":
        available = ledger.available_balance(team)  # not balances(): no month's spend sum
        summary = cls(routing=routing, variants=variants, available=available)
        if not summary.priced:
            summary.reasons.append("No vendor can take this request as it is.")
            return summary
        summary.hold_total = routing.hold_micros * variants
        summary.expected_total = routing.first.micros * variants
        refused = ledger.refusal(team, user, project, summary.hold_total, available)
        if refused:
            summary.reasons.append(str(refused))
        return summary

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def submit_key(self) -> str:
        """What the submit button shows: a live quote redraws the button only when this
        changed, so a click on it is never lost to a redraw (see generate_quote)."""
        return submit_key(self.ok, self.variants)

    @property
    def priced(self) -> bool:
        """Some vendor account can take the request as asked."""
        return bool(self.routing.routes)

    @property
    def problems(self) -> list[str]:
        return self.routing.problems

    @property
    def after(self) -> int:
        return self.available - self.hold_total

    @cached_property
    def money(self) -> dict:
        """The amounts as the page writes them (worked out once: the page reads six)."""
        first = self.first
        return {
            "each": ledger.dollars(first.micros if first else 0),
            "credits": credits_text(first.credits if first else None),
            "unit": unit_of(first.account if first else None, "vendor credits"),
            "expected": ledger.dollars(self.expected_total),
            "hold": ledger.dollars(self.hold_total),
            "hold_each": ledger.dollars(self.routing.hold_micros),
            "available": ledger.dollars(self.available),
            "after": ledger.dollars(self.after),
        }

    def alternatives_text(self) -> list[str]:
        return [
            f"{route.account.label}: {ledger.dollars(route.micros)} "
            f"({credits_text(route.credits)} {unit_of(route.account)})"
            for route in self.alternatives
        ]

    @property
    def first(self):
        return self.routing.first

    @property
    def alternatives(self):
        return self.routing.routes[1:]


def quote_for(form, inputs=None) -> QuoteSummary:
    """The Generate form's live quote as it stands, valid or not, with the mode and
    inputs of `inputs` (an InputsForm) when given."""
    prompt = form.raw("prompt") or ""
    # An empty prompt still gets a price; the vendor's own prompt check waits for text.
    request = form.video_request(prompt=prompt if prompt.strip() else "price check")
    if inputs is not None:
        # Addresses as they would be sent, so vendors judge the inputs' count and mode.
        until = timezone.now() + timedelta(minutes=settings.GENERATION_DEADLINE_MINUTES)
        request = asset_inputs.with_urls(
            dataclasses.replace(request, mode=inputs.mode_value), inputs.chosen_now(), until
        )
    # The form already read the enabled accounts: the quote routes among the same rows.
    return QuoteSummary.build(
        routing.route(form.team, request, form.pinned, accounts=form.accounts),
        team=form.team,
        user=form.user,
        project=form.project_value,
        variants=form.variants_value(),
    )


def unit_of(account, default="credits") -> str:
    """What the account's vendor counts in: credits, ModelArk's tokens, fal's dollars."""
    unit = account.adapter_class.credit_unit if account is not None else "credits"
    return default if unit == "credits" else unit


def credits_text(credits) -> str:
    """Vendor credits without trailing zeros: Decimal("40.0000") -> "40"."""
    if credits is None:
        return ""
    text = f"{credits.normalize():f}"
    return text


class Costs:
    """What a generation cost, or is expected to, as the pages write it."""

    def __init__(self, g):
        self.expected = ledger.dollars(g.quote_micros)
        self.expected_credits = credits_text(g.quote_credits)
        hold = g.hold if g.hold_id else None
        self.held = (
            ledger.dollars(hold.amount) if hold and hold.status == HoldStatus.PENDING else ""
        )
        self.released = bool(hold and hold.status == HoldStatus.RELEASED)
        self.charged = ledger.dollars(g.charge_micros) if g.charge_micros is not None else ""
        self.charged_credits = credits_text(g.charge_credits) if self.charged else ""
        self.unit = unit_of(g.vendor_account)
        self.difference = ""
        if g.charge_micros is not None and g.charge_micros != g.quote_micros:
            delta = g.charge_micros - g.quote_micros
            more_or_less = "more" if delta > 0 else "less"
            self.difference = f"{ledger.dollars(abs(delta))} {more_or_less} than quoted"

    @property
    def summary(self) -> str:
        if self.charged:
            credits = f" ({self.charged_credits} {self.unit})" if self.charged_credits else ""
            return f"Charged {self.charged}{credits}"
        if self.held:
            return f"Expected {self.expected} · {self.held} held"
        if self.released:
            return "Nothing charged"
        return f"Expected {self.expected}"


def present(g, membership=None):
    """Attach what the cards show but the model does not know: money in words, may I cancel."""
    g.costs = Costs(g)
    g.ago = fragments.ago(g.created)  # "3 minutes": the card's words, and its digest's
    g.can_cancel = g.state in (State.QUEUED, State.RUNNING) and access.may_cancel(membership, g)
    # A job that needs attention ends by itself after its deadline's grace (lifecycle.expire).
    g.settle_by = g.expires_at + lifecycle.grace() if g.state == State.NEEDS_ATTENTION else None
    # Whether cancelling a running job stops it at the vendor, or it runs on and is charged.
    account = g.vendor_account
    g.vendor_cancels = bool(
        account and account.protocol in REGISTRY and account.adapter_class.supports_cancel
    )
    return g
