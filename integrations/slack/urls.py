from django.urls import path

from . import views

urlpatterns = [
    path("<int:integration_id>/", views.slack_webhook, name="slack_webhook"),
]
