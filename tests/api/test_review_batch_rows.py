"""Hostile rows in a shot list: each is a row error in words, never a 500, and another
team's ids are never found."""

import csv
import io

import pytest

from generations.api import batches
from generations.api.models import Batch
from generations.models import Scene
from tests.api.test_batches import shot_list
from tests.generations.conftest import PROMPT
from tests.generations.factories import ProjectFactory, SceneFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "row",
    [
        (PROMPT, "Trailer", "", "", "-5", "", "", ""),
        (PROMPT, "Trailer", "", "", "99999999999999999999999", "", "", ""),
        (PROMPT, "Trailer", "", "", "1e309", "", "", "NaN"),
        (PROMPT, "Trailer", "", "", "", "", "", "-1"),
        (PROMPT, "Trailer", "", "", "", "", "", "10000"),
        (PROMPT, "Trailer", "", "\u202emodel", "", "\uff1d1", "", ""),
        ('=HYPERLINK("http://evil")', "Trailer", "", "", "", "", "", ""),
    ],
)
def test_a_hostile_row_is_an_error_or_a_clean_preview(member_api, funded, project, kinovi, row):
    response = member_api.post("/batches", {"csv": shot_list(row)})
    assert response.status_code == 201, response.content[:300]


def test_another_teams_project_id_in_a_row_is_not_found(member_api, funded, project, other_team):
    foreign = ProjectFactory(team=other_team)
    response = member_api.post("/batches", {"csv": shot_list((PROMPT, str(foreign.uuid)))})
    row = response.json()["rows"][0]
    assert row["errors"][0]["field"] == "project"


def test_another_teams_scene_id_in_a_row_is_an_error_not_a_new_scene(
    member_api, funded, project, kinovi, other_team
):
    foreign = SceneFactory(project=ProjectFactory(team=other_team))
    response = member_api.post(
        "/batches", {"csv": shot_list((PROMPT, "Trailer", str(foreign.uuid)))}
    )
    row = response.json()["rows"][0]
    assert [e["field"] for e in row["errors"]] == ["scene"]
    member_api.post(f"/batches/{response.json()['id']}/confirm")
    assert not Scene.objects.filter(project=project).exists()


def test_every_cell_of_the_results_csv_is_formula_safe_row_errors_too(team, owner):
    fields = dict.fromkeys(batches.COLUMNS, "")
    batch = Batch.objects.create(
        team=team,
        created_by=owner,
        name="n",
        rows=[
            {
                "number": 1,
                "fields": fields,
                "errors": [{"field": None, "message": "=1+1"}],
                "project": "",
                "hold": 0,
                "expected": 0,
                "clips": 1,
            }
        ],
    )
    out = io.StringIO()
    batches.write_results(batch, out, lambda path: path)
    cells = [cell for row in csv.reader(io.StringIO(out.getvalue())) for cell in row]
    assert not any(cell.startswith(batches.FORMULA_STARTS) for cell in cells)
