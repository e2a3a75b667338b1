"""The Vendors pages: operators only, a write-only key, prices checked, health, key checks."""

import json
import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import AuditEntry
from generations.models import GenerationsAuditAction, VendorAccount
from generations.operators import crypto
from generations.vendors import DEFAULT_CREDIT_VALUE, default_price_rules
from tests.generations.conftest import PROTOCOLS, make_account
from tests.generations.factories import GenerationFactory, VendorAccountFactory

HX = {"HTTP_HX_REQUEST": "true"}
# A key whose every part would be recognisable if it leaked anywhere.
KEY = "sk-live-Q7wPz2Xr9TbN4kLm8d"
KEY_HEAD = KEY[:14]  # "sk-live-Q7wPz2"
KEY_MIDDLE = KEY[8:20]
LAST4 = KEY[-4:]


def body(response) -> str:
    return response.content.decode()


def assert_no_key(text: str, key: str = KEY) -> None:
    assert key not in text
    assert key[:14] not in text
    assert key[8:20] not in text


def form_data(**overrides) -> dict:
    data = {
        "label": "Kinovi main",
        "protocol": "kinovi",
        "base_url": "",
        "api_key": KEY,
        "enabled": "on",
        "priority": "50",
        "max_concurrent": "4",
        "credit_value": "0.005",
        "price_rules": json.dumps(default_price_rules("kinovi")),
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


def edit_data(account, **overrides) -> dict:
    """The edit form as the page fills it in: every field as stored, the key left empty."""
    data = {
        "label": account.label,
        "base_url": account.base_url,
        "api_key": "",
        "enabled": "on" if account.enabled else None,
        "priority": str(account.priority),
        "max_concurrent": str(account.max_concurrent),
        "credit_value": str(account.credit_value),
        "price_rules": json.dumps(account.price_rules),
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


@pytest.fixture
def account(db):
    return VendorAccountFactory(label="Kinovi main", api_key=KEY)


def urls(account):
    return {
        ("get", reverse("vendors")),
        ("get", reverse("vendor_add")),
        ("get", reverse("vendor_edit", args=[account.uuid])),
        ("post", reverse("vendor_add")),
        ("post", reverse("vendor_edit", args=[account.uuid])),
        ("post", reverse("vendor_toggle", args=[account.uuid])),
        ("post", reverse("vendor_test", args=[account.uuid])),
    }


# --- Who may come in ---


def test_anonymous_visitors_are_sent_to_log_in(client, account):
    for method, url in urls(account):
        response = getattr(client, method)(url, {"enabled": "false"} if method == "post" else {})
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


@pytest.mark.parametrize(
    "persona", ["owner_client", "member_client", "viewer_client", "outsider_client"]
)
def test_only_operators_reach_the_vendor_pages(request, persona, account):
    client = request.getfixturevalue(persona)
    for method, url in urls(account):
        data = form_data(label="Hijacked", enabled=None) if method == "post" else {}
        assert getattr(client, method)(url, data).status_code == 403, url

    account.refresh_from_db()
    assert account.label == "Kinovi main" and account.enabled
    assert VendorAccount.objects.count() == 1
    assert not AuditEntry.objects.exists()


def test_operators_see_the_vendors_link_and_others_do_not(operator_client, owner_client, team):
    assert 'href="/vendors/"' in body(operator_client.get(reverse("vendors")))
    assert 'href="/vendors/"' not in body(owner_client.get(reverse("jobs")))


# --- Listing ---


def test_the_list_shows_each_account_with_only_the_last_4_of_its_key(operator_client, account):
    VendorAccountFactory(label="Evolink backup", protocol="evolink", enabled=False)

    html = body(operator_client.get(reverse("vendors")))

    assert "Kinovi main" in html and "Evolink backup" in html
    assert f"Kinovi · key ••••{LAST4}" in html and "Evolink · key ••••" in html
    assert "Disabled" in html and "Enabled" in html
    assert_no_key(html)


def test_the_list_costs_the_same_queries_for_many_accounts(
    operator_client, django_assert_max_num_queries
):
    VendorAccountFactory()
    with django_assert_max_num_queries(10) as few:
        operator_client.get(reverse("vendors"))
    for _ in range(6):
        account = VendorAccountFactory()
        GenerationFactory(running=True, vendor_account=account).log("check_failed", "Timeout")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = operator_client.get(reverse("vendors"))
    assert len(response.context["accounts"]) == 7


# --- Adding ---


def test_an_operator_adds_an_account(operator_client, operator):
    response = operator_client.post(reverse("vendor_add"), form_data())

    assert response.status_code == 302
    account = VendorAccount.objects.get()
    assert (account.label, account.protocol, account.priority, account.max_concurrent) == (
        "Kinovi main",
        "kinovi",
        50,
        4,
    )
    assert account.enabled and account.credit_value == Decimal("0.005")
    assert account.price_rules == default_price_rules("kinovi")
    assert crypto.decrypt(account.api_key_encrypted) == KEY
    assert account.api_key_last4 == LAST4
    page = body(operator_client.get(reverse("vendors")))
    assert f"Kinovi main was added with the key ending in {LAST4}" in page


def test_empty_prices_start_from_the_vendors_published_ones(operator_client):
    data = form_data(protocol="evolink", credit_value="", price_rules="")
    operator_client.post(reverse("vendor_add"), data)

    account = VendorAccount.objects.get()
    assert account.credit_value == DEFAULT_CREDIT_VALUE["evolink"]
    assert account.price_rules == default_price_rules("evolink")


@pytest.mark.parametrize(
    "overrides, field, error",
    [
        ({"api_key": ""}, "api_key", "This field is required."),
        ({"api_key": "sk-short"}, "api_key", "at least 12 characters"),
        ({"protocol": "acme"}, "protocol", "Select a valid choice."),
        ({"base_url": "ftp://vendor.example"}, "base_url", "http:// or https://"),
        ({"credit_value": "0"}, "credit_value", "above zero"),
        ({"max_concurrent": "-1"}, "max_concurrent", "greater than or equal to 0"),
    ],
)
def test_a_bad_account_is_a_form_error_next_to_the_field(operator_client, overrides, field, error):
    response = operator_client.post(reverse("vendor_add"), form_data(**overrides))

    assert response.status_code == 200
    assert error in response.context["form"].errors[field][0]
    assert f'id="id_{field}_error"' in body(response)
    assert not VendorAccount.objects.exists()


# --- The key is write-only ---


def test_the_key_is_never_shown_after_it_is_saved(operator_client, operator, team, caplog):
    caplog.set_level(logging.DEBUG)
    # Nothing listens there: the key check fails fast, without leaving this machine.
    operator_client.post(reverse("vendor_add"), form_data(base_url="http://127.0.0.1:9"))
    account = VendorAccount.objects.get()
    pages = [
        operator_client.get(reverse("vendors")),
        operator_client.get(reverse("vendor_edit", args=[account.uuid])),
        operator_client.post(
            reverse("vendor_toggle", args=[account.uuid]), {"enabled": "false"}, **HX
        ),
        operator_client.post(reverse("vendor_test", args=[account.uuid]), **HX),
        operator_client.get(reverse("audit")),
        operator_client.get(f"/admin/generations/vendoraccount/{account.pk}/change/"),
        operator_client.get("/admin/generations/vendoraccount/"),
        operator_client.get("/admin/billing/auditentry/"),
    ]

    for page in pages:
        assert page.status_code == 200, page.request["PATH_INFO"]
        assert_no_key(body(page))
    assert LAST4 in body(pages[0]) and LAST4 in body(pages[5])
    assert_no_key(caplog.text)
    for entry in AuditEntry.objects.all():
        assert_no_key(json.dumps(entry.changes) + entry.target)


def test_the_key_field_is_a_password_input_never_filled_in(operator_client, account):
    html = body(operator_client.get(reverse("vendor_edit", args=[account.uuid])))

    assert 'type="password" name="api_key"' in html
    assert 'name="api_key" value' not in html
    assert f"Leave empty to keep the key ending in {LAST4}" in html
    assert 'name="credit_value" value="0.005"' in html


def test_a_form_sent_back_with_errors_does_not_echo_a_new_key(operator_client, account):
    new_key = "sk-live-Rr5Yy7Uu9Ii1Oo3Pp"
    data = edit_data(account, api_key=new_key, price_rules="{not json")

    response = operator_client.post(reverse("vendor_edit", args=[account.uuid]), data)

    assert response.status_code == 200
    assert_no_key(body(response), new_key)
    assert_no_key(body(response))


def test_an_empty_key_on_edit_keeps_the_old_key(operator_client, account):
    data = edit_data(account, priority="7")

    response = operator_client.post(reverse("vendor_edit", args=[account.uuid]), data)

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.priority == 7
    assert crypto.decrypt(account.api_key_encrypted) == KEY
    assert account.api_key_last4 == LAST4


def test_a_new_key_replaces_the_old_one_and_is_audited_by_its_last_4(
    operator_client, operator, account
):
    new_key = "sk-live-Rr5Yy7Uu9Ii1Oo3Pp"

    operator_client.post(
        reverse("vendor_edit", args=[account.uuid]), edit_data(account, api_key=new_key)
    )

    account.refresh_from_db()
    assert crypto.decrypt(account.api_key_encrypted) == new_key
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.team) == (
        operator,
        GenerationsAuditAction.VENDOR_KEY_CHANGED,
        None,
    )
    assert entry.changes == {"api_key": [f"last 4: {LAST4}", "last 4: o3Pp"]}
    assert_no_key(json.dumps(entry.changes), new_key)


# --- Editing ---


def test_an_operator_edits_an_account_in_one_audit_entry(operator_client, operator, account):
    data = edit_data(account, label="Kinovi (EU)", priority="5", max_concurrent="2")

    response = operator_client.post(reverse("vendor_edit", args=[account.uuid]), data)

    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.label, account.priority, account.max_concurrent) == ("Kinovi (EU)", 5, 2)
    entry = AuditEntry.objects.get()
    assert entry.action == GenerationsAuditAction.VENDOR_CHANGED and entry.actor == operator
    assert entry.changes == {
        "label": ["Kinovi main", "Kinovi (EU)"],
        "priority": [100, 5],
        "max_concurrent": [10, 2],
    }


