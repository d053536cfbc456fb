from django.urls import path

from . import views
from .stream import message_stream

urlpatterns = [
    path("me/", views.MeView.as_view(), name="api-me"),
    path("bots/", views.BotList.as_view(), name="api-bots"),
    path("conversations/", views.ConversationList.as_view(), name="api-conversations"),
    path("conversations/<uuid:conversation_id>/", views.ConversationDetail.as_view(),
         name="api-conversation"),
    path("conversations/<uuid:conversation_id>/messages/", views.MessageList.as_view(),
         name="api-messages"),
    path("conversations/<uuid:conversation_id>/restore/", views.ConversationRestore.as_view(),
         name="api-conversation-restore"),
    path("conversations/<uuid:conversation_id>/export/", views.ConversationExport.as_view(),
         name="api-conversation-export"),
    path("export/", views.ExportAll.as_view(), name="api-export"),
    path("trash/", views.TrashList.as_view(), name="api-trash"),
    path("trash/<uuid:conversation_id>/", views.TrashDetail.as_view(), name="api-trash-item"),
    path("imports/", views.ImportList.as_view(), name="api-imports"),
    path("imports/<uuid:job_id>/", views.ImportDetail.as_view(), name="api-import"),
    path("messages/<uuid:message_id>/edit/", views.MessageEdit.as_view(), name="api-message-edit"),
    path("messages/<uuid:message_id>/versions/", views.MessageVersions.as_view(),
         name="api-message-versions"),
    path("messages/<uuid:message_id>/", views.MessageDetail.as_view(), name="api-message"),
    path("messages/<uuid:message_id>/stream/", message_stream, name="api-message-stream"),
    path("messages/<uuid:message_id>/stop/", views.MessageStop.as_view(), name="api-message-stop"),
    path("messages/<uuid:message_id>/regenerate/", views.MessageRegenerate.as_view(),
         name="api-message-regenerate"),
]
