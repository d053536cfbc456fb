"""For channels that show a reply outside the web tabs (Telegram, Slack, Discord): connect an
async receiver to `replies_interrupted` to tell people that a reply they were watching died with
the process that wrote it.

    replies_interrupted.connect(receiver)  # async receiver(sender, message_ids: list[str], **kw)

Sent by the sweep (conversations.services.sweep) once it has marked orphaned replies
`failed` with the interrupted notice; the messages' saved text is what the person saw.
"""

from django.dispatch import Signal

replies_interrupted = Signal()
