import os, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seedance_site.settings")
django.setup()
from django.db import connection
from generations.models import Generation, State
from generations.studio import search
base = Generation.objects.filter(team_id=1, state=State.SUCCEEDED, clip__isnull=False).order_by("-created","-pk").only("pk","created")
q = search._ts_query(search.words(sys.argv[1]))
matches = base.annotate(document=search._vector()).filter(document=q)
for label, qs in [("count", matches.order_by()[:201].values("pk")), ("ranked", search._best_first(matches, q).clips[:25])]:
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as c:
        c.execute("EXPLAIN ANALYZE " + sql, params)
        print(label); print("\n".join(r[0] for r in c.fetchall()))
