import os, sys, time, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seedance_site.settings")
django.setup()
from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext
from generations.models import Generation, State
from generations.studio import search
from seedance_site import keyset
base = Generation.objects.filter(team_id=1, state=State.SUCCEEDED, clip__isnull=False).order_by("-created","-pk").only("pk","created")
for q in sys.argv[1:]:
    for attempt in range(3):
        with CaptureQueriesContext(connection) as cq:
            t=time.perf_counter()
            f = search.matching(base, q); qs, order = f.clips, f.order
            if order == search.Order.BEST:
                page = search.ranked_page(qs, 24, "")
            else:
                with search.reading_newest_first(f): page = keyset.page(qs, 24, None)
            ms=(time.perf_counter()-t)*1000
    print(f"{q!r}: {ms:.1f} ms, order={order!r}, rows={len(page.rows)}, queries={len(cq)}", [f"{float(x['time'])*1000:.1f}" for x in cq.captured_queries])
