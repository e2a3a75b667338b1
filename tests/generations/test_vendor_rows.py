"""A Vendors row as the list and the toggle's htmx reply write it: its counts when nothing
is wrong, and the addresses each of its forms posts to."""

from django.urls import reverse

from tests.generations.factories import GenerationFactory, VendorAccountFactory

HX = {"HTTP_HX_REQUEST": "true"}


def row_addresses(account) -> list[str]:
    return [
        f'<a href="/vendors/{account.uuid}/"><strong>{account.label}</strong></a>',
        f'action="/vendors/{account.uuid}/test/"',
        f'hx-post="/vendors/{account.uuid}/test/" hx-target="#key-check-{account.uuid}"',
        f'action="/vendors/{account.uuid}/enabled/"',
        f'hx-post="/vendors/{account.uuid}/enabled/" hx-target="closest tr"',
        f'<a class="btn small" href="/vendors/{account.uuid}/">Edit</a>',
    ]


def test_a_quiet_account_counts_nothing_and_links_to_its_own_actions(operator_client):
    quiet = VendorAccountFactory(label="Quiet", max_concurrent=7)
    busy = VendorAccountFactory(label="Busy")
    GenerationFactory(running=True, vendor_account=busy).log("check_failed", "No answer.")
    html = operator_client.get(reverse("vendors")).content.decode()
    row = html.split(f'<tr id="account-{quiet.uuid}"')[1].split("</tr>")[0]
    assert '<td class="num">0 of 7</td>' in row
    assert '<span class="muted">No errors</span>' in row and "Last:" not in row
    for address in row_addresses(quiet):
        assert address in row
    assert str(busy.uuid) not in row
    assert "1 error</span>" in html.split(f'<tr id="account-{busy.uuid}"')[1]


def test_the_toggles_row_reply_has_the_same_addresses(operator_client):
    account = VendorAccountFactory(label="Toggled")
    url = reverse("vendor_toggle", args=[account.uuid])
    html = operator_client.post(url, {"enabled": "false"}, **HX).content.decode()
    assert f'<tr id="account-{account.uuid}" class="off">' in html
    for address in row_addresses(account):
        assert address in html
