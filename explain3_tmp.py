import os, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seedance_site.settings")
django.setup()
from django.db import connection, transaction
from generations.models import Generation, State
from generations.studio import search
base = Generation.objects.filter(team_id=1, state=State.SUCCEEDED, clip__isnull=False).order_by("-created","-pk").only("pk","created")
for text, extra in [(sys.argv[1], {}), (sys.argv[1], {"project_id": 1})]:
    q = search._ts_query(search.words(text))
    qs = base.filter(search._tested(q), **extra)[:25]
    sql, params = qs.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as c:
        c.execute("SET LOCAL enable_sort = off")
        c.execute("SET LOCAL enable_seqscan = off")
        c.execute("SET LOCAL enable_bitmapscan = off")
        c.execute("EXPLAIN ANALYZE " + sql, params)
        print("\n".join(r[0] for r in c.fetchall()))
