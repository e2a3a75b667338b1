"""Every URL pattern against every kind of visitor.

ROLES below is the expected table: for each named URL, the status each persona
gets for a GET and for an empty POST, in the order of PERSONAS. A URL added
without a row fails `test_every_url_has_a_row`; a view whose protection changes
fails its row. "other" is the owner of another team: anything naming an object of
this team must be a 404 for them, never a 403 (which would confirm it exists).

Redirects are checked for where they go: an anonymous visitor is sent to the login
page (or the admin's), a signed-in person without a team to "no team".
"""

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from billing.models import Invitation, Role
from generations.api import webhooks
from generations.api.models import ApiToken, Batch, Scope, WebhookEndpoint
from generations.assets.services import add_upload
from generations.models import State
from tests.assets.media import image_bytes, upload
from tests.factories import MembershipFactory
from tests.generations.factories import (
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)

PERSONAS = ["owner", "admin", "member", "viewer", "other", "anon", "operator"]

# What each <uuid> or <token> in a URL names.
OBJECTS = {
    "revoke_invitation": "invitation",
    "set_role": "membership",
    "remove_member": "membership",
    "accept_invitation": "invitation_token",
    "vendor_callback": "generation",
    "job": "generation",
    "job_card": "generation",
    "job_timeline": "generation",
    "cancel_job": "running",
    "clip": "generation",
    "clip_video": "generation",
    "clip_poster": "generation",
    "favourite": "generation",
    "project": "project",
    "set_project_cap": "project",
    "create_scene": "project",
    "storyboard": "project",
    "storyboard_zip": "project",
    "storyboard_export": "project",
    "storyboard_export_status": "project",
    "storyboard_mp4": "project",
    "edit_scene": "scene",
    "choose_take": "scene",
    "vendor_edit": "vendor_account",
    "vendor_toggle": "vendor_account",
    "vendor_test": "vendor_account",
    "needs_attention_job": "stuck",
    "settle_failed": "stuck",
    "settle_attach": "stuck",
    "settle_finished": "stuck",
    "asset_library": "project",
    "asset_file": "asset",
    "asset_thumbnail": "asset",
    "asset_delete": "asset",
    "asset_signed": "bad_signed_token",
    "clip_to_asset": "generation",
    "continue_clip": "generation",
    "revoke_api_token": "api_token",
    "replay_webhook_delivery": "webhook_delivery",
    "batch": "batch",
    "confirm_batch": "batch",
    "cancel_batch": "batch",
    "batch_results": "batch",
}
# Operators' pages refuse everyone else before they look anything up, whatever the id:
# their 403 confirms nothing about another team's objects.
OPERATOR_OBJECTS = {"vendor_account", "stuck"}

