from django.urls import path

from billing import money_views

urlpatterns = [
    path("", money_views.billing, name="billing"),
    path("statement.csv", money_views.statement_csv, name="statement_csv"),
    path("badge/", money_views.balance_badge, name="balance_badge"),
    path("threshold/", money_views.set_threshold, name="set_threshold"),
    path("caps/", money_views.caps, name="member_caps"),
    path("grants/", money_views.grants, name="grants"),
    path("grants/grant/", money_views.grant, name="grant_credits"),
    path("grants/adjust/", money_views.adjust, name="adjust_credits"),
]
