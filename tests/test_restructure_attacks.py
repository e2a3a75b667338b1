"""Attacks on the billing/generations restructure, which was to change no behaviour.

Each test names what must still hold after the move: access and team scoping of the
moved views, safe `next` redirects, the routing policy's new home, audit action values,
the ledger package's contract, the balance badge's trigger, imports and templates.
"""

import json
import random
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from billing import ledger
from billing.models import AuditEntry, Hold, HoldStatus, Team, Transfer, TransferKind
from generations import lifecycle, routing
from generations.models import (
    Generation,
    GenerationsAuditAction,
    Project,
    RoutingPolicy,
    State,
    TeamRouting,
)
from generations.vendors import DEFAULT_CREDIT_VALUE, default_price_rules
from tests.generations.factories import (
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)

ROOT = Path(__file__).resolve().parent.parent
HTMX = {"HX-Request": "true"}
HOSTILE_NEXT = [
    "//evil.example",
    "https://evil.example/",
    "https:evil.example",
    "\\\\evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "javascript:alert(1)",
    " //evil.example",
    "http:///evil.example",
]


def triggers(response) -> dict:
    raw = response.headers.get("HX-Trigger")
    return json.loads(raw) if raw else {}


def text_request(prompt="A red fox runs through snow"):
    from generations.vendors import VideoRequest

    return VideoRequest(
        family="seedance-2.0", prompt=prompt, duration=5, resolution="720p", aspect_ratio="16:9"
    )


@pytest.fixture
def funded(team, operator):
    ledger.grant(team, 100_000_000, by=operator, memo="Test budget", key="attack-grant")
    return team


@pytest.fixture
def project(team, owner):
    return Project.objects.create(team=team, name="Trailer", created_by=owner)


@pytest.fixture
def kinovi(db):
    return VendorAccountFactory(protocol="kinovi", label="Kinovi main")


@pytest.fixture
def queued_job(funded, member, project, kinovi):
    [generation] = lifecycle.submit(
        team=funded, member=member, project=project, request=text_request()
    )
    return generation


# --- Safe `next`: seedance_site.web.safe_next / back_to ---------------------------------


@pytest.mark.parametrize("hostile", HOSTILE_NEXT)
def test_cancelling_a_job_never_follows_a_next_off_the_site(member_client, queued_job, hostile):
    url = reverse("cancel_job", args=[queued_job.uuid])
    response = member_client.post(url, {"next": hostile})
    assert response.status_code == 302
    assert response["Location"] == reverse("jobs"), response["Location"]


@pytest.mark.parametrize("hostile", HOSTILE_NEXT)
def test_favouriting_never_follows_a_next_off_the_site(member_client, team, member, hostile):
    done = GenerationFactory(project=ProjectFactory(team=team), created_by=member, succeeded=True)
    response = member_client.post(reverse("favourite", args=[done.uuid]) + f"?next={hostile}")
    assert response.status_code == 302
    assert response["Location"] == reverse("clip", args=[done.uuid]), response["Location"]


@pytest.mark.parametrize("hostile", HOSTILE_NEXT)
def test_switching_teams_never_follows_a_next_off_the_site(owner_client, team, hostile):
    response = owner_client.post(reverse("switch_team"), {"team": team.uuid, "next": hostile})
    assert response.status_code == 302
    assert response["Location"] == reverse("home"), response["Location"]


def test_a_next_on_this_site_is_still_followed(member_client, queued_job):
    url = reverse("cancel_job", args=[queued_job.uuid])
    response = member_client.post(url, {"next": "/gallery/?page=2"})
    assert response["Location"] == "/gallery/?page=2"


# --- Team scoping of what the Generate page prefills ------------------------------------


def test_generate_prefilled_from_another_teams_job_or_scene_is_a_404(
    outsider_client, member_client, team, member
):
    theirs = GenerationFactory(project=ProjectFactory(team=team), created_by=member)
    scene = SceneFactory(project=theirs.project)
    assert outsider_client.get(reverse("generate") + f"?from={theirs.uuid}").status_code == 404
    assert outsider_client.get(reverse("generate") + f"?scene={scene.uuid}").status_code == 404
    assert member_client.get(reverse("generate") + f"?from={theirs.uuid}").status_code == 200


def test_a_remix_of_another_teams_job_is_refused(outsider_client, outsider, team, member, kinovi):
    ledger.grant(outsider.memberships.get().team, 50_000_000, None, "budget", "outsider-grant")
    theirs = GenerationFactory(project=ProjectFactory(team=team), created_by=member)
    data = {
        "prompt": "A kite over the dunes",
        "family": "seedance-2.0",
        "duration": "5",
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "new_project": "Mine",
        "variants": "1",
        "remix_of": str(theirs.uuid),
    }
    response = outsider_client.post(reverse("generate"), data)
    assert response.status_code == 200
    assert not Generation.objects.filter(remix_of=theirs).exists()
    assert "remix_of" in response.context["form"].errors, response.context["form"].errors


