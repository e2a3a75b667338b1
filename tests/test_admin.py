from django.apps import apps
from django.contrib import admin


def test_every_model_of_ours_is_in_the_admin():
    ours = [
        m for m in apps.get_models() if m._meta.app_label in ("billing", "generations", "sandbox")
    ]
    missing = [m.__name__ for m in ours if m not in admin.site._registry]
    assert missing == []


def test_the_admin_never_shows_a_vendor_key(operator_client, db):
    from generations.models import VendorAccount

    account = VendorAccount(protocol="kinovi", label="K", credit_value=1, price_rules={})
    account.set_api_key("sk-live-supersecret-9876")
    account.save()
    response = operator_client.get(f"/admin/generations/vendoraccount/{account.pk}/change/")
    assert response.status_code == 200
    assert b"supersecret" not in response.content
    assert b"9876" in response.content
