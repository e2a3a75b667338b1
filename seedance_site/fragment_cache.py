"""The kept fragments' cache: Django's per-process memory cache, bounded in bytes too.

MAX_ENTRIES alone bounds how many fragments a process keeps, not how big they are: a
project page with long scene notes is kept whole by what it shows, and each edit makes a
new key. So each process also keeps at most MAX_BYTES of markup (the least recently read
goes first), and never keeps one fragment over MAX_ENTRY_BYTES: that one is rendered each
time, as an unkept block is.
"""

from django.core.cache.backends.locmem import LocMemCache

_sizes: dict[str, dict[str, int]] = {}  # per cache name, as Django keeps the entries


class BoundedLocMemCache(LocMemCache):
    def __init__(self, name, params):
        super().__init__(name, params)
        options = params.get("OPTIONS", {})
        self._max_bytes = int(options.get("MAX_BYTES", 64 * 2**20))
        self._max_entry_bytes = int(options.get("MAX_ENTRY_BYTES", 2 * 2**20))
        self._size_of = _sizes.setdefault(name, {})

    @property
    def bytes_kept(self) -> int:
        with self._lock:
            return sum(self._size_of.values())

    def _set(self, key, value, timeout=None):
        self._delete(key)
        if len(value) > self._max_entry_bytes:
            return
        total = sum(self._size_of.values())
        while self._cache and total + len(value) > self._max_bytes:
            oldest, _ = self._cache.popitem()  # the least recently read
            self._expire_info.pop(oldest, None)
            total -= self._size_of.pop(oldest, 0)
        super()._set(key, value, timeout)
        self._size_of[key] = len(value)

    def _cull(self):
        super()._cull()
        for key in set(self._size_of) - set(self._cache):
            del self._size_of[key]

    def _delete(self, key):
        self._size_of.pop(key, None)
        return super()._delete(key)

    def clear(self):
        with self._lock:  # in one hold of the lock: a set between the two would be lost
            self._cache.clear()
            self._expire_info.clear()
            self._size_of.clear()

    def incr(self, key, delta=1, version=None):
        value = super().incr(key, delta, version)  # writes past _set: count it again
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            if key in self._cache:
                self._size_of[key] = len(self._cache[key])
        return value
