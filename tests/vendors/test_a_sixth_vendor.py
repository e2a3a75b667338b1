"""What adding a vendor takes, checked for every vendor the product speaks.

A vendor is one adapter module (generations/vendors/<name>.py: its offers, payloads,
bodies, error codes and seed prices), one line in REGISTRY, one sandbox module of the
same name (generations/sandbox/protocols/<name>.py, found through REGISTRY), its protocol
note (docs/vendors/<name>.md) and its tests. Nothing else lists the vendors.
"""

from pathlib import Path

import pytest

from generations.sandbox.protocols import PROTOCOLS
from generations.vendors import DEFAULT_CREDIT_VALUE, REGISTRY, VideoRequest, default_price_rules
from generations.vendors.pricing import check_price_rules, quote_credits
from tests.sandbox.vendors import VENDORS as SANDBOX_TABLE

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_vendor_has_its_simulator_seed_prices_note_and_tests(name):
    adapter = REGISTRY[name]
    assert PROTOCOLS[name].name == name
    assert DEFAULT_CREDIT_VALUE[name] > 0
    assert check_price_rules(default_price_rules(name)) == []
    assert (ROOT / "docs" / "vendors" / f"{name}.md").exists()
    assert (ROOT / "tests" / "vendors" / f"test_vendor_{name}.py").exists()
    assert (ROOT / "tests" / "sandbox" / f"test_sandbox_{name}.py").exists()
    assert name in SANDBOX_TABLE  # the shapes the shared sandbox fault tests read
    for family, offer in adapter.offers.items():
        request = VideoRequest(
            family=family, prompt="x", duration=offer.durations[0], resolution=offer.resolutions[0]
        )
        assert quote_credits(request, default_price_rules(name)) > 0


def test_no_module_outside_a_vendors_own_lists_the_vendors():
    names = set(REGISTRY)
    listed = []
    for path in [*ROOT.glob("generations/**/*.py"), *ROOT.glob("billing/**/*.py")]:
        if path.stem in names or "migrations" in path.parts:
            continue
        text = path.read_text()
        if sum(f'"{name}"' in text for name in names) >= 3:
            listed.append(str(path.relative_to(ROOT)))
    assert listed == []
