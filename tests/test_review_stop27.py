"""Adversarial review of stop 27: the Generate page's submit button lives in #submit-row,
outside #quote, and a live quote redraws it (out of band) only when the posted
`submit_key` differs from the new quote's ("ok-1", "refused-2").

Every attack here held; these tests pin it. The defects this review found are in the
browser (tests/browser/test_review_stop27_browser.py), except the hidden key's
autocomplete="off", pinned here: a browser that puts a hidden value back on Back
(Firefox does) would post a key the button does not show, and no quote would redraw it.
"""

import re

import pytest
from django.http import QueryDict

from billing import ledger
from billing.models import Hold
from generations.models import Generation
from tests.generations.conftest import form_data
from tests.generations.factories import ProjectFactory, SceneFactory, VendorAccountFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

ONE_AND_A_HALF = 1_500_000  # Kinovi's 5 s clip at 720p is $1.00: money for one, not two
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def kinovi(db):
    return VendorAccountFactory(protocol="kinovi", label="Kinovi main")


@pytest.fixture
def project(team, owner):
    return ProjectFactory(team=team, name="Lighthouse", created_by=owner)


@pytest.fixture
def capped(team, owner):
    return ProjectFactory(team=team, name="Capped", created_by=owner, spend_cap=500_000)


@pytest.fixture
def money(team, operator):
    ledger.grant(team, ONE_AND_A_HALF, by=operator, memo="Budget", key="stop27")
    return team


def row_of(html):
    """The submit row in `html`, or None."""
    match = re.search(r'<div id="submit-row".*?</div>', html, re.S)
    return match and match.group(0)


def shown(row):
    """What a submit row shows: its key, whether disabled, what it points at, its label."""
    button = re.search(r"<button(.*?)>\s*(.*?)\s*</button>", row, re.S)
    described = re.search(r'aria-describedby="([^"]*)"', button.group(1))
    return {
        "key": re.search(r'name="submit_key" value="([^"]*)"', row).group(1),
        "disabled": " disabled" in button.group(1),
        "describedby": described and described.group(1),
        "label": button.group(2),
    }


def quote(client, data, submit_key="posted-nothing"):
    data = dict(data, submit_key=submit_key) if submit_key is not None else data
    response = client.post("/generate/quote/", data, **HX)
    assert response.status_code == 200
    return response.content.decode()


def full_form(client, data):
    """The whole form as posted, drawn again (what an upload's answer draws)."""
    response = client.post("/generate/", dict(data, intent="refresh"), **HX)
    assert response.status_code == 200
    return response.content.decode()


def assert_row_agrees(row, html, key):
    """The row shows `key`, and a disabled button points at reasons that are there."""
    state = shown(row)
    ok, variants = key.split("-")
    assert state["key"] == key
    assert state["disabled"] is (ok == "refused")
    assert state["label"] == (f"Generate {variants} clips" if variants != "1" else "Generate clip")
    if state["disabled"]:
        assert state["describedby"] == "quote-reasons"
        assert 'id="quote-reasons" class="reasons" role="status"' in html
    else:
        assert state["describedby"] is None
        assert 'id="quote-reasons"' not in html


STATES = [
    pytest.param({}, "ok-1", id="ok"),
    pytest.param({"variants": "2"}, "refused-2", id="money-for-one"),
    pytest.param({"prompt": "x" * 4100}, "refused-1", id="prompt-too-long"),
    pytest.param({"family": "seedance-2.0-mini"}, "refused-1", id="no-vendor"),
    pytest.param({"mode": "image"}, "refused-1", id="mode-without-frame"),
    pytest.param({"variants": "abc"}, "ok-1", id="variants-not-a-number"),
    pytest.param({"variants": "0"}, "ok-1", id="variants-zero"),
    pytest.param({"variants": "99"}, "refused-4", id="variants-past-four"),
]


@pytest.mark.parametrize("change, key", STATES)
def test_the_row_agrees_with_the_quote_in_a_live_quote_and_a_redrawn_form(
    member_client, kinovi, project, money, change, key
):
    """Held: whatever the state, the key, the button's disabled, its label and its
    aria-describedby agree, both out of band after a quote and in the whole form."""
    data = form_data(project, **change)
    answer = quote(member_client, data)
    row = row_of(answer)
    assert 'hx-swap-oob="true"' in row
    assert_row_agrees(row, answer, key)
    page = full_form(member_client, data)
    assert "hx-swap-oob" not in row_of(page)
    assert_row_agrees(row_of(page), page, key)