def test_a_price_change_is_audited_as_one(operator_client, account):
    rules = default_price_rules("kinovi")
    rules["seedance-2.0"]["per_second"]["720p"] = "45"
    data = edit_data(account, price_rules=json.dumps(rules), credit_value="0.0045")

    operator_client.post(reverse("vendor_edit", args=[account.uuid]), data)

    account.refresh_from_db()
    assert account.price_rules == rules and account.credit_value == Decimal("0.0045")
    entry = AuditEntry.objects.get()
    assert entry.action == GenerationsAuditAction.VENDOR_PRICES_CHANGED
    assert entry.changes["credit_value"] == ["0.005", "0.0045"]
    assert entry.changes["price_rules"] == [default_price_rules("kinovi"), rules]


def test_saving_without_changes_writes_no_audit_entry(operator_client, account):
    response = operator_client.post(
        reverse("vendor_edit", args=[account.uuid]), edit_data(account), follow=True
    )

    assert "Nothing was changed." in body(response)
    assert not AuditEntry.objects.exists()


def test_the_vendor_of_an_account_cannot_be_changed(operator_client, account):
    data = edit_data(account, protocol="evolink", label="Renamed")

    operator_client.post(reverse("vendor_edit", args=[account.uuid]), data)

    account.refresh_from_db()
    assert (account.protocol, account.label) == ("kinovi", "Renamed")


