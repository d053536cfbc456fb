from django.urls import path

from . import views

urlpatterns = [
    path("<int:integration_id>/", views.discord_interactions, name="discord_interactions"),
]
