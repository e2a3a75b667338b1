"""Schemathesis sends what the OpenAPI document allows (and some it does not) to every
operation on the live server: no answer may be a 5xx, and every answer is JSON or the
file the document names."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.api.conftest import token_for
from tests.generations.conftest import make_account
from tests.generations.factories import GenerationFactory, SceneFactory

pytestmark = pytest.mark.django_db(transaction=True)

# Per operation: enough to find a 500, few enough for CI.
EXAMPLES = 25


@pytest.fixture
def api_schema(live_server, funded, owner, project, monkeypatch, settings, tmp_path):
    # Jobs it manages to submit stay queued: no worker, no broker.
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    settings.MEDIA_ROOT = tmp_path
    make_account("kinovi", live_server.url)
    SceneFactory(project=project)
    GenerationFactory(project=project, succeeded=True)
    return schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")


@pytest.fixture
def bearer(funded, owner) -> dict:
    return {"Authorization": f"Bearer {token_for(funded, owner)}"}


def answers_in_json_or_as_documented(ctx, response, case):
    kind = response.headers.get("content-type", [""])[0]
    if response.status_code >= 400 or case.operation.method.upper() != "GET":
        assert kind.startswith("application/json"), f"{response.status_code} {kind}"


def test_no_request_makes_the_api_fail(api_schema, live_server, bearer):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case):
            case.call_and_validate(
                base_url=live_server.url,
                headers=bearer,
                checks=[not_a_server_error, answers_in_json_or_as_documented],
            )

        run()
