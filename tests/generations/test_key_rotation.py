"""Vendor API keys are encrypted at rest, and `rotate_vendor_keys` moves them to a new key."""

import base64
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from generations.models import VendorAccount
from generations.operators import crypto
from tests.generations.factories import VendorAccountFactory

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
UNRELATED = Fernet.generate_key().decode()
PLAINTEXTS = ["sk-live-4f9a1c7e2b8d", "kinovi_9d8e7f6a5b4c3d2e1f", "ink-0123456789abcdef0123"]


def raw_columns() -> dict[int, str]:
    """What the database itself holds, read past the ORM."""
    table = connection.ops.quote_name(VendorAccount._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, api_key_encrypted FROM {table} ORDER BY id")  # noqa: S608
        return dict(cursor.fetchall())


def plain_forms(plaintext: str) -> list[str]:
    raw = plaintext.encode()
    return [
        plaintext,
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ]


def rotate(**kwargs) -> str:
    out = StringIO()
    call_command("rotate_vendor_keys", stdout=out, stderr=StringIO(), **kwargs)
    return out.getvalue()


@pytest.fixture
def accounts(db, settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    return [
        VendorAccountFactory(protocol=protocol, api_key=key)
        for protocol, key in zip(["kinovi", "evolink", "seedance2_ink"], PLAINTEXTS, strict=True)
    ]


def test_the_database_never_holds_a_key_in_plain_or_in_base64(accounts):
    columns = raw_columns()
    assert len(columns) == len(PLAINTEXTS)
    for account, plaintext in zip(accounts, PLAINTEXTS, strict=True):
        stored = columns[account.pk]
        for form in plain_forms(plaintext):
            assert form not in stored
        assert Fernet(OLD).decrypt(stored.encode()).decode() == plaintext


def test_rotating_re_encrypts_every_row_with_the_newest_key(accounts, settings):
    before = raw_columns()
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]

    output = rotate(batch_size=2)

    assert "Rotated 3 vendor key(s) to the newest key; 0 already used it" in output
    after = raw_columns()
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    for account, plaintext in zip(accounts, PLAINTEXTS, strict=True):
        assert after[account.pk] != before[account.pk]
        assert Fernet(NEW).decrypt(after[account.pk].encode()).decode() == plaintext
        assert crypto.decrypt(after[account.pk]) == plaintext
        for form in plain_forms(plaintext):
            assert form not in after[account.pk]
        refreshed = VendorAccount.objects.get(pk=account.pk)
        assert refreshed.api_key_last4 == plaintext[-4:]


def test_running_it_twice_changes_nothing_the_second_time(accounts, settings):
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]
    rotate()
    once = raw_columns()

    output = rotate()

    assert "Rotated 0 vendor key(s) to the newest key; 3 already used it" in output
    assert raw_columns() == once
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    assert [crypto.decrypt(v) for v in once.values()] == PLAINTEXTS


def test_a_row_no_key_can_read_fails_the_command_and_names_the_account(accounts, settings):
    settings.FIELD_ENCRYPTION_KEYS = [UNRELATED]
    before = raw_columns()

    with pytest.raises(CommandError) as failed:
        rotate()

    ids = ", ".join(str(a.pk) for a in accounts)
    assert str(failed.value).startswith(
        f"Vendor account(s) {ids} can't be decrypted with any key in FIELD_ENCRYPTION_KEYS"
    )
    assert failed.value.returncode == 1
    assert raw_columns() == before


def test_only_the_unreadable_row_is_left_behind(accounts, settings):
    stray = VendorAccountFactory(protocol="kinovi", api_key="sk-stray-key")
    table = connection.ops.quote_name(VendorAccount._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET api_key_encrypted = %s WHERE id = %s",  # noqa: S608
            [Fernet(UNRELATED).encrypt(b"sk-stray-key").decode(), stray.pk],
        )
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]

    with pytest.raises(CommandError, match=rf"^Vendor account\(s\) {stray.pk} can't be decrypted"):
        rotate(batch_size=1)

    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    columns = raw_columns()
    for account, plaintext in zip(accounts, PLAINTEXTS, strict=True):
        assert crypto.decrypt(columns[account.pk]) == plaintext


def test_without_any_configured_key_there_is_nothing_to_rotate_to(accounts, settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    with pytest.raises(CommandError, match="FIELD_ENCRYPTION_KEYS is empty"):
        rotate()