def test_invalid_json_is_an_error_next_to_the_field_and_loses_nothing_typed(
    operator_client, account
):
    typed = '{"seedance-2.0": {"per_second": {"720p": "40",}}}'
    data = edit_data(account, label="Kinovi renamed", priority="3", price_rules=typed)

    response = operator_client.post(reverse("vendor_edit", args=[account.uuid]), data)

    assert response.status_code == 200
    html = body(response)
    assert 'id="id_price_rules_error"' in html
    assert "This is not valid JSON" in response.context["form"].errors["price_rules"][0]
    assert "Expecting property name enclosed in double quotes (line 1, column 47)" in html
    # Everything typed comes back: the rules as typed (escaped), and the other fields.
    assert typed.replace('"', "&quot;") in html
    assert 'value="Kinovi renamed"' in html and 'value="3"' in html
    account.refresh_from_db()
    assert account.label == "Kinovi main" and account.priority == 100
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    "rules, error",
    [
        ({"seedance-2.0": {"per_second": {"720p": "forty"}}}, "per_second 720p is not a number"),
        ({"seedance-2.0": {"per_second": "40"}}, "per_second must be an object"),
        ({"seedance-2.0": {"per_second": {"720p": "40"}, "rounding": "up"}}, "rounding must be"),
        ({"seedance-2.0": {}}, "needs exactly one of per_second or per_duration"),
        ({"seedance-9": {"per_second": {"720p": "1"}}}, "seedance-9: not a model family"),
        ({"seedance-1.5-pro": {"per_second": {"720p": "1"}}}, "Kinovi does not sell"),
        ({}, "at least one model family"),
        (["seedance-2.0"], "JSON object keyed by model family"),
    ],
)
def test_price_rules_that_cannot_price_are_refused(operator_client, account, rules, error):
    data = edit_data(account, price_rules=json.dumps(rules))

    response = operator_client.post(reverse("vendor_edit", args=[account.uuid]), data)

    assert response.status_code == 200
    assert any(error in e for e in response.context["form"].errors["price_rules"])
    account.refresh_from_db()
    assert account.price_rules == default_price_rules("kinovi")


