"""LOG_FORMAT=json: one JSON object a line, each job step naming its generation."""

import io
import json
import logging
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from seedance_site.logs import JsonFormatter
from tests.generations.factories import GenerationFactory, ProjectFactory
from tests.test_settings import load_settings


@pytest.fixture
def json_lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("generations.steps")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.mark.django_db
def test_each_job_step_is_one_json_line_with_its_generation_id(team, json_lines):
    generation = GenerationFactory(project=ProjectFactory(team=team), running=True)
    generation.log("accepted", "Kinovi accepted the job.", worker="host:42", claimed_at=None)
    generation.log("stored", "Stored 64×36, 1.0 s.", worker="host:43")
    lines = json_lines()
    assert [(line["event"], line["message"]) for line in lines] == [
        ("accepted", "Kinovi accepted the job."),
        ("stored", "Stored 64×36, 1.0 s."),
    ]
    assert {line["generation"] for line in lines} == {str(generation.uuid)}
    assert lines[0]["worker"] == "host:42"
    assert lines[0]["level"] == "INFO" and lines[0]["logger"] == "generations.steps"
    assert lines[0]["time"].endswith("+00:00")


def test_an_exception_stays_on_its_one_line():
    try:
        raise ValueError("broken\nacross lines")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: broken" in json.loads(line)["exception"]


def test_log_format_picks_the_console_formatter(monkeypatch):
    prod = load_settings(monkeypatch, LOG_FORMAT="json")
    assert prod.LOGGING["handlers"]["console"]["formatter"] == "json"
    assert prod.LOGGING["formatters"]["json"]["()"] == "seedance_site.logs.JsonFormatter"
    assert (
        load_settings(monkeypatch, LOG_FORMAT="").LOGGING["handlers"]["console"]["formatter"]
        == "plain"
    )
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT"):
        load_settings(monkeypatch, LOG_FORMAT="xml")
