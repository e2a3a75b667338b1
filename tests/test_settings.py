import importlib.util
import json
import re

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

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


# --- Production values ---

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "production-test-" + "k" * 50,
    "ALLOWED_HOSTS": "studio.example.com",
    "PUBLIC_BASE_URL": "https://studio.example.com",
}
UNSET = ["SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "REDIS_URL", "TRUSTED_PROXY_COUNT"]


def load_settings(monkeypatch, **env):
    """seedance_site/settings.py run afresh under `env`, as its own module: Django's
    own settings for this test run are left as they are."""
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    env = {**PRODUCTION, "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(), **env}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("production_settings", s.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_production_cookies_are_secure_and_https_is_enforced(monkeypatch):
    prod = load_settings(monkeypatch)
    assert prod.DEBUG is False
    assert prod.SESSION_COOKIE_SECURE is True
    assert prod.CSRF_COOKIE_SECURE is True
    assert prod.SESSION_COOKIE_HTTPONLY is True
    assert prod.SECURE_SSL_REDIRECT is True
    assert prod.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
    assert prod.SECURE_HSTS_SECONDS == 31536000
    assert prod.SECURE_HSTS_INCLUDE_SUBDOMAINS is True
    assert prod.SECURE_HSTS_PRELOAD is True
    assert prod.SECURE_CONTENT_TYPE_NOSNIFF is True
    assert prod.X_FRAME_OPTIONS == "DENY"


def test_production_sends_a_policy_without_inline_code(monkeypatch):
    prod = load_settings(monkeypatch)
    assert "csp.middleware.CSPMiddleware" in prod.MIDDLEWARE
    assert "csp" in prod.INSTALLED_APPS
    policy = prod.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    sources = [source for values in policy.values() for source in values]
    assert not [x for x in sources if x.startswith(("'unsafe-", "'nonce-", "'strict-dynamic"))]


def test_development_keeps_plain_http(monkeypatch):
    dev = load_settings(monkeypatch, DEBUG="true")
    assert dev.SESSION_COOKIE_SECURE is False
    assert dev.SECURE_SSL_REDIRECT is False
    assert dev.SECURE_HSTS_SECONDS == 0


def test_the_cache_is_shared_between_processes(monkeypatch):
    embedded = load_settings(monkeypatch)
    assert embedded.CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    with_redis = load_settings(monkeypatch, REDIS_URL="redis://cache.internal:6379/0")
    assert with_redis.CACHES["default"] == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://cache.internal:6379/0",
        "KEY_PREFIX": "seedance",
    }


def test_the_proxy_count_and_generation_rate_are_read_and_checked(monkeypatch):
    prod = load_settings(monkeypatch)
    assert (prod.TRUSTED_PROXY_COUNT, prod.GENERATE_RATE_PER_MINUTE) == (0, 20)
    prod = load_settings(monkeypatch, TRUSTED_PROXY_COUNT="2", GENERATE_RATE_PER_MINUTE="6")
    assert (prod.TRUSTED_PROXY_COUNT, prod.GENERATE_RATE_PER_MINUTE) == (2, 6)
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXY_COUNT must be 0 or more"):
        load_settings(monkeypatch, TRUSTED_PROXY_COUNT="-1")


def test_htmx_requests_carry_the_csrf_token_from_the_page(member, team):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    page = client.get("/jobs/").content.decode()
    headers = json.loads(re.search(r"<body hx-headers='([^']*)'>", page).group(1))
    assert set(headers) == {"X-CSRFToken"}
    post = {"team": str(team.uuid), "next": "/gallery/"}
    assert client.post("/teams/switch/", post, headers={"HX-Request": "true"}).status_code == 403
    response = client.post("/teams/switch/", post, headers={"HX-Request": "true", **headers})
    assert response.status_code == 302
    assert response["Location"] == "/gallery/"