# name: (GET statuses, POST statuses), each in the order of PERSONAS:
#        owner admin member viewer other anon operator
ROLES = {
    "billing": ("200 200 200 200 200 302 302", "405 405 405 405 405 302 302"),
    "statement_csv": ("200 200 200 200 200 302 302", "405 405 405 405 405 302 302"),
    "balance_badge": ("200 200 200 200 200 302 204", "405 405 405 405 405 302 405"),
    "set_threshold": ("405 405 403 403 405 302 302", "200 200 403 403 200 302 302"),
    "member_caps": ("200 200 403 403 200 302 302", "200 200 403 403 200 302 302"),
    "grants": ("403 403 403 403 403 302 200", "403 403 403 403 403 302 405"),
    "grant_credits": ("403 403 403 403 403 302 405", "403 403 403 403 403 302 200"),
    "adjust_credits": ("403 403 403 403 403 302 405", "403 403 403 403 403 302 200"),
    "home": ("302 302 302 302 302 302 302", "302 302 302 302 302 302 302"),
    "login": ("200 200 200 200 200 200 200", "200 200 200 200 200 200 200"),
    "logout": ("405 405 405 405 405 405 405", "302 302 302 302 302 302 302"),
    "password_change": ("200 200 200 200 200 302 200", "200 200 200 200 200 302 200"),
    "password_change_done": ("200 200 200 200 200 302 200", "405 405 405 405 405 302 405"),
    "no_team": ("302 302 302 302 302 302 200", "302 302 302 302 302 302 200"),
    "switch_team": ("405 405 405 405 405 302 405", "404 404 404 404 404 302 404"),
    "team": ("200 200 200 200 200 302 302", "200 200 200 200 200 302 302"),
    "invite": ("405 405 403 403 405 302 302", "302 302 403 403 302 302 302"),
    "leave_team": ("405 405 405 405 405 302 302", "302 302 302 302 302 302 302"),
    "revoke_invitation": ("405 405 403 403 405 302 302", "302 302 403 403 404 302 302"),
    "set_role": ("405 405 405 405 405 405 405", "302 302 403 403 404 302 302"),
    "remove_member": ("405 405 405 405 405 405 405", "302 302 403 403 404 302 302"),
    "team_audit": ("200 200 403 403 200 302 302", "405 405 403 403 405 302 302"),
    "audit": ("403 403 403 403 403 302 200", "403 403 403 403 403 302 405"),
    "accept_invitation": ("410 410 410 410 200 200 200", "410 410 410 410 302 200 302"),
    "vendor_callback": ("405 405 405 405 405 405 405", "404 404 404 404 404 404 404"),
    "generate": ("200 200 200 403 200 302 302", "200 200 200 403 200 302 302"),
    "generate_quote": ("405 405 405 403 405 302 302", "200 200 200 403 200 302 302"),
    "jobs": ("200 200 200 200 200 302 302", "200 200 200 200 200 302 302"),
    "jobs_in_flight": ("200 200 200 200 200 302 302", "405 405 405 405 405 405 405"),
    "job": ("200 200 200 200 404 302 302", "200 200 200 200 404 302 302"),
    "job_card": ("302 302 302 302 404 302 302", "302 302 302 302 404 302 302"),
    "job_timeline": ("200 200 200 200 404 302 302", "405 405 405 405 405 405 405"),
    "cancel_job": ("405 405 405 405 405 405 405", "302 302 302 403 404 302 302"),
    "gallery": ("200 200 200 200 200 302 302", "200 200 200 200 200 302 302"),
    "clip": ("200 200 200 200 404 302 302", "200 200 200 200 404 302 302"),
    "clip_video": ("200 200 200 200 404 302 302", "200 200 200 200 404 302 302"),
    "clip_poster": ("200 200 200 200 404 302 302", "200 200 200 200 404 302 302"),
    "favourite": ("405 405 405 405 405 405 405", "302 302 302 302 404 302 302"),
    "projects": ("200 200 200 200 200 302 302", "200 200 200 403 200 302 302"),
    "project": ("200 200 200 200 404 302 302", "200 200 200 200 404 302 302"),
    "set_project_cap": ("405 405 405 405 405 405 405", "302 302 403 403 404 302 302"),
    "create_scene": ("405 405 405 405 405 405 405", "302 302 302 403 404 302 302"),
    "storyboard": ("200 200 200 200 404 302 302", "200 200 200 200 404 302 302"),
    "storyboard_zip": ("302 302 302 302 404 302 302", "302 302 302 302 404 302 302"),
    "storyboard_export": ("405 405 405 405 405 405 405", "302 302 302 302 404 302 302"),
    "storyboard_export_status": ("302 302 302 302 404 302 302", "405 405 405 405 405 405 405"),
    "storyboard_mp4": ("404 404 404 404 404 302 302", "404 404 404 404 404 302 302"),
    "edit_scene": ("405 405 405 405 405 405 405", "302 302 302 403 404 302 302"),
    "choose_take": ("405 405 405 405 405 405 405", "302 302 302 403 404 302 302"),
    "vendors": ("403 403 403 403 403 302 200", "403 403 403 403 403 302 405"),
    "vendor_add": ("403 403 403 403 403 302 200", "403 403 403 403 403 302 200"),
    "vendor_edit": ("403 403 403 403 403 302 200", "403 403 403 403 403 302 200"),
    "vendor_toggle": ("403 403 403 403 403 302 405", "403 403 403 403 403 302 400"),
    "vendor_test": ("403 403 403 403 403 302 405", "403 403 403 403 403 302 302"),
    "needs_attention": ("403 403 403 403 403 302 200", "403 403 403 403 403 302 405"),
    "needs_attention_job": ("403 403 403 403 403 302 200", "403 403 403 403 403 302 405"),
    "settle_failed": ("403 403 403 403 403 302 405", "403 403 403 403 403 302 200"),
    "settle_attach": ("403 403 403 403 403 302 405", "403 403 403 403 403 302 200"),
    "settle_finished": ("403 403 403 403 403 302 405", "403 403 403 403 403 302 200"),
    "asset_library": ("200 200 200 200 404 302 302", "400 400 400 403 404 302 302"),
    "asset_file": ("200 200 200 200 404 302 302", "405 405 405 405 405 302 302"),
    "asset_thumbnail": ("200 200 200 200 404 302 302", "405 405 405 405 405 302 302"),
    "asset_delete": ("405 405 405 403 405 302 302", "302 302 302 403 404 302 302"),
    # The token is the only key: no session helps, a bad one is a 404 for everyone.
    "asset_signed": ("404 404 404 404 404 404 404", "405 405 405 405 405 405 405"),
    "clip_to_asset": ("405 405 405 403 405 302 302", "404 404 404 403 404 302 302"),
    "continue_clip": ("405 405 405 403 405 302 302", "302 302 302 403 404 302 302"),
    "api_reference": ("200 200 200 200 200 200 200", "405 405 405 405 405 405 405"),
    "api_not_found": ("404 404 404 404 404 404 404", "404 404 404 404 404 404 404"),
    "create_api_token": ("405 405 403 403 405 302 302", "302 302 403 403 302 302 302"),
    "revoke_api_token": ("405 405 403 403 405 302 302", "302 302 403 403 404 302 302"),
    "team_webhook": ("200 200 403 403 200 302 302", "200 200 403 403 200 302 302"),
    "remove_webhook": ("405 405 403 403 405 302 302", "302 302 403 403 404 302 302"),
    "replay_webhook_delivery": ("405 405 403 403 405 302 302", "302 302 403 403 404 302 302"),
    "batches": ("200 200 200 200 200 302 302", "200 200 200 403 200 302 302"),
    "batch": ("200 200 200 200 404 302 302", "405 405 405 405 405 302 302"),
    "confirm_batch": ("405 405 405 403 405 302 302", "302 302 302 403 404 302 302"),
    "cancel_batch": ("405 405 405 403 405 302 302", "302 302 302 403 404 302 302"),
    "batch_results": ("200 200 200 200 404 302 302", "405 405 405 405 405 302 302"),
}

