"""The Vendors page for ModelArk, fal and Replicate: the region's base URL, the model or
endpoint id per family, a price per million tokens, and 'test connection'."""

import json
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import ledger
from generations import demo
from generations.models import Project, TeamRouting, VendorAccount
from generations.vendors import DEFAULT_CREDIT_VALUE, REGISTRY, default_price_rules
from tests.factories import MembershipFactory, UserFactory
from tests.generations.conftest import form_data as generate_form
from tests.generations.conftest import make_account
from tests.generations.factories import VendorAccountFactory
from tests.generations.test_vendor_pages import HX, body, edit_data, form_data

VOLCENGINE = "https://ark.cn-beijing.volces.com/api/v3"


def ark_form(**overrides):
    fields = {
        "label": "Ark Beijing",
        "protocol": "byteplus_ark",
        "base_url": VOLCENGINE,
        "credit_value": "",
        "price_rules": "",
    }
    return form_data(**(fields | overrides))


def test_an_ark_account_is_added_with_its_region_ids_and_price_per_million(operator_client):
    ids = {"seedance-2.0": "doubao-seedance-2-0-260128", "seedance-2.0-fast": "ep-20260130-x"}
    data = ark_form(usd_per_million_tokens="2.40", model_ids=json.dumps(ids))
    response = operator_client.post(reverse("vendor_add"), data)
    assert response.status_code == 302, body(response)
    account = VendorAccount.objects.get()
    assert account.base_url == VOLCENGINE
    assert account.model_ids == ids
    assert account.credit_value == Decimal("0.0000024")
    assert account.price_rules == default_price_rules("byteplus_ark")
    adapter = account.adapter()
    assert adapter.base_url == VOLCENGINE and adapter.model_ids == ids


def test_without_a_price_an_ark_account_starts_at_the_published_one(operator_client):
    operator_client.post(reverse("vendor_add"), ark_form())
    account = VendorAccount.objects.get()
    assert account.credit_value == DEFAULT_CREDIT_VALUE["byteplus_ark"]
    assert account.model_ids == {}


def test_the_edit_form_shows_the_ark_price_per_million_and_saves_a_new_one(operator_client):
    operator_client.post(reverse("vendor_add"), ark_form())
    account = VendorAccount.objects.get()
    page = body(operator_client.get(reverse("vendor_edit", args=[account.uuid])))
    assert 'name="usd_per_million_tokens" value="5.6"' in page
    data = edit_data(account, usd_per_million_tokens="1.20", model_ids="")
    operator_client.post(reverse("vendor_edit", args=[account.uuid]), data)
    account.refresh_from_db()
    assert account.credit_value == Decimal("0.0000012")


@pytest.mark.parametrize(
    "overrides, field, error",
    [
        (
            {"model_ids": '{"seedance-2.0-mini": "x"}'},
            "model_ids",
            "BytePlus ModelArk does not sell seedance-2.0-mini",
        ),
        ({"model_ids": '{"seedance-2.0": "has space"}'}, "model_ids", "without spaces"),
        ({"model_ids": '["ep-1"]'}, "model_ids", "JSON object of family to id"),
        (
            {"protocol": "fal", "model_ids": '{"seedance-2.0": "x"}'},
            "model_ids",
            "fal takes no model ids of an account's own",
        ),
        (
            {"protocol": "replicate", "usd_per_million_tokens": "5"},
            "usd_per_million_tokens",
            "Replicate is not priced in tokens",
        ),
    ],
)
def test_settings_a_vendor_does_not_take_are_refused(operator_client, overrides, field, error):
    response = operator_client.post(reverse("vendor_add"), ark_form(**overrides))
    assert response.status_code == 200
    assert error in " ".join(response.context["form"].errors[field])
    assert not VendorAccount.objects.exists()


@pytest.mark.parametrize("protocol", ["byteplus_ark", "fal", "replicate"])
def test_fal_and_replicate_are_added_with_prices_per_second_in_dollars(operator_client, protocol):
    data = form_data(label=protocol, protocol=protocol, credit_value="", price_rules="")
    assert operator_client.post(reverse("vendor_add"), data).status_code == 302
    account = VendorAccount.objects.get()
    assert account.price_rules == default_price_rules(protocol)
    if protocol != "byteplus_ark":
        assert account.credit_value == 1  # a credit is a dollar: rules are $ per second
        assert account.price_rules["seedance-2.0"]["per_second"]["720p"] == "0.3024"


@pytest.mark.parametrize("protocol", ["byteplus_ark", "fal", "replicate"])
def test_test_connection_works_for_each_new_vendor(operator_client, sandbox, protocol):
    account = make_account(protocol, sandbox, key="sk-sandbox-key-check")
    html = body(operator_client.post(reverse("vendor_test", args=[account.uuid]), **HX))
    assert "The key works." in html
    wrong = make_account(protocol, sandbox, key="sk-wrong-Hh4Jj6Kk8Ll0Zz2", label="wrong")
    html = body(operator_client.post(reverse("vendor_test", args=[wrong.uuid]), **HX))
    assert "The vendor refused this key (401)." in html


def test_the_quote_names_each_vendors_own_unit_and_dollars(member_client, team, operator, owner):
    ledger.grant(team, 100_000_000, by=operator, memo="Test budget", key="units")
    project = Project.objects.create(team=team, name="Units", created_by=owner)
    VendorAccountFactory(protocol="byteplus_ark", label="Ark", priority=1)
    VendorAccountFactory(protocol="fal", label="fal main", priority=2)
    VendorAccountFactory(protocol="replicate", label="Replicate main", priority=3)
    TeamRouting.set_policy(team, "priority")
    response = member_client.post(
        "/generate/quote/", generate_form(project), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    # ModelArk: 108,000 tokens for 5 s at 720p, at $5.60 per million.
    assert '$0.6048 <span class="muted">· 108000 tokens</span>' in html
    # fal and Replicate: $0.3024 a second, one credit a dollar.
    assert "fal main: $1.512 (1.512 USD)" in html
    assert "Replicate main: $1.512 (1.512 USD)" in html


def test_the_demo_seeds_a_sandbox_account_for_each_of_the_eight_vendors(
    team, settings, monkeypatch
):
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    UserFactory(username="operator", operator=True)
    MembershipFactory(team=team, user__username="member")
    demo.seed(team)
    accounts = {account.protocol: account for account in VendorAccount.objects.all()}
    assert set(accounts) == set(REGISTRY) and len(accounts) == 8
    for protocol in ("byteplus_ark", "fal", "replicate"):
        account = accounts[protocol]
        assert account.base_url == f"http://127.0.0.1:8000/sandbox/{protocol}"
        assert account.price_rules == default_price_rules(protocol)
