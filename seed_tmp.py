import os, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seedance_site.settings")
django.setup()
from django.conf import settings
settings.MEDIA_ROOT = "/tmp/pages_explain_media"
from tests.perf.bench_pages import seed
from tests.factories import MembershipFactory, TeamFactory
from tests.generations.factories import VendorAccountFactory
team = TeamFactory(name="Explain")
owner = MembershipFactory(team=team, owner=True).user
account = VendorAccountFactory(protocol="kinovi", label="Kinovi main")
seed(team, owner, int(sys.argv[1]), account)
print("team", team.pk, "owner", owner.pk)