# Patterns covered elsewhere, with the reason.
ELSEWHERE = {
    "sandbox": "the sandbox speaks vendor protocols and checks vendor API keys "
    "(tests/sandbox/); it is mounted only when SANDBOX_ENABLED",
    "admin": "the Django admin: test_admin_needs_staff below and tests/test_admin.py",
    "api-1": "the JSON API authenticates by bearer token, not session: each endpoint "
    "against each role and token scope is in tests/api/test_contract.py",
}


def _walk(patterns, prefix="", namespace=None):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern), p.namespace or namespace)
        elif isinstance(p, URLPattern):
            yield namespace, prefix + str(p.pattern), p.name


def app_urls():
    return [
        (route, name)
        for namespace, route, name in _walk(get_resolver().url_patterns)
        if namespace not in ELSEWHERE and not route.startswith("sandbox/")
    ]


def test_every_url_has_a_row():
    urls = app_urls()
    unnamed = [route for route, name in urls if not name]
    assert not unnamed, f"Name these URL patterns so they can have a row: {unnamed}"
    missing = sorted(name for _, name in urls if name not in ROLES)
    assert not missing, f"Add rows to ROLES for: {missing}"
    stale = sorted(set(ROLES) - {name for _, name in urls})
    assert not stale, f"ROLES has rows for URLs that no longer exist: {stale}"


def api_objects(team, owner, member) -> dict:
    """The API app's objects of `team`: a token, a webhook delivery, a batch run."""
    api_token, _ = ApiToken.issue(team, owner, "script", Scope.READ)
    endpoint = WebhookEndpoint(team=team, url="https://hooks.example.com/in")
    endpoint.set_secret(WebhookEndpoint.new_secret())
    endpoint.save()
    delivery = webhooks.emit(endpoint, "generation.succeeded", "msg_roles", {})
    batch = Batch.objects.create(team=team, created_by=member, name="shots.csv")
    return {"api_token": api_token.uuid, "webhook_delivery": delivery.uuid, "batch": batch.uuid}