def test_price_rules_cannot_be_emptied_on_edit(operator_client, account):
    data = edit_data(account, price_rules="", credit_value="")

    response = operator_client.post(reverse("vendor_edit", args=[account.uuid]), data)

    errors = response.context["form"].errors
    assert "price_rules" in errors and "credit_value" in errors


def test_an_unknown_account_is_a_404(operator_client, db):
    missing = "00000000-0000-0000-0000-000000000000"
    assert operator_client.get(reverse("vendor_edit", args=[missing])).status_code == 404
    assert operator_client.post(reverse("vendor_test", args=[missing])).status_code == 404


# --- Enabling and disabling ---


def test_an_operator_disables_and_enables_an_account(operator_client, operator, account):
    url = reverse("vendor_toggle", args=[account.uuid])

    response = operator_client.post(url, {"enabled": "false"})

    assert response.status_code == 302
    account.refresh_from_db()
    assert not account.enabled
    operator_client.post(url, {"enabled": "false"})  # a double click changes nothing
    operator_client.post(url, {"enabled": "true"})
    account.refresh_from_db()
    assert account.enabled
    entries = list(AuditEntry.objects.order_by("pk"))
    assert [(e.action, e.actor, e.changes) for e in entries] == [
        (GenerationsAuditAction.VENDOR_DISABLED, operator, {"enabled": [True, False]}),
        (GenerationsAuditAction.VENDOR_ENABLED, operator, {"enabled": [False, True]}),
    ]


def test_an_htmx_toggle_returns_the_row_and_a_toast(operator_client, account):
    response = operator_client.post(
        reverse("vendor_toggle", args=[account.uuid]), {"enabled": "false"}, **HX
    )

    html = body(response)
    assert html.lstrip().startswith(f'<tr id="account-{account.uuid}"')
    assert "<html" not in html
    assert 'name="enabled" value="true"' in html and ">Enable</button>" in html
    assert "disabled" in json.loads(response["HX-Trigger"])["toast"]["message"]


