"""The Billing pages: who sees what, htmx partials, CSV, keyset pages, forms that never 500."""

import csv
import datetime as dt
import io
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from billing import ledger
from billing.models import Membership, Team, Transfer, TransferKind
from billing.money import views as money_views
from tests.factories import MembershipFactory

USD = 1_000_000
HX = {"HTTP_HX_REQUEST": "true"}


class Project:
    def __init__(self, name, spend_cap=None):
        self.uuid, self.name, self.spend_cap = uuid.uuid4(), name, spend_cap


@pytest.fixture
def activity(team, owner, member, operator):
    """A grant, a captured job in a project, and a job still running."""
    ledger.grant(team, 20 * USD, operator, "Welcome credits", "welcome")
    trailer = Project("Trailer")
    ledger.capture(
        ledger.hold(team, member, trailer, 3 * USD, "Drone shot", "gen-1", "generation:1"),
        2_500_000,
        "ark",
        "BytePlus ModelArk",
    )
    ledger.hold(team, owner, None, USD, "Logo sting", "gen-2")
    return trailer


def body(response):
    return response.content.decode()


# --- Access ---


def test_anonymous_people_are_sent_to_log_in(client):
    response = client.get(reverse("billing"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


@pytest.mark.parametrize("persona", ["owner_client", "member_client", "viewer_client"])
def test_every_team_member_sees_the_billing_page(request, persona, activity):
    response = request.getfixturevalue(persona).get(reverse("billing"))

    assert response.status_code == 200
    html = body(response)
    assert "$16.50" in html  # available: 20 - 3 - 1 + 0.50 returned
    assert "$1.00" in html  # on hold
    assert "$2.50" in html  # spent this month
    assert "Drone shot" in html
    assert "Welcome credits" in html


def test_an_outsider_sees_only_their_own_team(outsider_client, activity):
    response = outsider_client.get(reverse("billing"))

    assert response.status_code == 200
    html = body(response)
    assert "Rival Films" in html
    assert "Drone shot" not in html
    assert "Welcome credits" not in html


def test_a_user_without_a_team_is_shown_how_to_get_one(operator_client):
    response = operator_client.get(reverse("billing"))
    assert response.status_code == 302
    assert response["Location"] == reverse("no_team")


def test_only_owners_and_admins_see_the_threshold_and_caps_controls(
    owner_client, member_client, team, owner
):
    assert "Low-balance warning" in body(owner_client.get(reverse("billing")))
    assert reverse("member_caps") in body(owner_client.get(reverse("billing")))
    member_page = body(member_client.get(reverse("billing")))
    assert "Low-balance warning" not in member_page
    assert reverse("member_caps") not in member_page


# --- Balances, banner, charts ---


def test_it_warns_when_available_is_below_the_threshold(member_client, team, operator):
    ledger.grant(team, 2 * USD, operator, "A little", "g")

    html = body(member_client.get(reverse("billing")))

    assert 'class="banner warn"' in html
    assert "Credit is running low." in html
    assert "$2.00 is available, below this team's warning level of $5.00." in html


def test_it_does_not_warn_above_the_threshold(member_client, team, operator):
    ledger.grant(team, 6 * USD, operator, "Enough", "g")

    assert "banner warn" not in body(member_client.get(reverse("billing")))


def test_the_charts_are_inline_svg_with_titles_and_no_inline_style_or_script(
    member_client, activity
):
    html = body(member_client.get(reverse("billing")))

    assert html.count("<svg") == 4
    assert '<title id="spend-by-day-title">Spend by day, last 30 days</title>' in html
    today = dt.datetime.now(dt.UTC).date()
    assert f"<title>{today:%b} {today.day}: $2.50</title>" in html
    assert "<title>mateo: $2.50</title>" in html
    assert "<title>Trailer: $2.50</title>" in html
    assert "<title>BytePlus ModelArk: $2.50</title>" in html
    assert "style=" not in html
    assert "<script>" not in html and "onclick" not in html


def test_the_breakdowns_cover_the_same_days_as_the_bars(member_client, activity, team):
    first_day = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first_day -= dt.timedelta(days=29)
    Transfer.objects.filter(kind=TransferKind.CAPTURE).update(
        created=first_day + dt.timedelta(minutes=1)
    )

    response = member_client.get(reverse("billing"))

    assert sum(total for _, total in response.context["by_day"]) == 2_500_000
    assert response.context["by_member"] == [("mateo", 2_500_000)]
    assert response.context["by_vendor"] == [("BytePlus ModelArk", 2_500_000)]


def test_a_member_with_a_cap_sees_what_is_left(member_client, activity, member):
    Membership.objects.filter(user=member).update(monthly_cap=10 * USD)

    html = body(member_client.get(reverse("billing")))

    assert "Your monthly cap" in html
    assert '$2.50 <span class="muted">of $10.00</span>' in html


# --- Statement: filters, htmx, pagination ---


def test_the_statement_filters_by_member(owner_client, activity, member, team):
    membership = Membership.objects.get(user=member, team=team)

    html = body(owner_client.get(reverse("billing"), {"member": membership.uuid}))

    assert "Drone shot" in html
    assert "Logo sting" not in html


def test_the_statement_filters_by_project_and_vendor(owner_client, activity):
    by_project = body(owner_client.get(reverse("billing"), {"project": activity.uuid}, **HX))
    by_vendor = body(owner_client.get(reverse("billing"), {"vendor": "ark"}, **HX))

    assert "Drone shot" in by_project and "Logo sting" not in by_project
    assert "Spend" in by_vendor and "Hold returned" not in by_vendor


def test_the_statement_filters_by_date(owner_client, activity, team):
    Transfer.objects.filter(kind=TransferKind.GRANT).update(
        created=dt.datetime(2024, 3, 10, 12, tzinfo=dt.UTC)
    )

    march = body(
        owner_client.get(reverse("billing"), {"since": "2024-03-10", "until": "2024-03-10"}, **HX)
    )
    later = body(owner_client.get(reverse("billing"), {"since": "2024-03-11"}, **HX))

    assert "Welcome credits" in march and "Drone shot" not in march
    assert "Welcome credits" not in later and "Drone shot" in later


def test_an_htmx_filter_request_gets_only_the_statement_partial(member_client, activity):
    response = member_client.get(reverse("billing"), {"vendor": "ark"}, **HX)

    html = body(response)
    assert html.lstrip().startswith('<div id="statement">')
    assert "<html" not in html
    assert "Spend by day" not in html
    assert response["HX-Push-Url"] == reverse("billing") + "?vendor=ark"


def test_the_pushed_and_exported_urls_leave_out_empty_filters(member_client, activity):
    query = {"since": "", "until": "", "member": "", "project": "", "vendor": "ark"}

    response = member_client.get(reverse("billing"), query, **HX)

    assert response["HX-Push-Url"] == "/billing/?vendor=ark"
    assert 'href="/billing/statement.csv?vendor=ark"' in body(response)


@pytest.mark.parametrize(
    "query, field, message",
    [
        ({"since": "yesterday"}, "From", "Enter a valid date."),
        (
            {"since": "2024-05-02", "until": "2024-05-01"},
            "To",
            "The end date is before the start date.",
        ),
        ({"member": "not-a-uuid"}, "Member", "Choose a member of this team."),
        ({"member": str(uuid.uuid4())}, "Member", "Choose a member of this team."),
        ({"project": str(uuid.uuid4())}, "Project", "Select a valid choice."),
        ({"vendor": "nobody"}, "Vendor", "Select a valid choice."),
        ({"cursor": "abc"}, "Cursor", "This page link is broken"),
    ],
)
def test_bad_filters_are_form_errors_not_500s(member_client, activity, query, field, message):
    full = member_client.get(reverse("billing"), query)
    partial = member_client.get(reverse("billing"), query, **HX)

    assert full.status_code == partial.status_code == 200
    assert message in body(full)
    assert f"{field}: {message}" in body(partial) or message in body(partial)


def test_a_member_filter_with_another_teams_member_is_a_404(
    member_client, activity, outsider, other_team
):
    theirs = Membership.objects.get(user=outsider, team=other_team)

    assert member_client.get(reverse("billing"), {"member": theirs.uuid}).status_code == 404


def test_the_statement_pages_with_a_keyset_cursor(member_client, team, operator, monkeypatch):
    monkeypatch.setattr(money_views, "STATEMENT_PAGE_SIZE", 10)
    for n in range(25):
        ledger.grant(team, USD, operator, f"Grant number {n:02d}", f"g{n}")

    first = body(member_client.get(reverse("billing")))
    assert (
        "Grant number 24" in first and "Grant number 15" in first and "Grant number 14" not in first
    )
    assert 'hx-trigger="revealed"' in first
    cursor = first.split("cursor=")[1].split('"')[0]

    second = member_client.get(reverse("billing"), {"cursor": cursor}, **HX)
    html = body(second)
    assert html.lstrip().startswith("<tr>")  # Rows only, appended in place of the sentinel row.
    assert "Grant number 14" in html and "Grant number 05" in html and "Grant number 15" not in html
    third = body(
        member_client.get(
            reverse("billing"), {"cursor": html.split("cursor=")[1].split('"')[0]}, **HX
        )
    )
    assert "Grant number 04" in third and "Grant number 00" in third
    assert 'hx-trigger="revealed"' not in third  # The last page stops the scroll.


def test_the_cursor_keeps_rows_with_the_same_timestamp(member_client, team, operator, monkeypatch):
    monkeypatch.setattr(money_views, "STATEMENT_PAGE_SIZE", 3)
    for n in range(5):
        ledger.grant(team, USD, operator, f"Tie {n}", f"g{n}")
    Transfer.objects.update(created=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))

    first = body(member_client.get(reverse("billing")))
    cursor = first.split("cursor=")[1].split('"')[0]
    second = body(member_client.get(reverse("billing"), {"cursor": cursor}, **HX))

    seen = [f"Tie {n}" for n in range(5) if f"Tie {n}<" in first or f"Tie {n}<" in second]
    assert len(seen) == 5


def test_pagination_keeps_the_filters(member_client, team, operator, monkeypatch):
    monkeypatch.setattr(money_views, "STATEMENT_PAGE_SIZE", 2)
    for n in range(4):
        ledger.grant(team, USD, operator, f"Grant {n}", f"g{n}")

    html = body(member_client.get(reverse("billing"), {"since": "2020-01-01"}))

    assert "?since=2020-01-01&amp;cursor=" in html


def test_the_statement_page_costs_the_same_queries_for_many_rows(
    member_client, team, member, operator, django_assert_max_num_queries
):
    def grow(n, start):
        for i in range(start, start + n):
            ledger.grant(team, 5 * USD, operator, "More", f"g{i}")
            held = ledger.hold(team, member, Project(f"P{i}"), USD, "Shot", f"h{i}")
            ledger.capture(held, USD // 2, f"v{i % 3}", f"Vendor {i % 3}")

    grow(2, 0)
    with django_assert_max_num_queries(4) as few:
        assert member_client.get(reverse("billing")).status_code == 200
    grow(40, 2)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert member_client.get(reverse("billing")).status_code == 200
    with django_assert_max_num_queries(4):
        member_client.get(reverse("billing"), {"vendor": "v1"}, **HX)


# --- CSV ---


def test_the_csv_export_streams_the_filtered_statement(owner_client, activity, member, team):
    response = owner_client.get(reverse("statement_csv"), {"vendor": "ark"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="northwind-pictures-statement-' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["created (UTC)", "entry", "member", "project"]
    assert [r[1] for r in rows[1:]] == ["Spend"]
    spend = rows[1]
    assert spend[2:4] == ["mateo", "Trailer"]
    assert spend[5:7] == ["BytePlus ModelArk", "Drone shot"]
    assert spend[8:11] == ["0.00", "-2.50", "2.50"]


def test_the_csv_export_has_every_entry_without_filters(viewer_client, activity):
    response = viewer_client.get(reverse("statement_csv"))

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    kinds = sorted(r[1] for r in rows[1:])
    assert kinds == ["Credit grant", "Hold", "Hold", "Hold returned", "Spend"]
    grant = next(r for r in rows if r[1] == "Credit grant")
    assert grant[8] == "20.00"


def test_the_csv_export_defuses_spreadsheet_formulas(owner_client, team, operator):
    ledger.grant(team, USD, operator, '=HYPERLINK("http://evil")', "g")

    text = b"".join(owner_client.get(reverse("statement_csv")).streaming_content).decode()

    assert "'=HYPERLINK" in text


def test_bad_csv_filters_go_back_to_the_page_that_explains_them(owner_client, activity):
    response = owner_client.get(reverse("statement_csv"), {"since": "nope"})

    assert response.status_code == 302
    assert response["Location"] == reverse("billing") + "?since=nope"


# --- Threshold ---


def test_an_owner_sets_the_low_balance_threshold(owner_client, team):
    response = owner_client.post(reverse("set_threshold"), {"threshold": "12.50"})

    assert response.status_code == 302
    team.refresh_from_db()
    assert team.low_balance_threshold == 12_500_000


@pytest.mark.parametrize(
    "value, error",
    [
        ("-1", "Enter zero or more."),
        ("lots", "Enter an amount in dollars, like 12.50."),
        ("", "This field is required."),
    ],
)
def test_a_bad_threshold_is_a_form_error(owner_client, team, value, error):
    response = owner_client.post(reverse("set_threshold"), {"threshold": value})

    assert response.status_code == 200
    assert error in body(response)
    team.refresh_from_db()
    assert team.low_balance_threshold == 5 * USD


@pytest.mark.parametrize("persona", ["member_client", "viewer_client"])
def test_members_and_viewers_cannot_set_the_threshold(request, persona, team):
    response = request.getfixturevalue(persona).post(reverse("set_threshold"), {"threshold": "1"})

    assert response.status_code == 403
    team.refresh_from_db()
    assert team.low_balance_threshold == 5 * USD


# --- Caps ---


def test_an_owner_sees_and_sets_member_caps(owner_client, team, member, activity):
    membership = Membership.objects.get(user=member, team=team)
    page = owner_client.get(reverse("member_caps"))
    assert page.status_code == 200
    assert "mateo" in body(page) and "$3.00" not in body(page)  # used: $2.50 spent

    response = owner_client.post(
        reverse("member_caps"), {"member": membership.uuid, "monthly_cap": "20"}
    )

    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.monthly_cap == 20 * USD
    assert "mateo may spend $20.00 a month." in body(owner_client.get(reverse("member_caps")))


def test_an_empty_cap_removes_it(owner_client, team, member):
    Membership.objects.filter(user=member).update(monthly_cap=USD)
    membership = Membership.objects.get(user=member, team=team)

    owner_client.post(reverse("member_caps"), {"member": membership.uuid, "monthly_cap": ""})

    membership.refresh_from_db()
    assert membership.monthly_cap is None


def test_an_htmx_cap_change_returns_the_row(owner_client, team, member):
    membership = Membership.objects.get(user=member, team=team)

    response = owner_client.post(
        reverse("member_caps"), {"member": membership.uuid, "monthly_cap": "7.5"}, **HX
    )

    html = body(response)
    assert html.lstrip().startswith(f'<tr id="cap-{membership.uuid}">')
    assert 'value="7.50"' in html
    assert "toast" in response["HX-Trigger"]


@pytest.mark.parametrize(
    "value, error",
    [
        ("-5", "Enter zero or more."),
        ("five", "Enter an amount in dollars, like 12.50."),
        ("1.0000001", "Use at most six decimal places"),
    ],
)
def test_a_bad_cap_is_an_error_next_to_the_field(owner_client, team, member, value, error):
    membership = Membership.objects.get(user=member, team=team)

    full = owner_client.post(
        reverse("member_caps"), {"member": membership.uuid, "monthly_cap": value}
    )
    row = owner_client.post(
        reverse("member_caps"), {"member": membership.uuid, "monthly_cap": value}, **HX
    )

    assert full.status_code == row.status_code == 200
    assert error in body(full)
    assert f'<p class="error" id="cap-{membership.uuid}-error">{error}' in body(row)
    membership.refresh_from_db()
    assert membership.monthly_cap is None


@pytest.mark.parametrize("member_id", ["", "42", str(uuid.uuid4())])
def test_an_unknown_member_id_is_a_form_error(owner_client, team, member_id):
    full = owner_client.post(reverse("member_caps"), {"member": member_id, "monthly_cap": "1"})
    partial = owner_client.post(
        reverse("member_caps"), {"member": member_id, "monthly_cap": "1"}, **HX
    )

    assert full.status_code == partial.status_code == 200
    assert 'class="form-errors"' in body(full)
    assert body(partial).lstrip().startswith('<div id="cap-errors">')


def test_another_teams_member_id_is_a_404(owner_client, outsider, other_team):
    theirs = Membership.objects.get(user=outsider, team=other_team)

    response = owner_client.post(
        reverse("member_caps"), {"member": theirs.uuid, "monthly_cap": "1"}
    )

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.monthly_cap is None


@pytest.mark.parametrize("persona", ["member_client", "viewer_client"])
def test_members_and_viewers_cannot_see_or_set_caps(request, persona, team, member):
    membership = Membership.objects.get(user=member, team=team)
    client = request.getfixturevalue(persona)

    assert client.get(reverse("member_caps")).status_code == 403
    assert (
        client.post(
            reverse("member_caps"), {"member": membership.uuid, "monthly_cap": "100"}
        ).status_code
        == 403
    )
    membership.refresh_from_db()
    assert membership.monthly_cap is None


def test_an_admin_can_set_caps(team, member):
    admin = MembershipFactory(team=team, admin=True, user__username="ada").user
    client = Client()
    client.force_login(admin)
    membership = Membership.objects.get(user=member, team=team)

    assert (
        client.post(
            reverse("member_caps"), {"member": membership.uuid, "monthly_cap": "3"}
        ).status_code
        == 302
    )


# --- Grants and adjustments ---


def grant_data(team, /, **overrides):
    data = {
        "grant-team": team.uuid,
        "grant-amount": "50",
        "grant-memo": "Pilot",
        "grant-key": uuid.uuid4().hex,
    }
    return data | {f"grant-{k}": v for k, v in overrides.items()}


def adjust_data(team, /, **overrides):
    data = {
        "adjust-team": team.uuid,
        "adjust-amount": "-5",
        "adjust-reason": "Double grant",
        "adjust-key": uuid.uuid4().hex,
    }
    return data | {f"adjust-{k}": v for k, v in overrides.items()}


def test_an_operator_grants_credits(operator_client, operator, team):
    response = operator_client.post(reverse("grant_credits"), grant_data(team, amount="$1,250.50"))

    assert response.status_code == 302
    transfer = Transfer.objects.get(kind=TransferKind.GRANT)
    assert (transfer.team, transfer.amount, transfer.created_by, transfer.memo) == (
        team,
        1_250_500_000,
        operator,
        "Pilot",
    )
    page = body(operator_client.get(reverse("grants")))
    assert "Granted $1,250.50 to Northwind Pictures." in page
    assert "+$1,250.50" in page and "ops" in page and "Pilot" in page


def test_a_double_submitted_grant_counts_once(operator_client, team):
    data = grant_data(team)
    operator_client.post(reverse("grant_credits"), data)
    operator_client.post(reverse("grant_credits"), data)

    assert ledger.balances(team).available == 50 * USD


def test_a_resubmitted_grant_form_with_changes_is_an_error(operator_client, team):
    data = grant_data(team)
    operator_client.post(reverse("grant_credits"), data)

    response = operator_client.post(reverse("grant_credits"), data | {"grant-amount": "60"})

    assert response.status_code == 200
    assert "already sent with other values" in body(response)
    assert ledger.balances(team).available == 50 * USD


def test_an_htmx_grant_refreshes_the_balance(operator_client, team):
    response = operator_client.post(reverse("grant_credits"), grant_data(team), **HX)

    assert response.status_code == 200
    assert body(response).lstrip().startswith('<form id="grant-form"')
    assert "balanceChanged" in response["HX-Trigger"]
    assert "Granted $50.00 to Northwind Pictures." in response["HX-Trigger"]


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("amount", "-5", "Enter an amount above zero."),
        ("amount", "0", "Enter an amount above zero."),
        ("amount", "fifty", "Enter an amount in dollars, like 12.50."),
        ("amount", "1e12", "That is more than $1,000,000,000.00."),
        ("memo", "", "This field is required."),
        ("team", str(uuid.uuid4()), "Select a valid choice."),
        ("team", "nope", "Select a valid choice."),
    ],
)
def test_a_bad_grant_is_a_form_error(operator_client, team, field, value, error):
    full = operator_client.post(reverse("grant_credits"), grant_data(team, **{field: value}))
    partial = operator_client.post(
        reverse("grant_credits"), grant_data(team, **{field: value}), **HX
    )

    assert full.status_code == partial.status_code == 200
    assert error in body(full)
    assert error in body(partial) and body(partial).lstrip().startswith('<form id="grant-form"')
    assert "HX-Trigger" not in partial
    assert not Transfer.objects.exists()


def test_an_operator_adjusts_a_balance_both_ways(operator_client, team, operator):
    ledger.grant(team, 10 * USD, operator, "Start", "g")

    operator_client.post(reverse("adjust_credits"), adjust_data(team, amount="-4"))
    operator_client.post(
        reverse("adjust_credits"), adjust_data(team, amount="1.5", reason="Goodwill")
    )

    assert ledger.balances(team).available == 7_500_000
    page = body(operator_client.get(reverse("grants")))
    assert "-$4.00" in page and "Double grant" in page and "+$1.50" in page and "Goodwill" in page


def test_an_adjustment_that_would_overdraw_is_a_form_error(operator_client, team, operator):
    ledger.grant(team, 2 * USD, operator, "Start", "g")

    response = operator_client.post(reverse("adjust_credits"), adjust_data(team, amount="-5"), **HX)

    assert response.status_code == 200
    assert "This takes away $5.00; the team has $2.00 available." in body(response)
    assert ledger.balances(team).available == 2 * USD


@pytest.mark.parametrize(
    "value, error", [("0", "Enter an amount other than zero"), ("x", "Enter an amount in dollars")]
)
def test_a_bad_adjustment_is_a_form_error(operator_client, team, value, error):
    response = operator_client.post(reverse("adjust_credits"), adjust_data(team, amount=value))

    assert response.status_code == 200
    assert error in body(response)


@pytest.mark.parametrize(
    "persona", ["owner_client", "member_client", "viewer_client", "outsider_client"]
)
def test_only_operators_grant(request, persona, team):
    client = request.getfixturevalue(persona)

    assert client.get(reverse("grants")).status_code == 403
    assert client.post(reverse("grant_credits"), grant_data(team)).status_code == 403
    assert client.post(reverse("adjust_credits"), adjust_data(team)).status_code == 403
    assert not Transfer.objects.exists()


def test_the_grants_page_lists_teams_and_preselects_one(operator_client, team, other_team):
    html = body(operator_client.get(reverse("grants"), {"team": other_team.uuid}))

    assert "Northwind Pictures" in html and "Rival Films" in html
    assert f'<option value="{other_team.uuid}" selected>' in html


def test_the_grants_list_pages_with_a_cursor(operator_client, team, operator, monkeypatch):
    monkeypatch.setattr(money_views, "GRANTS_PAGE_SIZE", 3)
    for n in range(5):
        ledger.grant(team, USD, operator, f"Grant {n}", f"g{n}")

    first = body(operator_client.get(reverse("grants")))
    cursor = first.split("cursor=")[1].split('"')[0]
    rows = body(operator_client.get(reverse("grants"), {"cursor": cursor}, **HX))

    assert "Grant 4" in first and "Grant 1" not in first
    assert rows.lstrip().startswith("<tr>") and "Grant 1" in rows and "Grant 0" in rows
    assert "Grant 4" not in rows


# --- Badge ---


def test_the_badge_shows_the_available_balance(member_client, team, operator):
    ledger.grant(team, 12 * USD, operator, "Credits", "g")

    response = member_client.get(reverse("balance_badge"), **HX)

    html = body(response)
    assert 'class="badge"' in html
    assert "$12.00" in html
    assert "<html" not in html


def test_the_badge_turns_low_under_the_threshold(member_client, team, operator):
    ledger.grant(team, USD, operator, "Credits", "g")

    assert 'class="badge low"' in body(member_client.get(reverse("balance_badge"), **HX))


def test_the_badge_is_empty_without_a_team(operator_client):
    assert operator_client.get(reverse("balance_badge"), **HX).status_code == 204


def test_the_badge_template_refreshes_itself_when_money_moves(rf, member, team):
    from django.template.loader import render_to_string

    request = rf.get("/")
    request.user = member
    html = render_to_string("billing/money/balance_badge.html", request=request)

    assert 'hx-trigger="load, balanceChanged from:body"' in html
    assert f'hx-get="{reverse("balance_badge")}"' in html
    assert 'hx-swap="innerHTML"' in html  # Never outerHTML: "load" would fire again forever.


def test_teams_are_never_deleted_from_under_the_ledger(team, operator):
    from django.db.models import ProtectedError

    ledger.grant(team, USD, operator, "Credits", "g")

    with pytest.raises(ProtectedError):
        Team.objects.filter(pk=team.pk).delete()


def test_every_page_header_carries_the_balance_badge_that_refreshes_when_money_moves(
    member_client,
):
    html = member_client.get(reverse("team")).content.decode()
    assert 'id="balance-badge"' in html
    assert 'hx-trigger="load, balanceChanged from:body"' in html