# --- The balance badge hears of every money-moving action -------------------------------


def test_a_grant_and_an_adjustment_tell_the_badge(operator_client, team):
    grant = operator_client.post(
        reverse("grant_credits"),
        {"grant-team": team.uuid, "grant-amount": "10", "grant-memo": "Hi", "grant-key": "k1"},
        headers=HTMX,
    )
    assert grant.status_code == 200 and "balanceChanged" in triggers(grant), grant.headers
    assert triggers(grant)["toast"]["level"] == "success"
    adjust = operator_client.post(
        reverse("adjust_credits"),
        {"adjust-team": team.uuid, "adjust-amount": "-2", "adjust-reason": "x", "adjust-key": "k2"},
        headers=HTMX,
    )
    assert adjust.status_code == 200 and "balanceChanged" in triggers(adjust), adjust.headers
    assert ledger.balances(team).available == 8_000_000


def test_cancelling_a_job_tells_the_badge(member_client, queued_job):
    response = member_client.post(reverse("cancel_job", args=[queued_job.uuid]), headers=HTMX)
    assert response.status_code == 200
    sent = triggers(response)
    assert "balanceChanged" in sent and sent["toast"]["level"] == "success", sent
    queued_job.refresh_from_db()
    assert queued_job.state == State.CANCELLED
    assert queued_job.hold.status == HoldStatus.RELEASED


def test_submitting_tells_the_badge(member_client, funded, project, kinovi):
    data = {
        "prompt": "A lighthouse at dusk",
        "family": "seedance-2.0",
        "account": "",
        "duration": "5",
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "project": str(project.uuid),
        "variants": "2",
    }
    response = member_client.post(reverse("generate"), data, headers=HTMX)
    assert response.status_code == 200, response.content[:500]
    assert response.headers.get("HX-Redirect") == reverse("jobs")
    assert "balanceChanged" in triggers(response)
    jobs = list(Generation.objects.filter(team=funded))
    assert len(jobs) == 2 and len({g.batch for g in jobs}) == 1
    assert all(g.hold.status == HoldStatus.PENDING for g in jobs)
    assert all(g.callback_token_hash for g in jobs)
    assert all(g.events.filter(kind="submitted").exists() for g in jobs)


def test_the_last_poll_of_a_finished_job_tells_the_badge(member_client, team, member):
    done = GenerationFactory(project=ProjectFactory(team=team), created_by=member, succeeded=True)
    running = GenerationFactory(project=done.project, created_by=member, running=True)
    finished = member_client.get(reverse("job_card", args=[done.uuid]), headers=HTMX)
    still = member_client.get(reverse("job_card", args=[running.uuid]), headers=HTMX)
    assert "balanceChanged" in triggers(finished)
    assert "balanceChanged" not in triggers(still)


# --- The routing policy's new home ------------------------------------------------------


def _two_accounts():
    cheap = VendorAccountFactory(protocol="seedance2_ink", label="Cheap", priority=2)
    dear = VendorAccountFactory(protocol="seedanceapi_org", label="Dear", priority=1)
    for account in (cheap, dear):
        account.credit_value = DEFAULT_CREDIT_VALUE[account.protocol]
        account.price_rules = default_price_rules(account.protocol)
        account.save()
    return cheap, dear


def test_a_team_made_after_the_move_routes_by_price_and_follows_its_row(db):
    cheap, dear = _two_accounts()
    team = Team.objects.create(name="Brand new")
    assert not TeamRouting.objects.filter(team=team).exists()
    assert routing.route(team, text_request()).first.account == cheap
    TeamRouting.set_policy(team, RoutingPolicy.PRIORITY)
    assert routing.route(team, text_request()).first.account == dear
    TeamRouting.set_policy(team, RoutingPolicy.CHEAPEST)
    assert routing.route(team, text_request()).first.account == cheap


def test_the_team_admin_page_sets_the_routing_policy(operator_client, team):
    url = reverse("admin:billing_team_change", args=[team.pk])
    page = operator_client.get(url)
    assert page.status_code == 200 and "Cheapest quote first" in page.content.decode()
    form = page.context["adminform"].form
    data = {
        "name": team.name,
        "low_balance_threshold": form.initial.get("low_balance_threshold", 5_000_000),
        "created_0": "2026-01-01",
        "created_1": "00:00:00",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "routing-TOTAL_FORMS": "1",
        "routing-INITIAL_FORMS": "0",
        "routing-0-policy": "priority",
        "routing-0-team": team.pk,
    }
    for inline in page.context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        data.setdefault(f"{prefix}-TOTAL_FORMS", "0")
        data.setdefault(f"{prefix}-INITIAL_FORMS", "0")
    response = operator_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert TeamRouting.policy_for(team) == RoutingPolicy.PRIORITY
    listing = operator_client.get(reverse("admin:billing_team_changelist")).content.decode()
    assert "Operator&#x27;s priority order" in listing or "Operator's priority order" in listing


