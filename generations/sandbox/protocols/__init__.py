"""One module per simulated vendor protocol, named as the adapter's protocol.

There is no second registry to keep in step: every protocol in the adapters' registry
(`generations.vendors.REGISTRY`) has its simulator in the module of the same name here,
which defines one SandboxProtocol subclass.
"""

from importlib import import_module

from generations.vendors import REGISTRY

from .base import SandboxProtocol


def _simulator(name: str) -> SandboxProtocol:
    module = import_module(f"{__name__}.{name}")
    [protocol] = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, SandboxProtocol)
        and value.__module__ == module.__name__
    ]
    return protocol()


PROTOCOLS = {name: _simulator(name) for name in REGISTRY}
