"""The Billing page's kept fragments (its charts, its empty filters, its newest
statement rows) show what is true now, and a query string never makes a new one."""

from django.core.cache import caches
from django.urls import reverse

from billing import ledger
from billing.money import views as money_views
from tests.billing.test_billing_pages import HX, USD, Project, activity, body

__all__ = ["activity"]  # the fixture, used by name


def test_the_kept_filters_and_charts_show_new_projects_vendors_and_spend(
    owner_client, activity, member, team
):
    before = body(owner_client.get(reverse("billing")))
    teaser = Project("Teaser")
    held = ledger.hold(team, member, teaser, 4 * USD, "Close-up", "gen-3")
    ledger.capture(held, 4 * USD, "fal", "fal.ai")

    after = body(owner_client.get(reverse("billing")))

    assert "Teaser" not in before and "fal.ai" not in before
    assert f'<option value="{teaser.uuid}">Teaser</option>' in after
    assert '<option value="fal">fal.ai</option>' in after
    assert "<title>Teaser: $4.00</title>" in after and "<title>fal.ai: $4.00</title>" in after
    assert "$6.50 in the last 30 days" in after  # the day chart: 2.50 + 4.00


def test_the_kept_statement_rows_show_a_renamed_member_and_new_entries(
    owner_client, activity, member, team, operator
):
    before = body(owner_client.get(reverse("billing")))
    member.username = "renamed-member"
    member.save()
    ledger.grant(team, USD, operator, "Top-up", "top-up")

    after = body(owner_client.get(reverse("billing")))

    assert "renamed-member" not in before and "renamed-member" in after
    assert "Top-up" in after


def test_only_the_newest_unfiltered_statement_rows_are_kept(
    member_client, team, operator, monkeypatch
):
    monkeypatch.setattr(money_views, "STATEMENT_PAGE_SIZE", 2)
    for n in range(3):
        ledger.grant(team, USD, operator, f"Grant {n}", f"g{n}")
    kept = caches["template_fragments"]
    kept.clear()

    def kept_rows():
        return [key for key in kept._cache if "statement-rows:" in key]

    first = body(member_client.get(reverse("billing"), {"since": "2020-01-01"}))
    cursor = first.split("cursor=")[1].split('"')[0]
    member_client.get(reverse("billing"), {"cursor": cursor}, **HX)
    member_client.get(reverse("billing"), {"vendor": ""}, **HX)  # no filter in use
    assert len(kept_rows()) == 1
    member_client.get(reverse("billing"))
    assert len(kept_rows()) == 1


def test_filled_in_filters_are_shown_around_the_kept_empty_ones(owner_client, activity):
    def since_field(html):
        return html.split('name="since"')[1].split(">")[0]

    empty = body(owner_client.get(reverse("billing")))
    filled = body(owner_client.get(reverse("billing"), {"since": "2020-01-01", "vendor": "ark"}))
    again = body(owner_client.get(reverse("billing")))

    assert 'value="2020-01-01"' in since_field(filled)
    assert '<option value="ark" selected>' in filled
    assert "value=" not in since_field(empty) and "value=" not in since_field(again)
    assert '<option value="ark" selected>' not in again
    assert '<option value="" selected>All vendors</option>' in again