def test_a_quote_that_leaves_the_row_be_could_only_have_drawn_the_same_row(
    member_client, kinovi, project, money, capped
):
    """Held: the key says all the row shows. For every two states with one key, their
    rows are the same, and the quote for the second, posted the first's key, leaves the
    row be while its own reasons are there for the disabled button to point at."""
    states = [form_data(project, **p.values[0]) for p in STATES]
    states += [form_data(capped), form_data(project, account=str(kinovi.uuid))]
    rows = {}
    for data in states:
        row = row_of(full_form(member_client, data))
        rows.setdefault(shown(row)["key"], set()).add(row)
    assert {key: len(drawn) for key, drawn in rows.items()} == dict.fromkeys(rows, 1)
    for data in states:
        key = shown(row_of(full_form(member_client, data)))["key"]
        answer = quote(member_client, data, submit_key=key)
        assert row_of(answer) is None and "btn primary wide" not in answer
        assert ('id="quote-reasons"' in answer) is key.startswith("refused")


HOSTILE = [
    pytest.param("x" * 100_000, id="long"),
    pytest.param('ok-1"><script>alert(1)</script>', id="html"),
    pytest.param("ok-1\u202e<img src=x onerror=alert(1)>", id="unicode-html"),
    pytest.param("ok-\uff11", id="fullwidth-digit"),
    pytest.param("OK-1", id="upper"),
    pytest.param("ok-1 ", id="trailing-space"),
    pytest.param("", id="empty"),
    pytest.param(None, id="missing"),
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_submit_key_is_never_reflected_and_redraws_the_true_row(
    member_client, kinovi, project, money, hostile
):
    """Held: no 500, the posted key never comes back, and the row drawn is the quote's."""
    answer = quote(member_client, form_data(project), submit_key=hostile)
    if hostile:
        assert hostile not in answer and "<script>alert" not in answer
        assert "onerror=alert" not in answer
    assert len(answer) < 20_000
    row = row_of(answer)
    assert 'hx-swap-oob="true"' in row
    assert_row_agrees(row, answer, "ok-1")


@pytest.mark.parametrize(
    "values, redrawn",
    [(["garbage", "ok-1"], False), (["ok-1", "garbage"], True), (["ok-1", "ok-1"], False)],
)
def test_a_repeated_submit_key_is_read_as_its_last_value(
    member_client, kinovi, project, money, values, redrawn
):
    """Held: Django's QueryDict.get reads the last of repeated values; the row is redrawn
    exactly when that one differs. A page holds one submit_key, so only a forged post
    repeats it, and then only the forger's own page is drawn."""
    data = QueryDict(mutable=True)
    data.update(form_data(project))
    data.setlist("submit_key", values)
    answer = member_client.post("/generate/quote/", data, **HX).content.decode()
    assert (row_of(answer) is not None) is redrawn
    assert "garbage" not in answer


@pytest.mark.parametrize("hostile", [p.values[0] for p in HOSTILE])
def test_a_hostile_submit_key_changes_nothing_a_submission_makes(
    member_client, team, kinovi, project, money, hostile
):
    """Held: the key is the page's, never the server's judge: the same one clip, held once
    for the same amount, whatever key comes with the submission."""
    data = form_data(project)
    if hostile is not None:
        data["submit_key"] = hostile
    response = member_client.post("/generate/", data, **HX)
    assert response.status_code == 200 and response["HX-Redirect"] == "/jobs/"
    [generation] = Generation.objects.filter(team=team)
    assert Hold.objects.get(pk=generation.hold_id).amount == 1_000_000
    assert ledger.available_balance(team) == ONE_AND_A_HALF - 1_000_000


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"variants": "2"}, "This needs $2.00; the team has $1.50 available."),
        ({"prompt": "x" * 4100}, "No vendor can take this request as it is."),
        ({"family": "seedance-2.0-mini"}, "No vendor can take this request as it is."),
    ],
)
def test_a_stale_enabled_button_still_cannot_spend_what_the_quote_refuses(
    member_client, team, kinovi, project, money, change, reason
):
    """Held: a button left enabled ("ok-1" posted) by any race submits what the quote would
    refuse; the server refuses it, nothing is made or held, and the form comes back with
    its button disabled beside the reasons."""
    response = member_client.post(
        "/generate/", form_data(project, submit_key="ok-1", **change), **HX
    )
    html = response.content.decode()
    assert response.status_code == 200 and "HX-Redirect" not in response
    assert not Generation.objects.exists() and not Hold.objects.exists()
    assert ledger.available_balance(team) == ONE_AND_A_HALF
    assert reason in html
    assert shown(row_of(html))["disabled"]
    assert_row_agrees(row_of(html), html, shown(row_of(html))["key"])


def test_money_gone_between_the_quote_and_the_press_is_refused_and_redrawn(
    member_client, team, operator, kinovi, project, money
):
    """Held: the quote said ok-1; the money went; the press is refused with nothing held,
    and the form it draws again has the button disabled, pointing at the reasons."""
    assert row_of(quote(member_client, form_data(project), submit_key="ok-1")) is None
    ledger.adjust(team, -1_000_000, by=operator, reason="Spent elsewhere", key="stop27-drain")
    response = member_client.post("/generate/", form_data(project, submit_key="ok-1"), **HX)
    html = response.content.decode()
    assert "This needs $1.00; the team has $0.50 available." in html
    assert not Generation.objects.exists() and not Hold.objects.exists()
    assert_row_agrees(row_of(html), html, "refused-1")


