"""Adversarial review of the whole change 975567e..f4477c5 (adv26b): attacks the earlier
review files (test_review_stop25, test_review_stop26, test_review_search_document,
test_review_lazy_inputs) did not make.

- Money: a submission whose inputs form skips reading the project's assets (every slot
  empty) while a slot value arrives in a shape the skip might miss (a key with an empty
  string, a multipart list with an empty string, a single slot sent twice, a mode that
  needs a frame with none); a slot value sent 980 times; more fields than Django takes;
  another team's asset in a slot of a mode not chosen. A job is held once or not at all.
- The API and the batch CSV, which bind the same Generate form: another project's or
  another team's scene never makes a job, a hold or a scene.
- The sweep: a check a look found as the pass had to stop, or a called-back job taken
  from the feed as the pass ran out of time, is left due (never claimed) and the next
  pass checks it: no job is left unchecked forever.
- Search: hostile text (NUL, past the field's length, tsquery operators and phrase
  syntax) never shows another team's clips and never fails; the stored document of a
  clip is its own row's when the gallery's query is a subquery of another team's.

Every attack here held: these tests pin the behaviour that must not change.
"""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing import ledger
from billing.models import Hold
from generations.assets import services as asset_services
from generations.assets.forms import InputsForm
from generations.assets.models import GenerationInput
from generations.lifecycle import follow, steps, sweeping
from generations.models import Generation, Scene
from generations.studio import search
from tests.api.conftest import ApiClient, token_for
from tests.assets.media import image_bytes, upload
from tests.generations.conftest import form_data
from tests.generations.factories import (
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)
from tests.generations.factories import finished_clip as clip
from tests.test_review_stop25 import _recording

USD = 1_000_000


# ---------------------------------------------------------------------------------------
# Money: the inputs form that skips reading assets.


