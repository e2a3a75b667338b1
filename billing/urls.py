from django.contrib.auth import views as auth_views
from django.urls import path

from billing.teams import auth, views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "account/password/",
        auth_views.PasswordChangeView.as_view(form_class=auth.PasswordChangeThrottledForm),
        name="password_change",
    ),
    path(
        "account/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("teams/none/", views.no_team, name="no_team"),
    path("teams/switch/", views.switch, name="switch_team"),
    path("team/", views.team, name="team"),
    path("team/invite/", views.invite, name="invite"),
    path("team/leave/", views.leave_team, name="leave_team"),
    path("team/invitations/<uuid:uuid>/revoke/", views.revoke_invitation, name="revoke_invitation"),
    path("team/members/<uuid:uuid>/role/", views.set_role, name="set_role"),
    path("team/members/<uuid:uuid>/remove/", views.remove_member, name="remove_member"),
    path("team/audit/", views.team_audit, name="team_audit"),
    path("audit/", views.audit_log, name="audit"),
    path("invitations/<str:token>/", views.accept_invitation, name="accept_invitation"),
]
