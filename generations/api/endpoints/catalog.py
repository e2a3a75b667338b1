"""What each model allows at the enabled vendors, with the reasons the Generate page gives."""

from ninja import Router

from generations.api.schemas import Error, ModelOut
from generations.models import VendorAccount
from generations.studio.presenters import account_name, options_for
from generations.vendors import Family

router = Router(tags=["Models"])


def _options(options, account=None) -> dict:
    return {
        "id": account.uuid if account else None,
        "name": account_name(account) if account else "Any vendor (best quote)",
        "durations": options.durations,
        "aspect_ratios": options.aspect_ratios,
        "resolutions": options.resolutions,
        "audio": options.audio,
        "prompt_limit": options.prompt_limit,
        "reasons": {("model" if k == "family" else k): v for k, v in options.notes.items()},
    }


@router.get("/models", response={200: list[ModelOut], 401: Error}, summary="Models and options")
def models(request):
    """Every model family, what any enabled vendor accepts for it, and what each vendor
    account accepts (pass its id as `vendor` to pin it). `reasons` says, field by field,
    why a value is not offered."""
    accounts = list(VendorAccount.objects.filter(enabled=True).order_by("label"))
    result = []
    for family in Family:
        union = options_for(family, None, accounts)
        vendors = [
            _options(options_for(family, a, accounts), a)
            for a in accounts
            if any(served is a for served, _, _ in union.serving)
        ]
        result.append(
            {
                "id": family.value,
                "name": family.label,
                "available": bool(union.serving),
                "any_vendor": _options(union),
                "vendors": vendors,
            }
        )
    return result
