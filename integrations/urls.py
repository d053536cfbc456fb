"""/integrations/: one include per platform (webhooks), and the profile page's link actions."""

from django.urls import include, path

from . import views

urlpatterns = [
    path("link/", views.link_code, name="messenger_link_code"),
    path("link/<int:identity_id>/unlink/", views.unlink, name="messenger_unlink"),
    path("telegram/", include("integrations.telegram.urls")),
    path("slack/", include("integrations.slack.urls")),
    path("discord/", include("integrations.discord.urls")),
]
