"""Signing in: five failures for a username, or twenty from an address, within fifteen
minutes, and further attempts are refused without the password being checked."""

import time
from datetime import timedelta

import pytest
from django.contrib.auth.signals import user_login_failed
from django.test import Client, RequestFactory

from billing.teams import auth
from tests.threads import race

RIGHT = "correct horse battery"
REFUSED = "Too many failed sign-in attempts. Try again in 15 minutes."


@pytest.fixture
def checked_passwords():
    """Usernames whose password Django checked and found wrong, in order."""
    seen = []

    def receiver(sender, credentials, **kwargs):
        seen.append(credentials["username"])

    user_login_failed.connect(receiver)
    yield seen
    user_login_failed.disconnect(receiver)


def sign_in(client, username, password, path="/login/", **extra):
    return client.post(path, {"username": username, "password": password}, **extra)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_the_sixth_try_for_a_username_is_refused_without_checking_its_password(
    client, owner, checked_passwords
):
    for _ in range(5):
        response = sign_in(client, "olivia", "wrong")
        assert "Please enter a correct username and password" in response.content.decode()
    response = sign_in(client, "olivia", RIGHT)
    assert response.status_code == 429
    assert REFUSED in response.content.decode()
    assert not signed_in(client)
    sign_in(client, "olivia", "still wrong")
    assert checked_passwords == ["olivia"] * 5


def test_letter_case_does_not_make_a_new_username(client, owner):
    for name in ["olivia", "OLIVIA", "Olivia", "oLiViA", "OLIVIA"]:
        sign_in(client, name, "wrong")
    response = sign_in(client, "olivia", RIGHT)
    assert REFUSED in response.content.decode()
    assert not signed_in(client)


def test_a_success_forgets_the_usernames_failures(client, owner):
    for _ in range(4):
        sign_in(client, "olivia", "wrong")
    assert sign_in(client, "olivia", RIGHT).status_code == 302
    client.logout()
    for _ in range(4):
        response = sign_in(client, "olivia", "wrong")
        assert "Please enter a correct username" in response.content.decode()
    assert sign_in(client, "olivia", RIGHT).status_code == 302


def test_other_usernames_are_not_held_up_by_one_under_attack(client, owner, member):
    for _ in range(5):
        sign_in(client, "olivia", "wrong")
    assert sign_in(client, "mateo", RIGHT).status_code == 302


def test_twenty_failures_from_one_address_refuse_every_username_from_it(client, owner):
    for i in range(20):
        sign_in(client, f"guess{i}", "wrong", REMOTE_ADDR="198.51.100.9")
    response = sign_in(client, "olivia", RIGHT, REMOTE_ADDR="198.51.100.9")
    assert response.status_code == 429
    assert REFUSED in response.content.decode()
    assert not signed_in(client)
    assert sign_in(client, "olivia", RIGHT, REMOTE_ADDR="198.51.100.10").status_code == 302


def test_a_success_does_not_forget_the_addresss_failures(client, owner):
    for i in range(19):
        sign_in(client, f"guess{i}", "wrong", REMOTE_ADDR="198.51.100.9")
    assert sign_in(client, "olivia", RIGHT, REMOTE_ADDR="198.51.100.9").status_code == 302
    client.logout()
    sign_in(client, "guess-last", "wrong", REMOTE_ADDR="198.51.100.9")
    response = sign_in(client, "olivia", RIGHT, REMOTE_ADDR="198.51.100.9")
    assert REFUSED in response.content.decode()


def test_the_message_counts_down_to_when_the_oldest_failure_leaves_the_window(client, owner):
    ten_minutes_ago = time.time() - 600
    failures = auth.username_failures("olivia")
    for _ in range(5):
        failures.claim(ten_minutes_ago)
    response = sign_in(client, "olivia", RIGHT)
    assert "Too many failed sign-in attempts. Try again in 5 minutes." in response.content.decode()


def test_failures_older_than_the_window_stop_counting(client, owner, monkeypatch):
    monkeypatch.setattr(auth, "WINDOW", timedelta(seconds=3))
    # Taken directly: five sign-in requests may themselves take a second on a busy machine.
    failures = auth.username_failures("olivia")
    for _ in range(5):
        assert failures.claim(time.time())
    assert "Try again in 1 minute." in sign_in(client, "olivia", RIGHT).content.decode()
    time.sleep(3.1)
    assert sign_in(client, "olivia", RIGHT).status_code == 302