@pytest.fixture
def world(team, owner, member, viewer, other_team, outsider, operator, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    admin = MembershipFactory(team=team, role=Role.ADMIN, user__username="ada").user
    project = ProjectFactory(team=team, created_by=owner)
    scene = SceneFactory(project=project)
    done = GenerationFactory(project=project, scene=scene, created_by=member, succeeded=True)
    running = GenerationFactory(project=project, scene=scene, created_by=member, running=True)
    stuck = GenerationFactory(
        project=project, created_by=member, running=True, state=State.NEEDS_ATTENTION
    )
    invitation, token = Invitation.create(team, Role.MEMBER, invited_by=owner)
    objects = {
        "project": project.uuid,
        "scene": scene.uuid,
        "generation": done.uuid,
        "running": running.uuid,
        "stuck": stuck.uuid,
        "membership": team.memberships.get(user=member).uuid,
        "invitation": invitation.uuid,
        "invitation_token": token,
        # Evolink takes images (Kinovi, the factory's vendor, sells text-to-video only).
        "vendor_account": VendorAccountFactory(protocol="evolink").uuid,
        "asset": add_upload(project, owner, upload("still.png", image_bytes())).uuid,
        "bad_signed_token": "not-a-signed-token.png",
        **api_objects(team, owner, member),
    }
    users = {
        "owner": owner,
        "admin": admin,
        "member": member,
        "viewer": viewer,
        "other": outsider,
        "anon": None,
        "operator": operator,
    }
    assert done.state == State.SUCCEEDED
    return objects, users


def url_for(route, name, objects):
    if "<str:token>" in route and name == "vendor_callback":
        return reverse(name, kwargs={"uuid": objects["generation"], "token": "not-the-token"})
    if "<str:token>" in route:
        return reverse(name, kwargs={"token": objects[OBJECTS[name]]})
    if "<uuid:uuid>" in route:
        return reverse(name, kwargs={"uuid": objects[OBJECTS[name]]})
    return reverse(name)


def status_for(user, method, url):
    """One request whose effects are rolled back, so each persona meets the same world."""
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    with transaction.atomic():
        response = client.get(url) if method == "GET" else client.post(url, {})
        transaction.set_rollback(True)
    return response


def expected_redirect(persona, response, url) -> bool:
    location = response.headers.get("Location", "")
    if persona == "anon" and response.status_code == 302:
        return location.startswith(reverse("login")) or not location.startswith("/")
    return True


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("route,name", app_urls(), ids=lambda v: v if isinstance(v, str) else "")
def test_url_against_every_persona(world, route, name, method):
    objects, users = world
    url = url_for(route, name, objects)
    expected = ROLES[name][0 if method == "GET" else 1].split()
    got = []
    for persona in PERSONAS:
        response = status_for(users[persona], method, url)
        got.append(str(response.status_code))
        if persona == "anon" and response.status_code == 302:
            assert response.headers["Location"].startswith(reverse("login")), (url, response)
        names_our_object = OBJECTS.get(name, "vendor_account") not in OPERATOR_OBJECTS
        if persona == "other" and names_our_object and response.status_code == 403:
            pytest.fail(f"{method} {url} told another team's owner 403: it must be 404")
    table = dict(zip(PERSONAS, got, strict=True))
    assert got == expected, (
        f"{method} {url}: expected {dict(zip(PERSONAS, expected, strict=True))}, got {table}"
    )


def admin_urls():
    from django.contrib import admin

    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        urls.append(reverse("admin:{}_{}_changelist".format(*info)))
    return urls


def test_admin_needs_staff(world):
    objects, users = world
    admin_login = reverse("admin:login")
    for url in admin_urls():
        for persona in PERSONAS:
            response = status_for(users[persona], "GET", url)
            if persona == "operator":
                assert response.status_code == 200, url
            else:
                assert response.status_code == 302, (persona, url)
                assert response["Location"].startswith(admin_login), (persona, url)
