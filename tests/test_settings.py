import pytest
from django.core.exceptions import ImproperlyConfigured

from seedance_site import settings as s


def test_envbool_reads_common_spellings(monkeypatch):
    monkeypatch.setenv("X_FLAG", "yes")
    assert s.envbool("X_FLAG", False) is True
    monkeypatch.setenv("X_FLAG", "0")
    assert s.envbool("X_FLAG", True) is False


def test_envbool_fails_loudly_on_nonsense(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG must be true or false"):
        s.envbool("X_FLAG", False)


def test_envint_fails_loudly_on_nonsense(monkeypatch):
    monkeypatch.setenv("X_NUM", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_NUM must be an integer"):
        s.envint("X_NUM", 1)


def test_database_url_reads_postgres():
    db = s.database_from_url("postgres://u:p%40ss@db.example:6543/app?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "u",
        "p@ss",
        "db.example",
        "6543",
        "app",
    )
    assert db["OPTIONS"] == {"sslmode": "require"}


def test_database_url_reads_sqlite_in_wal_with_immediate_transactions(tmp_path):
    db = s.database_from_url(f"sqlite:///{tmp_path}/x.sqlite3")
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]


def test_database_url_refuses_other_schemes():
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must start with"):
        s.database_from_url("mysql://x/y")
