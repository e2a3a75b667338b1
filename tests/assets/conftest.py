import pytest

from generations.assets import services
from tests.assets.media import image_bytes, upload
from tests.generations.factories import ProjectFactory, VendorAccountFactory


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CLIP_TEMP_DIR = str(tmp_path)
    return settings.MEDIA_ROOT


@pytest.fixture
def vendors(db):
    """Every vendor the product speaks, enabled: what each takes decides the checks."""
    return {
        protocol: VendorAccountFactory(protocol=protocol, label=f"{protocol} main")
        for protocol in ("kinovi", "seedance2_ink", "seedanceapi_org", "evolink", "aigptimage")
    }


@pytest.fixture
def project(team, owner):
    return ProjectFactory(team=team, name="Trailer", created_by=owner)


@pytest.fixture
def picture(project, member, vendors):
    """A 640×480 PNG asset of the project."""
    return services.add_upload(project, member, upload("still.png", image_bytes()))


# The lifecycle's own fixture: a team with money (submissions kept from the broker:
# `queued`, tests/conftest.py).
from tests.generations.conftest import funded  # noqa: E402, F401