def test_a_toggle_must_say_which_state(operator_client, account):
    url = reverse("vendor_toggle", args=[account.uuid])
    assert operator_client.post(url, {"enabled": "maybe"}).status_code == 400
    assert operator_client.get(url).status_code == 405


# --- Health ---


def test_health_shows_jobs_at_the_vendor_cooldown_and_recent_errors(operator_client, account):
    now = timezone.now()
    VendorAccount.objects.filter(pk=account.pk).update(
        cooldown_until=now + timedelta(minutes=5), consecutive_errors=3
    )
    running = GenerationFactory(running=True, vendor_account=account)
    GenerationFactory(running=True, vendor_account=account)
    GenerationFactory(succeeded=True, vendor_account=account)
    old = running.log("check_failed", "An error from yesterday.")
    old.created = now - timedelta(hours=30)
    old.save()
    VendorAccount.objects.filter(pk=account.pk).update(last_error_at=old.created)  # as it was
    running.log("check_failed", "Kinovi had a problem: no answer in time.")
    # A refused create: the job moved on, so the event names the account by label.
    GenerationFactory(failed=True).log(
        "vendor_refused", "Kinovi refused the API key.", vendor="Kinovi main", error_kind="auth"
    )
    GenerationFactory(running=True, vendor_account=VendorAccountFactory()).log(
        "check_failed", "Another account's trouble."
    )
    GenerationFactory(running=True, vendor_account=account).log("accepted", "All good.")

    response = operator_client.get(reverse("vendors"))

    row = next(a for a in response.context["accounts"] if a.pk == account.pk)
    assert (row.in_flight_count, row.errors_24h) == (account.in_flight(), 2) == (3, 2)
    assert row.last_problem == "Kinovi had a problem: no answer in time."
    html = body(response)
    assert "3 of 10" in html and "2 errors" in html and "3 in a row" in html
    assert "cooling down until" in html
    assert "Kinovi had a problem: no answer in time." in html
    page = body(operator_client.get(reverse("vendor_edit", args=[account.uuid])))
    assert "3 of 10" in page and "until" in page


def test_a_renamed_account_keeps_its_refusals(operator_client, account):
    # As lifecycle writes a refused create: the account's id, and its label for reading.
    GenerationFactory(failed=True).log(
        "vendor_refused",
        "Kinovi refused the API key.",
        vendor="Kinovi main",
        account_uuid=account.uuid.hex,
        error_kind="auth",
    )
    GenerationFactory(failed=True).log(
        "vendor_refused",
        "Another account refused.",
        vendor="Kinovi (EU)",
        account_uuid=VendorAccountFactory().uuid.hex,
        error_kind="auth",
    )
    VendorAccount.objects.filter(pk=account.pk).update(label="Kinovi (EU)")

    response = operator_client.get(reverse("vendors"))

    row = next(a for a in response.context["accounts"] if a.pk == account.pk)
    assert row.errors_24h == 1


def test_health_falls_back_to_the_accounts_own_last_error(operator_client, account):
    account.note_error("Kinovi refused the API key: invalid api key (HTTP 401).")

    response = operator_client.get(reverse("vendors"))

    row = response.context["accounts"][0]
    assert row.errors_24h == 0
    assert row.last_problem == "Kinovi refused the API key: invalid api key (HTTP 401)."
    assert "No errors" in body(response)


