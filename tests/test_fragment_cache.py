"""The kept fragments' cache is bounded in bytes as well as in entries."""

import pytest

from seedance_site.fragment_cache import BoundedLocMemCache


@pytest.fixture
def cache():
    store = BoundedLocMemCache(
        "test-bounded",
        {"OPTIONS": {"MAX_ENTRIES": 100, "MAX_BYTES": 10_000, "MAX_ENTRY_BYTES": 4_000}},
    )
    store.clear()
    yield store
    store.clear()


def test_the_least_recently_read_goes_first_when_the_bytes_run_out(cache):
    for n in range(5):
        cache.set(f"page-{n}", "x" * 3_000)
    cache.get("page-2")  # read lately: kept
    cache.set("page-5", "x" * 3_000)
    kept = [n for n in range(6) if cache.get(f"page-{n}") is not None]
    assert cache.bytes_kept <= 10_000
    assert 2 in kept and 5 in kept and 0 not in kept


def test_a_fragment_over_the_entry_limit_is_never_kept(cache):
    cache.set("huge", "x" * 5_000)
    assert cache.get("huge") is None and cache.bytes_kept == 0


def test_replacing_and_deleting_keep_the_count_right(cache):
    cache.set("a", "x" * 1_000)
    cache.set("a", "x" * 2_000)
    size_of_one = cache.bytes_kept
    cache.set("b", "x" * 2_000)
    cache.delete("a")
    assert cache.bytes_kept == size_of_one
    cache.clear()
    assert cache.bytes_kept == 0


def test_the_template_fragments_cache_is_the_bounded_one():
    from django.core.cache import caches

    assert isinstance(caches["template_fragments"], BoundedLocMemCache)
