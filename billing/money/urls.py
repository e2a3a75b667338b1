from django.urls import path

from billing.money import views

urlpatterns = [
    path("", views.billing, name="billing"),
    path("statement.csv", views.statement_csv, name="statement_csv"),
    path("badge/", views.balance_badge, name="balance_badge"),
    path("threshold/", views.set_threshold, name="set_threshold"),
    path("caps/", views.caps, name="member_caps"),
    path("grants/", views.grants, name="grants"),
    path("grants/grant/", views.grant, name="grant_credits"),
    path("grants/adjust/", views.adjust, name="adjust_credits"),
]
