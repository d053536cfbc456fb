from django.urls import path

from . import views

urlpatterns = [
    path("profile/", views.profile, name="profile"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("delete/", views.delete_account, name="account_delete"),
]
