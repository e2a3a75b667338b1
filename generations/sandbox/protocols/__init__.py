"""One module per simulated vendor protocol, registered here by protocol name."""

from .aigptimage import Aigptimage
from .evolink import Evolink
from .kinovi import Kinovi
from .seedance2_ink import Seedance2Ink
from .seedanceapi_org import SeedanceapiOrg

PROTOCOLS = {
    protocol.name: protocol
    for protocol in (Kinovi(), Seedance2Ink(), SeedanceapiOrg(), Evolink(), Aigptimage())
}