def test_the_admin_login_counts_and_refuses_the_same_way(client, operator, checked_passwords):
    for _ in range(3):
        sign_in(client, "ops", "wrong", path="/admin/login/")
    for _ in range(2):
        sign_in(client, "ops", "wrong")
    response = sign_in(client, "ops", RIGHT, path="/admin/login/")
    assert REFUSED in response.content.decode()
    assert not signed_in(client)
    assert checked_passwords == ["ops"] * 5


def test_a_right_password_refused_at_the_admin_is_not_counted_as_a_guess(client, member):
    for _ in range(6):
        response = sign_in(client, "mateo", RIGHT, path="/admin/login/")
        assert "for a staff account" in response.content.decode()
    assert sign_in(client, "mateo", RIGHT).status_code == 302


# --- Changing a password asks for the old one: the same limit ---


def change_password(client, old, new="a brand new passphrase 42"):
    return client.post(
        "/account/password/", {"old_password": old, "new_password1": new, "new_password2": new}
    )


def test_wrong_old_passwords_count_against_the_username_and_are_refused_next_to_the_field(
    client, owner
):
    client.force_login(owner)
    for _ in range(5):
        response = change_password(client, "wrong")
        assert "Your old password was entered incorrectly" in response.content.decode()
    response = change_password(client, RIGHT)
    html = response.content.decode()
    assert response.status_code == 200
    assert (
        '<p class="error" id="id_old_password_error">'
        "Too many wrong passwords. Try again in 15 minutes.</p>"
    ) in html
    owner.refresh_from_db()
    assert owner.check_password(RIGHT)  # not changed
    # The same counter: signing in as that person is refused too.
    assert REFUSED in sign_in(Client(), "olivia", RIGHT).content.decode()


def test_guessing_at_sign_in_uses_up_the_password_change_too(client, owner):
    for _ in range(5):
        sign_in(Client(), "olivia", "wrong")
    client.force_login(owner)
    response = change_password(client, RIGHT)
    assert "Too many wrong passwords" in response.content.decode()


def test_the_right_old_password_changes_it_and_forgets_the_failures(client, owner):
    client.force_login(owner)
    for _ in range(4):
        change_password(client, "wrong")
    assert change_password(client, RIGHT).status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("a brand new passphrase 42")
    for _ in range(4):
        change_password(client, "wrong")
    assert (
        "Your old password was entered incorrectly"
        in change_password(client, "wrong").content.decode()
    )


def test_the_admins_password_page_is_the_throttled_one(client, operator):
    client.force_login(operator)
    response = client.get("/admin/password_change/")
    assert response.status_code == 302 and response["Location"] == "/account/password/"


# --- Which address a request came from ---


def request_from(remote_addr, forwarded_for=None):
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return RequestFactory().post("/login/", **extra)


def test_with_no_trusted_proxy_the_forwarded_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert auth.client_ip(request_from("10.0.0.2", "203.0.113.5")) == "10.0.0.2"


def test_behind_trusted_proxies_the_client_is_counted_from_the_right(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The client wrote "1.2.3.4" itself; our proxy appended the address it saw.
    assert auth.client_ip(request_from("10.0.0.2", "1.2.3.4, 203.0.113.5")) == "203.0.113.5"
    settings.TRUSTED_PROXY_COUNT = 2
    assert (
        auth.client_ip(request_from("10.0.0.2", "1.2.3.4, 203.0.113.5, 10.0.0.9")) == "203.0.113.5"
    )


def test_a_forwarded_header_shorter_than_the_proxy_chain_falls_back_to_the_peer(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    assert auth.client_ip(request_from("10.0.0.2", "203.0.113.5")) == "10.0.0.2"
    assert auth.client_ip(request_from("10.0.0.2")) == "10.0.0.2"


def test_a_spoofed_forwarded_for_does_not_escape_the_address_limit(client, owner, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for i in range(20):
        sign_in(client, f"guess{i}", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, 203.0.113.5")
    response = sign_in(client, "olivia", RIGHT, HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.5")
    assert REFUSED in response.content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_get_no_more_than_five_password_checks(owner, checked_passwords):
    count = 12
    statuses = race(count, lambda i: sign_in(Client(), "olivia", f"guess {i}").status_code)
    assert checked_passwords == ["olivia"] * 5
    assert sorted(statuses) == [200] * 5 + [429] * 7
