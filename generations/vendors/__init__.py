"""Vendor adapters: one module per Seedance reseller, one registry line each."""

import copy

from .aigptimage import AigptimageAdapter
from .base import VendorAdapter
from .byteplus_ark import BytePlusArkAdapter
from .evolink import EvolinkAdapter
from .fal import FalAdapter
from .http import make_client
from .kinovi import KinoviAdapter
from .replicate import ReplicateAdapter
from .seedance2_ink import Seedance2InkAdapter
from .seedanceapi_org import SeedanceApiOrgAdapter
from .types import (
    CallbackHint,
    Created,
    ErrorKind,
    Family,
    Mode,
    TaskSnapshot,
    TaskState,
    VendorError,
    VideoRequest,
    family_label,
)

REGISTRY: dict[str, type[VendorAdapter]] = {
    adapter.protocol: adapter
    for adapter in (
        KinoviAdapter,
        Seedance2InkAdapter,
        SeedanceApiOrgAdapter,
        EvolinkAdapter,
        AigptimageAdapter,
        BytePlusArkAdapter,
        FalAdapter,
        ReplicateAdapter,
    )
}


# Seed prices by protocol, from each adapter (operators edit the copies they save).
DEFAULT_CREDIT_VALUE = {name: adapter.default_credit_value for name, adapter in REGISTRY.items()}
DEFAULT_PRICE_RULES = {name: adapter.default_price_rules for name, adapter in REGISTRY.items()}


def default_price_rules(protocol: str) -> dict:
    """A fresh copy of an adapter's seed rules, safe to store and edit."""
    return copy.deepcopy(DEFAULT_PRICE_RULES[protocol])


def get_adapter(protocol, api_key, base_url=None, client=None, model_ids=None) -> VendorAdapter:
    try:
        adapter_class = REGISTRY[protocol]
    except KeyError:
        raise ValueError(f"No vendor adapter for protocol {protocol!r}") from None
    return adapter_class(api_key, base_url=base_url, client=client, model_ids=model_ids)


__all__ = [
    "DEFAULT_CREDIT_VALUE",
    "DEFAULT_PRICE_RULES",
    "default_price_rules",
    "REGISTRY",
    "CallbackHint",
    "Created",
    "ErrorKind",
    "Family",
    "family_label",
    "Mode",
    "TaskSnapshot",
    "TaskState",
    "VendorAdapter",
    "VendorError",
    "VideoRequest",
    "get_adapter",
    "make_client",
]
