from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("", views.organization_list, name="organizations"),
    path("switch/", views.organization_switch, name="switch"),
    path("team/", views.team, name="team"),
    path("team/invite/", views.invite, name="invite"),
    path("team/leave/", views.leave, name="leave"),
    path("team/members/<int:pk>/role/", views.member_change_role, name="member_role"),
    path("team/members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path("team/invitations/<int:pk>/resend/", views.invitation_resend, name="invitation_resend"),
    path("team/invitations/<int:pk>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("invitations/<str:token>/accept/", views.invitation_accept, name="invitation_accept"),
]