# --- Audit actions ----------------------------------------------------------------------


def test_the_project_cap_page_writes_the_value_and_label_it_always_had(owner_client, project):
    response = owner_client.post(
        reverse("set_project_cap", args=[project.uuid]), {"spend_cap": "7"}
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.get()
    assert entry.action == "project_cap_set" == GenerationsAuditAction.PROJECT_CAP_SET
    assert entry.get_action_display() == "Project cap set"
    assert entry.changes == {"spend_cap": ["no cap", "$7.00"]}


def test_the_admin_filters_audit_entries_by_another_apps_action(operator_client, operator):
    AuditEntry.objects.create(action="vendor_added", target="Kinovi main (kinovi)")
    AuditEntry.objects.create(action="credits_granted", target="Northwind")
    url = reverse("admin:billing_auditentry_changelist")
    page = operator_client.get(url + "?action=vendor_added")
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1


# --- The ledger package's contract ------------------------------------------------------


def test_the_ledger_package_keeps_its_contract(team, member, project, operator):
    ledger.grant(team, 10_000_000, operator, "Budget", "g1")
    again = ledger.grant(team, 10_000_000, operator, "Budget", "g1")
    assert again.kind == TransferKind.GRANT and ledger.balances(team).available == 10_000_000
    with pytest.raises(ledger.KeyReused):
        ledger.grant(team, 9_000_000, operator, "Budget", "g1")

    hold = ledger.hold(team, member, project, 2_000_000, "Clip", key="h1")
    assert ledger.hold(team, member, project, 2_000_000, "Clip", key="h1").pk == hold.pk
    with pytest.raises(ledger.KeyReused):
        ledger.hold(team, member, project, 3_000_000, "Clip", key="h1")
    with pytest.raises(ledger.Refused):
        ledger.hold(team, member, project, 50_000_000, "Too much", key="h2")

    captured = ledger.capture(hold, 3_000_000, vendor="v", vendor_label="Vendor")
    assert captured.status == HoldStatus.CAPTURED and captured.captured_amount == 3_000_000
    kinds = set(Transfer.objects.filter(hold=hold).values_list("kind", flat=True))
    assert kinds == {TransferKind.HOLD, TransferKind.CAPTURE, TransferKind.OVERAGE}

    second = ledger.hold(team, member, project, 1_000_000, "Clip", key="h3")
    released = ledger.release(second, "Cancelled")
    assert released.status == HoldStatus.RELEASED
    assert ledger.balances(team) == ledger.Balances(
        available=7_000_000, on_hold=0, spent_this_month=3_000_000
    )
    with pytest.raises(ledger.Refused):
        ledger.adjust(team, -8_000_000, operator, "Too much", "a1")
    assert ledger.problems() == []
    assert Hold.objects.filter(team=team).count() == 2


# --- Imports: no module depends on being imported after another -----------------------


def _modules():
    names = []
    for package in ("billing", "generations", "seedance_site"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            names.append(".".join(parts))
    return names


SETUP = (
    "import os, sys, importlib; os.environ['DJANGO_SETTINGS_MODULE']='seedance_site.settings';"
    "import django; django.setup();"
)


def _import_in_fresh_interpreter(names):
    code = SETUP + "".join(f"importlib.import_module({n!r});" for n in names)
    done = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    return names, done.returncode, done.stderr[-1500:]


FIRST_IMPORTS = """
import importlib, json, sys, traceback
baseline = set(sys.modules)
failed = {}
for name in MODULES:
    for loaded in [m for m in sys.modules if m not in baseline]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed[name] = traceback.format_exc()[-800:]
print(json.dumps(failed))
"""


def test_every_module_imports_first_and_in_random_orders_in_a_fresh_interpreter():
    modules = _modules()
    # Each module as the first one imported after django.setup(), in one interpreter that
    # forgets, before each, every module setup had not loaded.
    code = SETUP + f"MODULES = {modules!r}" + FIRST_IMPORTS
    done = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-1500:]
    assert json.loads(done.stdout.splitlines()[-1]) == {}
    runs = []
    for seed in range(4):
        shuffled = modules[:]
        random.Random(seed).shuffle(shuffled)
        runs.append(shuffled)
    with ThreadPoolExecutor(max_workers=4) as pool:
        failed = [r for r in pool.map(_import_in_fresh_interpreter, runs) if r[1] != 0]
    assert not failed, failed[:3]


# --- Templates: no page of a moved view misses a name it shows --------------------------


def test_no_page_shows_a_name_its_view_no_longer_provides(
    settings, team, owner, member, viewer, outsider, operator, kinovi, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    from billing.models import Invitation, Role
    from generations.assets.services import add_upload
    from tests.assets.media import image_bytes, upload
    from tests.factories import MembershipFactory
    from tests.test_url_roles import PERSONAS, api_objects, app_urls, url_for

    settings.TEMPLATES[0]["OPTIONS"]["string_if_invalid"] = "@@MISSING[%s]@@"
    admin = MembershipFactory(team=team, role=Role.ADMIN, user__username="ada").user
    project = ProjectFactory(team=team, created_by=owner)
    scene = SceneFactory(project=project)
    done = GenerationFactory(project=project, scene=scene, created_by=member, succeeded=True)
    running = GenerationFactory(project=project, scene=scene, created_by=member, running=True)
    stuck = GenerationFactory(
        project=project, created_by=member, running=True, state=State.NEEDS_ATTENTION
    )
    invitation, token = Invitation.create(team, Role.MEMBER, invited_by=owner)
    VendorAccountFactory(protocol="evolink")  # takes the image asset; Kinovi is text-only
    objects = {
        "project": project.uuid, "scene": scene.uuid, "generation": done.uuid,
        "running": running.uuid, "stuck": stuck.uuid,
        "membership": team.memberships.get(user=member).uuid,
        "invitation": invitation.uuid, "invitation_token": token,
        "vendor_account": kinovi.uuid, **api_objects(team, owner, member),
        "asset": add_upload(project, owner, upload("still.png", image_bytes())).uuid,
        "bad_signed_token": "not-a-signed-token.png",
    }  # fmt: skip
    users = {"owner": owner, "admin": admin, "member": member, "viewer": viewer,
             "other": outsider, "anon": None, "operator": operator}  # fmt: skip
    # Known before the restructure (4d47a36): the duration note is read when there is none.
    known = {"form.options.notes.duration"}
    missing = {}
    for route, name in app_urls():
        url = url_for(route, name, objects)
        for persona in PERSONAS:
            for headers in ({}, HTMX):
                client = Client(raise_request_exception=True)
                if users[persona]:
                    client.force_login(users[persona])
                with transaction.atomic():
                    response = client.get(url, headers=headers)
                    transaction.set_rollback(True)
                if getattr(response, "streaming", False):
                    continue
                found = set(
                    re.findall(r"@@MISSING\[(.*?)\]@@", response.content.decode(errors="replace"))
                )
                if found - known:
                    missing[f"{name} as {persona}{' (htmx)' if headers else ''}"] = found - known
    assert not missing, missing


def test_the_live_quote_names_its_vendor_and_amounts(
    settings, member_client, funded, project, kinovi
):
    settings.TEMPLATES[0]["OPTIONS"]["string_if_invalid"] = "@@MISSING[%s]@@"
    data = {
        "prompt": "", "family": "seedance-2.0", "account": "", "duration": "5",
        "aspect_ratio": "16:9", "resolution": "720p", "project": str(project.uuid),
        "variants": "2",
    }  # fmt: skip
    response = member_client.post(reverse("generate_quote"), data, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "@@MISSING" not in html, html
    # 5 s at 720p is 200 Kinovi credits, $1.00 at the default credit value; two clips.
    assert "Kinovi main" in html and "200 vendor credits" in html, html
    assert "$2.00" in html and "disabled" not in html.split('type="submit"')[1][:200]
    assert Decimal(routing.route(funded, text_request()).first.credits) == Decimal("200")


# --- The vendors page's health: refusals found by account id, old events by label ------


def test_refusals_count_for_the_account_they_name_and_old_events_by_label(team, member):
    from generations.models import VendorAccount
    from generations.operators.vendor_views import note_health, with_health

    one = VendorAccountFactory(protocol="kinovi", label="Main")
    twin = VendorAccountFactory(protocol="seedance2_ink", label="Main")
    job = GenerationFactory(project=ProjectFactory(team=team), created_by=member)
    job.log("vendor_refused", "refused", vendor="Main", account_uuid=one.uuid.hex)
    job.log("vendor_refused", "refused", vendor="Main", account_uuid=one.uuid.hex)
    job.log("vendor_refused", "written before the id was kept", vendor="Main")
    health = {a.pk: note_health(a) for a in with_health(VendorAccount.objects.all())}
    assert health[one.pk].refusals == 3
    assert health[twin.pk].refusals == 1
