"""The operators' vendor account form, shared by the Vendors page and the Django admin.

The API key is write-only: a password input that is never rendered with a value,
empty on edit to keep the stored key, and from then on known only by its last four
characters. Prices are typed as JSON and checked before they can reach a quote.
"""

import json
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from billing import audit
from billing.models import AuditEntry
from generations.models import GenerationsAuditAction, VendorAccount
from generations.vendors import DEFAULT_CREDIT_VALUE, REGISTRY, Family, default_price_rules
from generations.vendors.parsing import join_choices
from generations.vendors.pricing import check_price_rules

# Shorter keys would leave little of themselves unshown behind the last four characters.
MIN_KEY_LENGTH = 12
# The parts of a family's rules that must be objects; check_price_rules assumes they are.
RULE_TABLES = ("per_second", "per_duration", "reference_video_per_second", "billed_resolution")
PRICE_FIELDS = {"price_rules", "credit_value"}
MILLION = Decimal(1_000_000)
MAX_MODEL_ID_CHARS = 200


def price_rule_problems(rules) -> list[str]:
    """What is wrong with price rules whatever the vendor; [] when they can be used."""
    if not isinstance(rules, dict):
        return ['Write the rules as a JSON object keyed by model family: {"seedance-2.0": {…}}.']
    if not rules:
        return ["Give a price for at least one model family."]
    families = [f.value for f in Family]
    problems = []
    for family, family_rules in rules.items():
        if family not in families:
            problems.append(f"{family}: not a model family; use {join_choices(families)}")
        elif isinstance(family_rules, dict):
            problems += [
                f"{family}: {table} must be an object"
                for table in RULE_TABLES
                if table in family_rules and not isinstance(family_rules[table], dict)
            ]
    return problems or check_price_rules(rules)


class PriceRulesField(forms.Field):
    """Price rules as JSON text; wrong text comes back to the operator exactly as typed."""

    widget = forms.Textarea

    def widget_attrs(self, widget):
        return super().widget_attrs(widget) | {"rows": "14", "spellcheck": "false", "class": "mono"}

    def prepare_value(self, value):
        if isinstance(value, dict | list):
            return json.dumps(value, indent=2, ensure_ascii=False)
        return value

    def to_python(self, value):
        if value in self.empty_values or not str(value).strip():
            return None
        try:
            return json.loads(value)
        except ValueError as e:
            raise ValidationError(
                f"This is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno}).",
                code="invalid",
            ) from None

    def validate(self, value):
        # Not super(): to it "{}" is empty, and it deserves its own sentence.
        if value is None and self.required:
            raise ValidationError(self.error_messages["required"], code="required")
        if value is not None:
            problems = price_rule_problems(value)
            if problems:
                raise ValidationError(problems, code="price_rules")

    def has_changed(self, initial, data):
        try:
            return self.to_python(data) != initial
        except ValidationError:
            return True


def snapshot(account: VendorAccount) -> dict:
    """What the audit log compares before and after a change (never the key)."""
    credit_value = account.credit_value
    return {
        "label": account.label,
        "protocol": account.protocol,
        "base_url": account.base_url,
        "enabled": account.enabled,
        "priority": account.priority,
        "max_concurrent": account.max_concurrent,
        "credit_value": (
            format(Decimal(credit_value).normalize(), "f") if credit_value is not None else None
        ),
        "price_rules": account.price_rules,
        "model_ids": account.model_ids,
    }


VENDOR_FIELDS = [
    "label",
    "protocol",
    "base_url",
    "api_key",
    "enabled",
    "priority",
    "max_concurrent",
    "credit_value",
    "usd_per_million_tokens",
    "price_rules",
    "model_ids",
]


class ModelIdsField(PriceRulesField):
    """A family → model id object as JSON text; checked against the vendor in the form."""

    def widget_attrs(self, widget):
        return super().widget_attrs(widget) | {"rows": "4"}

    def validate(self, value):
        if value is None:
            return
        if not isinstance(value, dict) or not all(
            isinstance(model, str)
            and 0 < len(model) <= MAX_MODEL_ID_CHARS
            and model.isprintable()
            and " " not in model
            for model in value.values()
        ):
            raise ValidationError(
                'Write the ids as a JSON object of family to id: {"seedance-2.0": "ep-…"}, '
                f"each id 1 to {MAX_MODEL_ID_CHARS} characters without spaces.",
                code="model_ids",
            )