# --- Test connection ---


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_key_check_says_a_sandbox_key_works(operator_client, sandbox, protocol):
    account = make_account(protocol, sandbox, key="sk-sandbox-key-check")

    response = operator_client.post(reverse("vendor_test", args=[account.uuid]), **HX)

    html = body(response)
    assert html.lstrip().startswith(f'<p id="key-check-{account.uuid}" class="key-check works"')
    assert "The key works." in html


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_key_check_says_a_wrong_key_is_refused(operator_client, sandbox, protocol, caplog):
    wrong = "sk-wrong-Hh4Jj6Kk8Ll0Zz2"
    account = make_account(protocol, sandbox, key=wrong)

    response = operator_client.post(reverse("vendor_test", args=[account.uuid]), **HX)

    html = body(response)
    assert "key-check refused" in html
    assert "The vendor refused this key (401)." in html
    assert_no_key(html, wrong)
    assert_no_key(caplog.text, wrong)


def test_the_key_check_says_when_the_vendor_cannot_be_reached(operator_client, db):
    # Nothing listens on the discard port, so the connection is refused at once.
    account = VendorAccountFactory(base_url="http://127.0.0.1:9")

    response = operator_client.post(reverse("vendor_test", args=[account.uuid]), follow=True)

    assert "Could not reach the vendor: could not connect" in body(response)


def test_the_key_check_never_changes_the_account(operator_client, sandbox):
    account = make_account("kinovi", sandbox, key="sk-wrong-Hh4Jj6Kk8Ll0Zz2")

    operator_client.post(reverse("vendor_test", args=[account.uuid]))

    account.refresh_from_db()
    assert account.enabled and account.consecutive_errors == 0
    assert account.cooldown_until is None
    assert not AuditEntry.objects.exists()


# --- The Django admin uses the same write-only form ---


def test_the_admin_adds_and_edits_with_a_write_only_key(operator_client, operator, caplog):
    caplog.set_level(logging.DEBUG)
    admin_data = form_data() | {"enabled": "on"}

    response = operator_client.post("/admin/generations/vendoraccount/add/", admin_data)

    assert response.status_code == 302
    account = VendorAccount.objects.get()
    assert crypto.decrypt(account.api_key_encrypted) == KEY
    change_url = f"/admin/generations/vendoraccount/{account.pk}/change/"
    page = body(operator_client.get(change_url))
    assert_no_key(page)
    assert 'type="password" name="api_key"' in page and LAST4 in page

    operator_client.post(change_url, edit_data(account, priority="9") | {"protocol": "kinovi"})

    account.refresh_from_db()
    assert account.priority == 9 and crypto.decrypt(account.api_key_encrypted) == KEY
    entries = list(AuditEntry.objects.order_by("pk"))
    assert [(e.action, e.actor) for e in entries] == [
        (GenerationsAuditAction.VENDOR_ADDED, operator),
        (GenerationsAuditAction.VENDOR_CHANGED, operator),
    ]
    assert entries[0].changes["api_key"] == [None, f"last 4: {LAST4}"]
    assert entries[1].changes == {"priority": [50, 9]}
    assert_no_key(caplog.text)


def test_deleting_an_account_in_the_admin_is_audited(operator_client, operator, account):
    response = operator_client.post(
        f"/admin/generations/vendoraccount/{account.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 302
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.target) == (
        GenerationsAuditAction.VENDOR_DELETED,
        operator,
        "Kinovi main (kinovi)",
    )
    assert entry.changes == {"api_key": [f"last 4: {LAST4}", None]}


def test_vendor_pages_are_plain_forms_without_inline_script_or_style(operator_client, account):
    for url in (
        reverse("vendors"),
        reverse("vendor_add"),
        reverse("vendor_edit", args=[account.uuid]),
    ):
        html = body(operator_client.get(url))
        assert "<script>" not in html and "style=" not in html and "<style" not in html
        assert 'method="post"' in html


def test_an_operator_without_a_team_can_use_every_vendor_page(db, account):
    from tests.factories import UserFactory

    client = Client()
    client.force_login(UserFactory(username="lone-ops", operator=True))
    assert client.get(reverse("vendors")).status_code == 200
    assert client.get(reverse("vendor_edit", args=[account.uuid])).status_code == 200
