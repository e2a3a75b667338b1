"""Vendor price rules as data, and the arithmetic that turns a request into vendor credits.

Rules are JSON an operator edits (prices change); the tables below are only the seeds,
copied from the vendors' published prices (see docs/vendors/README.md). One vendor's
rules map a family value to how that family is billed:

    {
      "seedance-2.0": {
        "per_second": {"720p": "40", "480p": "20"},    # credits per second, by resolution
        "upscale_4k_per_second": "28"                  # optional surcharge per second
      },
      "seedance-2.0-mini": {
        "per_second": {"480p": "14.25", "720p": "30.75"},
        "reference_video_per_second": {"480p": "9", "720p": "18.75"},   # optional
        "billed_resolution": {"1080p": "720p"},         # optional: bill one tier as another
        "rounding": "ceil"                              # "ceil" or "none" (the default)
      },
      "seedance-2.0-fast": {"per_duration": {"5": "160", "10": "320", "15": "480"}}
    }

A family has either "per_second" or "per_duration" (a flat price per clip length).
Amounts are strings so they survive a JSONField exactly; plain numbers are accepted too.
"""

from decimal import ROUND_CEILING, Decimal, InvalidOperation


class PriceRuleError(ValueError):
    """The rules have no price for this request, or a price that is not a number."""


def per_second(table: dict, **extra) -> dict:
    """A rule priced per second of clip, by resolution (for the adapters' seed prices)."""
    return {"per_second": table, **extra}


ROUNDINGS = ("none", "ceil")


def quote_credits(request, rules: dict) -> Decimal:
    """Vendor credits for one request under one vendor's rules; PriceRuleError if unpriced."""
    family = str(request.family)
    family_rules = rules.get(family)
    if not isinstance(family_rules, dict):
        raise PriceRuleError(f"no price is set for {family}")

    resolution = family_rules.get("billed_resolution", {}).get(
        request.resolution, request.resolution
    )
    if "per_duration" in family_rules:
        price = family_rules["per_duration"].get(str(request.duration))
        if price is None:
            raise PriceRuleError(f"no price is set for {request.duration} s of {family}")
        total = _amount(price, f"{family} {request.duration} s")
    else:
        rates = family_rules.get("per_second", {})
        if request.video_urls and "reference_video_per_second" in family_rules:
            rates = family_rules["reference_video_per_second"]
        rate = rates.get(resolution)
        if rate is None:
            raise PriceRuleError(f"no price is set for {family} at {resolution}")
        total = _amount(rate, f"{family} {resolution}") * request.duration

    if request.upscale_4k:
        surcharge = family_rules.get("upscale_4k_per_second")
        if surcharge is None:
            raise PriceRuleError(f"no price is set for 4K upscaling of {family}")
        total += _amount(surcharge, f"{family} 4K upscale") * request.duration

    rounding = family_rules.get("rounding", "none")
    if rounding == "ceil":
        total = total.to_integral_value(rounding=ROUND_CEILING)
    elif rounding != "none":
        raise PriceRuleError(f"unknown rounding {rounding!r} for {family}")
    return total


def check_price_rules(rules: dict) -> list[str]:
    """Problems an operator should fix before saving edited rules; [] when they are usable."""
    if not isinstance(rules, dict):
        return ["price rules must be an object keyed by model family"]
    problems = []
    for family, family_rules in rules.items():
        if not isinstance(family_rules, dict):
            problems.append(f"{family}: must be an object")
            continue
        tables = [key for key in ("per_second", "per_duration") if key in family_rules]
        if len(tables) != 1:
            problems.append(f"{family}: needs exactly one of per_second or per_duration")
        for key in ("per_second", "per_duration", "reference_video_per_second"):
            for tier, amount in family_rules.get(key, {}).items():
                if _as_decimal(amount) is None:
                    problems.append(f"{family}: {key} {tier} is not a number")
        surcharge = family_rules.get("upscale_4k_per_second")
        if surcharge is not None and _as_decimal(surcharge) is None:
            problems.append(f"{family}: upscale_4k_per_second is not a number")
        if family_rules.get("rounding", "none") not in ROUNDINGS:
            problems.append(f"{family}: rounding must be one of {', '.join(ROUNDINGS)}")
    return problems


def _as_decimal(value) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def _amount(value, what: str) -> Decimal:
    amount = _as_decimal(value)
    if amount is None:
        raise PriceRuleError(f"the price for {what} is not a number: {value!r}")
    return amount
