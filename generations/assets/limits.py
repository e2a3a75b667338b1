"""The asset library's view of the vendors' input-media limits (each adapter states its
own, generations.vendors.media_limits), and the Generate page's caps on references.

An asset is kept when at least one enabled vendor could use it; for every other vendor
the asset records why not, in words.
"""

from generations.vendors import REGISTRY
from generations.vendors.media_limits import (  # noqa: F401 (the names the library reads)
    MB,
    NO_MEDIA,
    UPSTREAM_AUDIO,
    UPSTREAM_IMAGE,
    UPSTREAM_VIDEO,
    MediaLimits,
    VendorMedia,
    size_text,
)

# Evolink: at most 9 images, 3 videos and 3 audio clips; videos and audio clips at most
# 15 s in all; "Audio cannot be provided alone".
MAX_REFERENCE_IMAGES = 9
MAX_REFERENCE_VIDEOS = 3
MAX_REFERENCE_AUDIO = 3
MAX_REFERENCE_SECONDS = 15.0


def vendor_media(protocol: str) -> VendorMedia:
    """What the vendor of `protocol` states it takes (nothing, for a protocol unknown here)."""
    adapter = REGISTRY.get(protocol)
    return adapter.media if adapter is not None else NO_MEDIA