@pytest.fixture
def studio(team, owner, operator, settings, tmp_path):
    """A funded team, every vendor enabled, a project with a picture, and another team's
    picture."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CLIP_TEMP_DIR = str(tmp_path)
    for protocol in ("kinovi", "seedance2_ink", "seedanceapi_org", "evolink", "aigptimage"):
        VendorAccountFactory(protocol=protocol, label=f"{protocol} main")
    ledger.grant(team, 100 * USD, operator, "Credits", "adv26b-grant")
    project = ProjectFactory(team=team, name="Trailer", created_by=owner)
    picture = asset_services.add_upload(project, owner, upload("still.png", image_bytes()))
    return project, picture


def _post(data: dict) -> QueryDict:
    """The body as the view reads it (request.POST): every value a list. (To the test
    client, a plain dict: it sends a QueryDict's last value only.)"""
    body = QueryDict(mutable=True)
    for name, value in data.items():
        body.setlist(name, value if isinstance(value, list) else [value])
    return body


def _no_money_moved(team):
    assert not Generation.objects.exists()
    assert not Hold.objects.exists()
    assert ledger.balances(team).available == 100 * USD
    assert ledger.problems() == []


EMPTY_SHAPES = {
    "image, first frame empty": {"mode": "image", "first_frame": ""},
    "image, first frame absent": {"mode": "image"},
    "image, first frame sent twice, last empty": {"mode": "image", "first_frame": ["X", ""]},
    "first and last, both empty": {"mode": "first_last", "first_frame": "", "last_frame": ""},
    "first and last, last empty": {"mode": "first_last", "first_frame": "X", "last_frame": ""},
    "reference, one empty string": {"mode": "reference", "reference_images": ""},
    "reference, list of empties": {"mode": "reference", "reference_images": ["", ""]},
    "reference, every slot empty": {
        "mode": "reference",
        "reference_images": [],
        "reference_videos": "",
        "reference_audio": [""],
    },
}


@pytest.mark.django_db
@pytest.mark.parametrize("shape", list(EMPTY_SHAPES))
def test_a_mode_that_needs_inputs_with_empty_slots_makes_no_job_and_holds_nothing(
    member_client, team, studio, queued, django_capture_on_commit_callbacks, shape
):
    """Whatever shape an empty slot arrives in (absent, an empty string, a multipart list
    of empties, a single slot posted twice whose last value is empty), a mode that needs
    an input refuses the submission: no job, no hold, the ledger untouched."""
    project, picture = studio

    def filled(value):  # "X" stands for the project's picture
        if isinstance(value, list):
            return [filled(v) for v in value]
        return str(picture.uuid) if value == "X" else value

    values = {name: filled(value) for name, value in EMPTY_SHAPES[shape].items()}
    data = form_data(project, **values)  # a list is sent as a multipart list
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(reverse("generate"), data)
    assert response.status_code == 200, shape
    _no_money_moved(team)
    assert queued == []
    # The form's own judgement, as the view made it: refused, and the reason is a slot's.
    form = InputsForm(_post(values), project=project)
    assert not form.is_valid()
    assert set(form.errors) & {"first_frame", "last_frame", "__all__"}


@pytest.mark.django_db
def test_the_skip_reads_no_asset_and_a_slot_that_is_only_blank_is_still_judged(studio):
    """The skip is taken only when the widget reads nothing at all; a value of spaces or
    '0' is a value: the assets are read and the value refused as not in the library."""
    project, _ = studio
    with CaptureQueriesContext(connection) as read:
        form = InputsForm(_post({"mode": "image", "first_frame": ""}), project=project)
        assert not form.is_valid()
    assert not any("generations_asset" in q["sql"] for q in read.captured_queries)
    assert list(form.errors) == ["first_frame"]
    for blank in (" ", "0", "\t"):
        form = InputsForm(_post({"mode": "image", "first_frame": blank}), project=project)
        assert not form.is_valid()
        assert form.cleaned_data.get("chosen", []) == []


@pytest.mark.django_db
def test_a_frame_sent_twice_is_the_last_one_for_the_quote_and_the_job(
    member_client, team, studio, queued, django_capture_on_commit_callbacks
):
    """first_frame posted twice, empty then the picture: the skip, the quote and the
    cleaned value all read the last, so the one job is held once with one input."""
    project, picture = studio
    values = {"mode": "image", "first_frame": ["", str(picture.uuid)]}
    quoted = InputsForm(_post(values), project=project).hush()
    assert [a for _, a in quoted.chosen_now()] == [picture]
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(reverse("generate"), form_data(project, **values))
    assert response.status_code == 302, response.content.decode()[:2000]
    [job] = Generation.objects.all()
    assert [(i.role, i.asset) for i in GenerationInput.objects.all()] == [("first_frame", picture)]
    assert Hold.objects.count() == 1 and job.hold is not None
    assert ledger.balances(team).available == 100 * USD - job.hold.amount
    assert ledger.problems() == []


@pytest.mark.django_db
def test_a_reference_sent_980_times_is_one_input_and_one_hold(
    member_client, team, studio, queued, django_capture_on_commit_callbacks, monkeypatch
):
    project, picture = studio
    data = form_data(project, mode="reference", reference_images=[str(picture.uuid)] * 980)
    sent = []

    class Recording(InputsForm):
        def __init__(self, data=None, **kwargs):
            sent.append(len(data.getlist("reference_images")))
            super().__init__(data, **kwargs)

    monkeypatch.setattr("generations.studio.views.generate.InputsForm", Recording)
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(reverse("generate"), data)
    assert sent == [980]  # every copy reached the form
    assert response.status_code == 302, response.content.decode()[:2000]
    assert GenerationInput.objects.count() == 1
    assert Generation.objects.count() == 1 and Hold.objects.count() == 1
    assert ledger.problems() == []


@pytest.mark.django_db
def test_more_fields_than_django_takes_is_refused_before_any_money(
    member_client, team, studio, queued
):
    project, picture = studio
    data = form_data(project, mode="reference", reference_images=[str(picture.uuid)] * 1500)
    response = member_client.post(reverse("generate"), data)
    assert response.status_code == 400
    _no_money_moved(team)


@pytest.mark.django_db
def test_another_teams_asset_in_a_slot_of_another_mode_is_never_attached(
    member_client, team, other_team, studio, owner, queued, django_capture_on_commit_callbacks
):
    """A text-to-video submission carrying another team's picture in first_frame and in
    the references: the slots of another mode are not sent, so the job is made, held
    once, with no input at all (the foreign asset is neither attached nor read)."""
    project, _ = studio
    theirs = asset_services.add_upload(
        ProjectFactory(team=other_team), owner, upload("theirs.png", image_bytes())
    )
    data = form_data(
        project, mode="text", first_frame=str(theirs.uuid), reference_images=[str(theirs.uuid)]
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(reverse("generate"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not GenerationInput.objects.exists()
    assert Generation.objects.count() == 1 and Hold.objects.count() == 1
    # In a slot of the mode chosen, it is refused.
    data = form_data(project, mode="image", first_frame=str(theirs.uuid))
    assert member_client.post(reverse("generate"), data).status_code == 200
    assert Generation.objects.count() == 1 and Hold.objects.count() == 1


# ---------------------------------------------------------------------------------------
# The API and the batch CSV bind the same Generate form: its one-query scenes.


@pytest.fixture
def scenes(team, other_team, studio):
    project, _ = studio
    sibling = ProjectFactory(team=team, name="Sibling")
    theirs = ProjectFactory(team=other_team, name="Trailer")  # the same name, elsewhere
    return {
        "own": SceneFactory(project=project, number=1, title="Opening"),
        "sibling": SceneFactory(project=sibling, number=1, title="Sibling opening"),
        "theirs": SceneFactory(project=theirs, number=1, title="Their opening"),
    }


@pytest.mark.django_db
def test_the_api_never_puts_a_job_in_another_projects_or_teams_scene(
    team, member, studio, scenes, queued, django_capture_on_commit_callbacks
):
    project, _ = studio
    api = ApiClient(token_for(team, member))

    def submit(scene):
        body = {"prompt": "A fox in snow", "project": str(project.uuid), "scene": scene}
        with django_capture_on_commit_callbacks(execute=True):
            return api.post("/generations", body)

    for key in ("sibling", "theirs"):
        response = submit(str(scenes[key].uuid).upper())
        assert response.status_code == 422, response.content
        assert response.json()["field"] == "scene"
    _no_money_moved(team)
    # The project's own scene, written in capitals: the API reads it as a uuid.
    response = submit(str(scenes["own"].uuid).upper())
    assert response.status_code == 201, response.content
    [job] = Generation.objects.all()
    assert job.scene == scenes["own"] and Hold.objects.count() == 1


@pytest.mark.django_db
def test_a_batch_row_never_puts_a_job_in_another_projects_or_teams_scene(
    team, member, studio, scenes, queued
):
    from tests.api.test_batches import shot_list

    api = ApiClient(token_for(team, member))
    for key in ("sibling", "theirs"):
        text = shot_list(("A fox", "Trailer", str(scenes[key].uuid), "", "", "", "", ""))
        preview = api.post("/batches", {"csv": text}).json()
        [row] = preview["rows"]
        assert row["errors"], row
        assert api.post(f"/batches/{preview['id']}/confirm").status_code != 200
    _no_money_moved(team)
    assert Scene.objects.count() == 3  # no scene made of an id
    text = shot_list(("A fox", "trailer", "1", "", "", "", "", "2"))
    preview = api.post("/batches", {"csv": text}).json()
    done = api.post(f"/batches/{preview['id']}/confirm")
    assert done.status_code == 200, done.content
    assert {g.scene for g in Generation.objects.all()} == {scenes["own"]}
    assert Generation.objects.count() == 2 == Hold.objects.count()
    assert ledger.problems() == []


# ---------------------------------------------------------------------------------------
# The sweep: what a pass leaves when it must stop is checked by the next.


def _due(job, at=None):
    at = at or timezone.now() - timedelta(seconds=5)
    Generation.objects.filter(pk=job.pk).update(next_check_at=at, claimed_at=None)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("pool_of_its_size", "not_stopping")
@pytest.mark.parametrize("why", ["stopping", "out_of_time"])
def test_a_check_found_as_the_pass_had_to_end_is_left_due_and_the_next_pass_checks_it(
    monkeypatch, settings, why
):
    settings.SWEEP_THREADS = 1
    settings.SWEEP_PASS_SECONDS = 1.0
    job = GenerationFactory(running=True)
    Generation.objects.filter(pk=job.pk).update(next_check_at=timezone.now() + timedelta(hours=1))
    real = sweeping.due_checks
    looks = []

    def slow_look(*args, **kwargs):
        if kwargs.get("called_back"):
            return real(*args, **kwargs)
        _due(job)
        found = real(*args, **kwargs)
        looks.append(found)
        if why == "stopping":
            steps.stopping.set()
        else:
            time.sleep(1.2)
        return found

    ran = []
    monkeypatch.setattr(sweeping, "due_checks", slow_look)
    monkeypatch.setattr(sweeping, "check", _recording(ran))
    sweeping._run_on_pool([(lambda pk: None, 0)])
    assert looks and job.pk in looks[0] and ran == []
    left = Generation.objects.get(pk=job.pk)
    assert left.claimed_at is None and left.next_check_at <= timezone.now()  # due, free
    # The next pass (a new worker, not stopping) checks it first thing.
    steps.stopping.clear()
    monkeypatch.setattr(sweeping, "due_checks", real)
    settings.SWEEP_PASS_SECONDS = 5.0
    sweeping._run_on_pool([(sweeping.check, pk) for pk in sweeping.due_checks()])
    assert ran == [job.pk]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("pool_of_its_size", "not_stopping")
def test_a_called_back_job_taken_from_the_feed_as_time_ran_out_keeps_its_mark(
    monkeypatch, settings
):
    """called_back() pops the job, then the pass is past its time: the job's mark (the
    callback's) stays in the row, so the next pass takes it before every merely due one."""
    settings.SWEEP_THREADS = 1
    settings.SWEEP_PASS_SECONDS = 0.8
    job, other = GenerationFactory(running=True), GenerationFactory(running=True)
    Generation.objects.filter(pk=job.pk).update(next_check_at=timezone.now() + timedelta(hours=1))
    _due(other, at=timezone.now() - timedelta(minutes=1))
    ran = []

    def own_step(pk):
        follow.request_check(job.pk)  # the vendor calls back while the own step runs
        time.sleep(1.0)  # and the step ends past the pass's time

    monkeypatch.setattr(sweeping, "check", _recording(ran))
    sweeping._run_on_pool([(own_step, 0)])
    assert ran == []
    assert Generation.objects.get(pk=job.pk).next_check_at == follow.CALLED_BACK
    settings.SWEEP_PASS_SECONDS = 5.0
    due = sweeping.due_checks()
    assert due[:2] == [job.pk, other.pk]  # the callback's first
    sweeping._run_on_pool([(sweeping.check, pk) for pk in due])
    assert ran == [job.pk, other.pk]


# ---------------------------------------------------------------------------------------
# Search: hostile text, and the document's row across teams.


HOSTILE = [
    "fox\x00",
    "\x00",
    "fox " * 60,  # past the field's 200 characters
    "x" * 201,
    "fox <-> snow",
    "fox <2> snow",
    "!!fox",
    "fox:*A",
    "(fox | harbour) & !snow",
    "fox' || (SELECT prompt FROM generations_generation) || '",
    "\\\\fox",
    "ｆｏｘ",
]


@pytest.mark.django_db
@pytest.mark.usefixtures("media")
@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_search_text_never_fails_and_never_shows_another_teams_clip(
    member_client, team, other_team, q
):
    from tests.generations.test_gallery_search import shown

    ours = ProjectFactory(team=team, name="Harbour")
    for prompt in ("A fox in snow", "Harbour at night"):
        clip(ours, prompt)
    theirs = ProjectFactory(team=other_team, name="Harbour")
    for prompt in ("Their fox in snow", "Their harbour at night", "Their x" + "x" * 200):
        clip(theirs, prompt)
    got, html = shown(member_client, q)
    assert "Their" not in html
    assert set(got) <= {"A fox in snow", "Harbour at night"}


on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")


@on_postgres
@pytest.mark.django_db
@pytest.mark.usefixtures("media")
def test_the_document_is_the_inner_rows_when_a_teams_search_is_another_teams_subquery(
    team, other_team
):
    """The search's querysets used inside a query over another team's rows (U0 inside,
    generations_generation outside, and the reverse): each _Document renders the alias of
    its own query, so neither team's words select the other's clips."""
    ours = clip(ProjectFactory(team=team), "A fox in snow")
    theirs = clip(ProjectFactory(team=other_team), "A kite at sea")
    G = Generation.objects
    fox, kite = search._ts_query(["fox"]), search._ts_query(["kite"])
    our_foxes = G.filter(team=team).annotate(document=search._Document()).filter(document=fox)
    assert list(our_foxes.values_list("pk", flat=True)) == [ours.pk]
    # Their kites, limited to the ids of our foxes: nothing (each document its own row's).
    crossed = G.filter(team=other_team).filter(search._tested(kite)).filter(pk__in=our_foxes)
    assert list(crossed) == []
    crossed = G.filter(team=other_team, pk__in=our_foxes.values("pk")).filter(search._tested(fox))
    assert list(crossed) == []
    # The ranking of _best_first over our matches never brings their clip.
    ranked = search._best_first(our_foxes, fox)
    assert [r.pk for r in ranked.clips] == [ours.pk]
    # The probe of our team reads our clips only.
    assert search._probe(G.filter(team=team), ["kite"]) == (True, 1, 0)
    assert search._probe(G.filter(team=other_team), ["kite"]) == (True, 1, 1)
    assert theirs.pk not in set(our_foxes.values_list("pk", flat=True))