def test_a_capped_project_refuses_without_naming_another_teams_project(
    member_client, team, other_team, owner, kinovi, project, money
):
    """Held: another team's capped project posted as the project is not read: the quote
    and the row speak of this team only (its balance, no name or cap of theirs), and a
    submission into it makes and holds nothing there."""
    theirs = ProjectFactory(team=other_team, name="Rival secret", spend_cap=300_000)
    SceneFactory(project=theirs, number=1, title="Rival scene")
    ledger.grant(other_team, 77_000_000, by=owner, memo="Theirs", key="rival")
    data = form_data(project, project=str(theirs.uuid))
    for html in (quote(member_client, data), full_form(member_client, data)):
        for leak in ("Rival secret", "Rival scene", "$77.00", "$0.30", str(theirs.uuid)):
            assert leak not in html
        assert "$1.50" in html
        assert shown(row_of(html))["key"] in ("ok-1", "refused-1")
    response = member_client.post("/generate/", dict(data, submit_key="ok-1"), **HX)
    assert response.status_code == 200
    assert not Generation.objects.filter(project=theirs).exists()
    assert not Hold.objects.filter(team=other_team).exists()
    assert ledger.available_balance(other_team) == 77_000_000


def test_a_capped_project_of_the_team_refuses_and_redraws(
    member_client, team, kinovi, project, capped, money
):
    """Held: changing the project to one whose cap is short is a key change (ok-1 to
    refused-1): the row comes out of band, disabled, with the project's reason."""
    answer = quote(member_client, form_data(capped), submit_key="ok-1")
    assert_row_agrees(row_of(answer), answer, "refused-1")
    assert "“Capped” has $0.50 left of its $0.50 cap" in answer
    back = quote(member_client, form_data(project), submit_key="refused-1")
    assert_row_agrees(row_of(back), back, "ok-1")


def test_a_rate_refusal_draws_the_form_again_with_the_quotes_row(
    member_client, team, operator, kinovi, project, money, settings
):
    """Held: the live quote does not know the member's rate, so after a refusal for going
    too fast the row stays as the quote has it (enabled): pressing again is asked again,
    and refused again, with nothing made."""
    settings.GENERATE_RATE_PER_MINUTE = 1
    ledger.grant(team, 10_000_000, by=operator, memo="More", key="stop27-more")
    data = form_data(project, submit_key="ok-1")
    assert member_client.post("/generate/", data, **HX)["HX-Redirect"] == "/jobs/"
    html = member_client.post("/generate/", data, **HX).content.decode()
    assert "in the last minute" in html
    assert_row_agrees(row_of(html), html, "ok-1")
    assert Generation.objects.filter(team=team).count() == 1


def test_the_whole_page_draws_the_row_once_and_never_out_of_band(
    member_client, kinovi, project, money
):
    """Held: the page as it opens (and kept in the fragment cache, the second time) has
    one submit row, in place, agreeing with the quote."""
    for _ in range(2):
        page = member_client.get(f"/generate/?project={project.uuid}").content.decode()
        assert page.count('id="submit-row"') == 1 and page.count('name="submit_key"') == 1
        assert "hx-swap-oob" not in row_of(page)
        assert_row_agrees(row_of(page), page, "ok-1")
    refused = member_client.get(f"/generate/?project={project.uuid}&family=seedance-2.0-mini")
    html = refused.content.decode()
    assert_row_agrees(row_of(html), html, "refused-1")


def test_the_hidden_key_is_not_put_back_by_the_browser(member_client, kinovi, project, money):
    """Fixed: autocomplete="off" keeps a browser that restores hidden values on Back or
    reload (Firefox) from posting a key the drawn button does not show: the quote would
    then leave a wrong button be. Fails without the attribute."""
    page = member_client.get(f"/generate/?project={project.uuid}").content.decode()
    assert re.search(
        r'<input type="hidden" name="submit_key" value="ok-1" autocomplete="off">', page
    )
    answer = quote(member_client, form_data(project, variants="2"), submit_key="ok-1")
    assert 'name="submit_key" value="refused-2" autocomplete="off"' in row_of(answer)


@pytest.mark.parametrize(
    "posted, echoed",
    [("refused-4", "refused-4"), ("ok-2", "ok-2"), ("ok-5", ""), ("ok-12", ""), ("ok-0", "")],
)
def test_the_row_echoes_only_a_key_the_page_draws(
    member_client, kinovi, project, money, posted, echoed
):
    """data-was repeats the posted key only when it is one a page draws (ok/refused, one to
    MAX_VARIANTS clips: presenters.SUBMIT_KEYS), so no other posted text is written back."""
    answer = quote(member_client, form_data(project), submit_key=posted)
    assert f'data-was="{echoed}"' in row_of(answer)
