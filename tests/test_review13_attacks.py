"""Review 13: attacks on the page-speed changes (cached fragments, the shared favourite
form, MembershipsBackend, cached_db sessions, the one-query gallery page)."""

from datetime import timedelta

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.core.cache import caches
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import Invitation, Role
from generations.models import Favourite, Generation
from tests.generations.factories import GenerationFactory, ProjectFactory


@pytest.fixture(autouse=True)
def empty_fragments():
    caches["template_fragments"].clear()
    yield
    caches["template_fragments"].clear()


# --- MembershipsBackend -------------------------------------------------------------


def test_a_new_user_who_signs_up_through_an_invitation_stays_signed_in(client, team, owner):
    """accept_invitation logs the new user in with backend=ModelBackend, which is no longer
    in AUTHENTICATION_BACKENDS: Django's get_user then answers AnonymousUser on the very
    next request, so a new member is signed out straight after signing up."""
    _, token = Invitation.create(team, Role.MEMBER, owner)
    response = client.post(
        reverse("accept_invitation", args=[token]),
        {
            "username": "newbie",
            "password1": "a long secret phrase",
            "password2": "a long secret phrase",
        },
    )
    assert response.status_code == 302
    after = client.get(reverse("team"))
    assert after.status_code == 200, after.get("Location")


def test_a_session_signed_in_before_the_deploy_stays_signed_in(member, team):
    """Every session made before this change names django.contrib.auth.backends.ModelBackend
    (as does tests/deploy/check_deployment.py): with only MembershipsBackend listed, every
    signed-in user is signed out at deploy."""
    from importlib import import_module

    from django.conf import settings

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(member.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = member.get_session_auth_hash()
    store.create()
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    response = client.get(reverse("team"))
    assert response.status_code == 200, response.get("Location")


# --- The gallery: the filter form's cached markup, the one-query page --------------------


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def filter_form_entries():
    return [k for k in caches["template_fragments"]._cache if ":gallery-filter:" in k]


def test_query_parameters_the_form_never_shows_do_not_each_keep_a_copy_of_the_filters(
    member_client, team, owner, media
):
    """GalleryFilterForm.digest hashes every GET parameter (sorted(self.data.lists())),
    including ones the form does not have: ?x=1, ?x=2, ... or every page's ?cursor= each
    keep one more copy of the whole filter form (every project, scene, vendor and member
    of the team) in each process's template_fragments cache, 24 hours, up to 5,000 copies
    (MAX_ENTRIES counts entries, not bytes), evicting the cards that the cache is for.
    A crafted crawl fills every web process with (5,000 x the form's size) of junk."""
    ProjectFactory(team=team, name="Orchard")
    for n in range(30):
        response = member_client.get(f"/gallery/?utm_source=x{n}")
        assert response.status_code == 200
    # One per long list (project, scene, vendor, member): what they show is the same.
    assert 0 < len(filter_form_entries()) <= 4
    for n in range(30):  # values that are none of the choices are never kept
        member_client.get(f"/gallery/?scene=00000000-0000-0000-0000-{n:012d}&project=x{n}")
    assert len(filter_form_entries()) <= 4


def test_walking_the_plain_gallery_pages_shows_each_clip_once_with_ties(
    member_client, member, team, owner, media
):
    project = ProjectFactory(team=team, name="Orchard")
    same = timezone.now() - timedelta(hours=1)
    made = [
        GenerationFactory(project=project, succeeded=True, prompt=f"clip number {n:03d}")
        for n in range(60)
    ]
    # Half the clips share one instant: the page boundary falls inside the tie.
    Generation.objects.filter(pk__in=[g.pk for g in made[10:50]]).update(created=same)
    for g in made[::2]:
        Favourite.objects.create(user=member, generation=g)
    for query, expected in (("", made), ("favourites=on", made[::2])):
        seen, url = [], f"/gallery/?{query}"
        for _ in range(10):
            html = member_client.get(url).content.decode()
            seen += [p for p in (f"clip number {n:03d}" for n in range(60)) if p in html]
            if 'class="pager nojs-only"><a class="btn" href="' not in html:
                break
            url = (
                html.split('class="pager nojs-only"><a class="btn" href="')[1]
                .split('"')[0]
                .replace("&amp;", "&")
            )
        assert sorted(seen) == sorted(g.prompt for g in expected)
        assert len(seen) == len(set(seen))


def test_no_kept_fragment_holds_a_token_the_request_path_or_unescaped_text(
    member_client, owner_client, team, member, media
):
    import pickle

    project = ProjectFactory(team=team, name='Orch"<b>ard')
    for kw in ({"succeeded": True}, {"failed": True}, {"succeeded": True, "created_by": member}):
        GenerationFactory(project=project, prompt='x"><script>alert(1)</script>', **kw)
    for client in (member_client, owner_client):
        for url in ("/gallery/?q=zz&secretpath=1", "/gallery/", "/jobs/?secretpath=1", "/jobs/"):
            assert client.get(url).status_code == 200
    for key, value in caches["template_fragments"]._cache.items():
        markup = pickle.loads(value)  # noqa: S301 (our own cache, in this process)
        assert "csrf" not in markup.lower(), key
        assert "secretpath" not in markup or "gallery-filters" in key, key
        assert "<script>" not in markup and "<b>" not in markup, key
