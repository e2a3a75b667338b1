"""Races for the tests: work run on threads released at the same instant."""

import threading

from django.db import connection


def race(count, work):
    """Run work(i) in `count` threads released at the same instant; results by index
    (an exception a thread raised is its result). Each thread closes its connection."""
    start = threading.Barrier(count)
    results = [None] * count

    def run(i):
        try:
            start.wait()
            results[i] = work(i)
        except Exception as e:  # noqa: BLE001 (the test inspects what each thread got)
            results[i] = e
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results
