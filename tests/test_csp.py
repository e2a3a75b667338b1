"""The Content-Security-Policy: every page carries it, and nothing it would refuse is
written into a page or a template (inline script, event-handler and hx-on attributes,
style attributes and elements, js: values). tests/browser/test_csp.py checks the same
pages in Chromium."""

from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client

from tests.pages import furnish

POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "media-src": ["'self'"],
    "connect-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
    "base-uri": ["'self'"],
    "object-src": ["'none'"],
}


def directives(header: str) -> dict[str, list[str]]:
    parts = [p.split() for p in header.split(";") if p.strip()]
    return {p[0]: p[1:] for p in parts}


class InlineCode(HTMLParser):
    """Collects what a policy without 'unsafe-inline' or 'unsafe-eval' would refuse."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script" and not names.get("src"):
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            value = (value or "").strip().lower()
            if name == "style":
                self.found.append(f"style attribute on <{tag}>")
            elif name.startswith("on"):
                self.found.append(f"{name} handler on <{tag}>")
            elif name.startswith(("hx-on", "data-hx-on")):
                self.found.append(f"{name} on <{tag}>")
            elif name in ("hx-vals", "hx-vars", "data-hx-vals", "data-hx-vars") and (
                value.startswith(("js:", "javascript:")) or name.endswith("vars")
            ):
                self.found.append(f"{name} evaluated as script on <{tag}>")
            elif name in ("href", "src", "action", "formaction") and value.startswith(
                "javascript:"
            ):
                self.found.append(f"javascript: URL in {name} on <{tag}>")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.found


@pytest.fixture
def studio(settings, tmp_path, team, owner, member, operator):
    settings.MEDIA_ROOT = tmp_path
    return furnish(team, owner, member, operator)


def visit(client, url):
    response = client.get(url)
    assert response.status_code == 200, f"{url} answered {response.status_code}"
    return response


def test_every_page_carries_the_policy_and_no_inline_code(studio, owner, operator):
    as_owner, as_operator, signed_out = Client(), Client(), Client()
    as_owner.force_login(owner)
    as_operator.force_login(operator)
    visits = (
        [(as_owner, url) for url in studio.team_pages]
        + [(as_operator, url) for url in studio.operator_pages]
        + [(signed_out, url) for url in studio.public_pages]
    )
    found = {}
    for client, url in visits:
        response = visit(client, url)
        assert directives(response["Content-Security-Policy"]) == POLICY, url
        if problems := inline_code(response.content.decode()):
            found[url] = problems
    assert found == {}


def test_htmx_fragments_carry_no_inline_code_either(studio, owner):
    client = Client()
    client.force_login(owner)
    for url, headers in studio.team_fragments:
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        assert "<html" not in response.content.decode()
        assert inline_code(response.content.decode()) == [], url


def test_no_template_writes_inline_code():
    root = Path(django_settings.BASE_DIR) / "templates"
    templates = sorted(root.rglob("*.html"))
    assert len(templates) > 20
    found = {
        str(path.relative_to(root)): problems
        for path in templates
        if (problems := inline_code(path.read_text()))
    }
    assert found == {}


def test_htmx_is_told_to_inject_no_style_and_evaluate_nothing(client):
    html = visit(client, "/login/").content.decode()
    assert (
        """<meta name="htmx-config" content='{"includeIndicatorStyles": false, "allowEval": false}'>"""
        in html
    )
    css = (Path(django_settings.BASE_DIR) / "static" / "css" / "app.css").read_text()
    assert ".htmx-request .htmx-indicator, .htmx-request.htmx-indicator" in css


def test_the_inline_code_finder_finds_what_the_policy_refuses():
    page = """
      <script>alert(1)</script><script src="/static/js/app.js"></script>
      <div style="width: 40%"></div><style>p { color: red }</style>
      <button onclick="go()" hx-on:click="go()" data-hx-on-htmx-before-request="x()">
      <form hx-vals='js:{a: b()}' action="javascript:void(0)"></form>
      <div hx-vals='{"static": "json"}' data-percent="40"></div>
    """
    assert inline_code(page) == [
        "<script> without src",
        "style attribute on <div>",
        "<style> element",
        "onclick handler on <button>",
        "hx-on:click on <button>",
        "data-hx-on-htmx-before-request on <button>",
        "hx-vals evaluated as script on <form>",
        "javascript: URL in action on <form>",
    ]