class VendorAccountForm(forms.ModelForm):
    api_key = forms.CharField(
        label="API key",
        required=False,
        min_length=MIN_KEY_LENGTH,
        max_length=500,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"}
        ),
    )
    base_url = forms.URLField(
        label="Base URL",
        required=False,
        max_length=200,
        assume_scheme="https",
        help_text="Empty means the vendor's own API address.",
    )
    credit_value = forms.DecimalField(
        label="Dollars per vendor credit",
        required=False,
        max_digits=16,
        decimal_places=8,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    price_rules = PriceRulesField(
        label="Price rules (JSON)",
        required=False,
        help_text=(
            "Vendor credits per request, by model family: per_second (by resolution) or "
            "per_duration (by clip length), optional upscale_4k_per_second, "
            "reference_video_per_second, billed_resolution and rounding (none or ceil)."
        ),
    )

    usd_per_million_tokens = forms.DecimalField(
        label="Dollars per million tokens",
        required=False,
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text="BytePlus ModelArk only: one of its credits is one token, priced here "
        "per million (it sets the dollars per vendor credit).",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    model_ids = ModelIdsField(
        label="Model or endpoint ids (JSON)",
        required=False,
        help_text="BytePlus ModelArk only: the model id or endpoint id per family, e.g. "
        '{"seedance-2.0": "ep-20260130-abcde"} (Volcengine accounts use their doubao-… '
        "ids). Empty: the ids ModelArk publishes.",
    )

    # api_key is declared above, not a model field: without field_order it would come last.
    field_order = VENDOR_FIELDS

    class Meta:
        model = VendorAccount
        fields = VENDOR_FIELDS
        labels = {
            "max_concurrent": "Concurrency cap",
            "enabled": "Enabled: the router may send jobs here",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read before is_valid() copies the typed values onto the instance.
        self.adding = self.instance._state.adding
        self.before = {} if self.adding else snapshot(self.instance)
        self.old_last4 = self.instance.api_key_last4
        protocol = self.fields["protocol"] = forms.ChoiceField(
            label="Vendor",
            choices=[(name, adapter.label) for name, adapter in REGISTRY.items()],
        )
        key = self.fields["api_key"]
        key.required = not self.old_last4
        key.help_text = (
            f"Leave empty to keep the key ending in {self.old_last4}. "
            "A new key replaces it; only its last 4 characters are shown."
            if self.old_last4
            else "Stored encrypted. Once saved, only its last 4 characters are shown."
        )
        credit, rules = self.fields["credit_value"], self.fields["price_rules"]
        if self.adding:
            credit.help_text = "Empty: the vendor's published rate, in US dollars per credit."
            rules.help_text = "Empty: the vendor's published prices. " + rules.help_text
        else:
            # Jobs at the vendor are followed with this protocol; a new vendor is a new account.
            protocol.disabled = True
            protocol.help_text = "Fixed once the account exists; add another account instead."
            credit.required = rules.required = True
            credit.help_text = "US dollars one vendor credit is worth."
            if self.instance.credit_value is not None:
                # 0.005, not the column's 0.00500000.
                self.initial["credit_value"] = self.before["credit_value"]
                if self.instance.adapter_class.credit_unit == "tokens":
                    per_million = self.instance.credit_value * MILLION
                    self.initial["usd_per_million_tokens"] = per_million.normalize()

    def clean_base_url(self):
        url = self.cleaned_data["base_url"]
        if url and not url.lower().startswith(("http://", "https://")):
            raise ValidationError("Use an http:// or https:// address.")
        return url

    def clean_credit_value(self):
        value = self.cleaned_data["credit_value"]
        if value is not None and value <= 0:
            raise ValidationError("Enter an amount above zero, like 0.005.")
        return value

    def clean(self):
        data = super().clean()
        protocol = data.get("protocol")
        if protocol not in REGISTRY:
            return data
        adapter = REGISTRY[protocol]
        if self.adding and data.get("credit_value") is None and "credit_value" not in self.errors:
            data["credit_value"] = DEFAULT_CREDIT_VALUE[protocol]
        self.clean_vendor_settings(adapter, data)
        rules = data.get("price_rules")
        if self.adding and rules is None and "price_rules" not in self.errors:
            data["price_rules"] = default_price_rules(protocol)
        elif isinstance(rules, dict):
            known = {f.value for f in Family}
            unsold = [f for f in rules if f in known and Family(f) not in adapter.families]
            if unsold:
                offered = join_choices([f.value for f in adapter.families])
                self.add_error(
                    "price_rules",
                    f"{adapter.label} does not sell {join_choices(unsold)}; it sells {offered}.",
                )
        return data

    def clean_vendor_settings(self, adapter, data) -> None:
        """The fields only some vendors take: a per-million token price, model ids."""
        per_million = data.get("usd_per_million_tokens")
        if per_million is not None and "usd_per_million_tokens" in self.changed_data:
            if adapter.credit_unit != "tokens":
                self.add_error(
                    "usd_per_million_tokens", f"{adapter.label} is not priced in tokens."
                )
            else:
                data["credit_value"] = per_million / MILLION
        model_ids = data.get("model_ids") or {}
        if model_ids and not adapter.takes_model_ids:
            self.add_error("model_ids", f"{adapter.label} takes no model ids of an account's own.")
        unsold = [f for f in model_ids if f not in {family.value for family in adapter.families}]
        if model_ids and adapter.takes_model_ids and unsold:
            offered = join_choices([f.value for f in adapter.families])
            self.add_error(
                "model_ids",
                f"{adapter.label} does not sell {join_choices(unsold)}; it sells {offered}.",
            )
        data["model_ids"] = model_ids

    def save(self, commit=True):
        account = super().save(commit=False)
        if self.cleaned_data.get("api_key"):
            account.set_api_key(self.cleaned_data["api_key"])
        if commit:
            account.save()
        return account

    def record(self, actor) -> AuditEntry | None:
        """Write the audit entry for the saved account; None when nothing changed."""
        account = self.instance
        changes = audit.diff(self.before, snapshot(account))
        if self.cleaned_data.get("api_key"):
            changes["api_key"] = audit.secret_change(self.old_last4, account.api_key_last4)
        if not changes:
            return None
        return audit.record(
            actor, vendor_action(changes, self.adding), target=str(account), changes=changes
        )


def vendor_action(changes: dict, adding: bool = False) -> str:
    names = set(changes)
    if adding:
        return GenerationsAuditAction.VENDOR_ADDED
    if "api_key" in names:
        return GenerationsAuditAction.VENDOR_KEY_CHANGED
    if names <= PRICE_FIELDS:
        return GenerationsAuditAction.VENDOR_PRICES_CHANGED
    if names == {"enabled"}:
        enabled = changes["enabled"][1]
        return (
            GenerationsAuditAction.VENDOR_ENABLED
            if enabled
            else GenerationsAuditAction.VENDOR_DISABLED
        )
    return GenerationsAuditAction.VENDOR_CHANGED
