"""The Generate form's fields written in Python give the markup the templates gave."""

import re

import pytest
from django.template import engines
from django.template.loader import render_to_string

from generations.studio import generate_html
from generations.studio.forms import GenerateForm
from tests.generations.factories import ProjectFactory, SceneFactory, VendorAccountFactory

pytestmark = pytest.mark.django_db

# The partial the page drew each clip setting with before generate_html.option_select.
OPTION_SELECT = """
<div class="field{% if errors %} has-error{% endif %}">
  <label for="id_{{ name }}">{{ label }}</label>
  <select name="{{ name }}" id="id_{{ name }}"{% if note %} aria-describedby="id_{{ name }}_note"{% endif %}{% if errors %} aria-invalid="true"{% endif %}>
    {% for o in choices %}<option value="{{ o.value }}"{% if o.selected %} selected{% endif %}{% if not o.enabled %} disabled{% endif %}>{{ o.label }}{% if not o.enabled %} (not offered){% endif %}</option>{% endfor %}
  </select>
  {% if note %}<small class="help" id="id_{{ name }}_note">{{ note }}</small>{% endif %}
  {% for error in errors %}<p class="error">{{ error }}</p>{% endfor %}
</div>
"""  # noqa: E501

TYPED = [
    None,
    {
        "prompt": "",
        "family": "seedance-2.0",
        "duration": "4",
        "aspect_ratio": "x",
        "resolution": "1080p",
        "variants": "9",
        "new_scene": "<b>&",
    },
    {"prompt": "x", "family": "seedance-2.0-fast", "account": "nope", "audio": "on"},
]


def same(html) -> str:
    """Markup up to the whitespace between tags."""
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", str(html))).strip()


@pytest.mark.parametrize("data", TYPED)
def test_fields_and_settings_are_written_as_the_templates_wrote_them(team, member, data):
    VendorAccountFactory(protocol="kinovi", label="Kinovi <main>")
    VendorAccountFactory(protocol="fal", label="fal & co")
    project = ProjectFactory(team=team, name="Ads <&> “quotes”")
    SceneFactory(project=project, number=1)
    if data is not None:
        data["project"] = str(project.uuid)
    form = GenerateForm(data, team=team, user=member)
    if data is not None:
        assert not form.is_valid()
    for name in ["family", "account", "project", "new_project", "new_scene", "variants", "prompt"]:
        old = render_to_string("partials/field.html", {"field": form[name]})
        assert same(form.html[name]) == same(old), name
    partial = engines["django"].from_string(OPTION_SELECT)
    for name in generate_html.OPTION_SELECTS:
        old = partial.render(
            {
                "name": name,
                "label": form.fields[name].label,
                "choices": getattr(form, f"{name}_options")(),
                "errors": form[name].errors,
                "note": form.options.notes.get(name),
            }
        )
        assert same(form.html[name]) == same(old), name
