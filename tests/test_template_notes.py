"""A {# #} note may not span lines in Django's templates: such a note is printed into the
page as text. Longer notes are {% comment %} blocks."""

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
SPANNING = re.compile(r"\{#(?:(?!#\}).)*\n", re.S)


def test_no_note_spans_lines():
    spanning = [
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        if SPANNING.search(path.read_text())
    ]
    assert spanning == []


def test_the_gallery_prints_none_of_its_notes(member_client):
    html = member_client.get("/gallery/").content.decode()
    assert "{#" not in html and "#}" not in html
