"""The form renderer writes <select> in Python: the same markup, escaped, as Django's templates."""

import uuid

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.urls import reverse

from seedance_site.web import uuid_path


class Everything(forms.Form):
    text = forms.CharField(max_length=20, help_text="Help")
    empty = forms.CharField(required=False)
    number = forms.IntegerField(min_value=1)
    email = forms.EmailField(required=False)
    when = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    secret = forms.CharField(widget=forms.PasswordInput(render_value=True))
    hidden = forms.UUIDField(widget=forms.HiddenInput, required=False)
    notes = forms.CharField(widget=forms.Textarea, required=False)
    agree = forms.BooleanField(required=False)
    url = forms.URLField(required=False, assume_scheme="https")


class Choices(forms.Form):
    one = forms.ChoiceField(
        required=False,
        choices=[("", "Any"), ('"><script>', "<b>Bold & co</b>"), ("Group", [("1", "x")])],
    )
    many = forms.MultipleChoiceField(choices=[("a", "A"), ("b", "B")])
    yes_no = forms.NullBooleanField()


def normalized(html) -> str:
    return "".join(line.strip() for line in str(html).splitlines())


@pytest.mark.parametrize("field", ["one", "many", "yes_no"])
@pytest.mark.parametrize(
    "data", [{}, {"one": '"><script>', "many": ["a", "b"], "yes_no": "true"}, {"one": "1"}]
)
def test_a_select_is_written_as_djangos_own_templates_write_it(field, data):
    ours = Choices(data or None)[field]
    theirs = Choices(data or None, renderer=DjangoTemplates())[field]
    assert normalized(ours) == normalized(theirs)


def test_labels_and_values_are_escaped():
    html = str(Choices({"one": '"><script>'})["one"])
    assert "<script>" not in html and "<b>" not in html
    assert 'value="&quot;&gt;&lt;script&gt;" selected' in html
    assert "&lt;b&gt;Bold &amp; co&lt;/b&gt;" in html


@pytest.mark.parametrize(
    "name", ["clip", "clip_video", "clip_poster", "job", "job_card", "project"]
)
def test_a_rows_address_is_the_one_reverse_gives(name):
    value = uuid.uuid4()
    assert uuid_path(name, value) == reverse(name, args=[value])


@pytest.mark.parametrize("field", list(Everything.base_fields))
@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {
            "text": '"><b>x</b>',
            "number": "3",
            "when": "2026-01-02",
            "secret": "s&s",
            "notes": "line <one>\nline two",
            "agree": "on",
            "url": "example.com/?a=1&b=2",
        },
    ],
)
def test_inputs_and_textareas_are_written_as_djangos_own_templates_write_them(field, data):
    ours = Everything(data)[field]
    theirs = Everything(data, renderer=DjangoTemplates())[field]
    assert str(ours) == str(theirs)
