"""Who is writing: a messenger account is a guest until linked to a Chatlab account.

A new messenger sender gets a guest user (accounts.guests' kind of user: no login, guest role
and quotas). Its owner links it from the messenger with a one-time code from their profile page
(/link CODE): from then on the messenger account acts as that Chatlab user (their role, quotas
and history), and the guest's conversations move to them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from conversations.models import Conversation
from conversations.services.errors import ChatError

from ..models import ChatBinding, LinkCode, MessengerIdentity

# No 0/O or 1/I/L: a code is read off one screen and typed on another.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


def _digest(code: str) -> str:
    normal = "".join(code.split()).upper().replace("-", "")
    return hashlib.sha256(normal.encode()).hexdigest()


def identity_resolve(*, platform: str, external_id: str, name: str = "") -> MessengerIdentity:
    """The messenger account and its current Chatlab user, creating a guest for a newcomer."""
    identity = (MessengerIdentity.objects.select_related("user")
                .filter(platform=platform, external_id=external_id).first())
    if identity is not None:
        if name and identity.name != name[:200]:
            MessengerIdentity.objects.filter(pk=identity.pk).update(name=name[:200])
            identity.name = name[:200]
        return identity
    try:
        with transaction.atomic():
            guest = User(email=f"{platform}-{secrets.token_hex(8)}@guest.invalid", is_guest=True,
                         display_name=name[:150])
            guest.set_unusable_password()
            guest.save()
            return MessengerIdentity.objects.create(platform=platform, external_id=external_id,
                                                    name=name[:200], user=guest)
    except IntegrityError:  # the same person's other update got there first
        return MessengerIdentity.objects.select_related("user").get(
            platform=platform, external_id=external_id)


def link_code_create(*, user: User) -> tuple[LinkCode, str]:
    """A fresh code for user (shown once; earlier unused codes stop working)."""
    if user.is_guest or not user.is_active:
        raise ChatError("forbidden", _("Sign in to link a messenger."), status=403)
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    now = timezone.now()
    with transaction.atomic():
        LinkCode.objects.filter(user=user, used_at__isnull=True).update(used_at=now)
        link = LinkCode.objects.create(
            user=user, digest=_digest(code),
            expires_at=now + timedelta(minutes=settings.CHATLAB_LINK_CODE_MINUTES),
        )
    return link, f"{code[:4]}-{code[4:]}"


@transaction.atomic
def link_code_redeem(*, identity: MessengerIdentity, code: str) -> User:
    """Links the messenger account to the code's owner and moves the guest's conversations."""
    now = timezone.now()
    link = (LinkCode.objects.select_for_update().select_related("user")
            .filter(digest=_digest(code or ""), used_at__isnull=True, expires_at__gt=now).first())
    if link is None or not link.user.is_active or link.user.is_guest:
        raise ChatError("invalid_code", _("That code is wrong or has expired. Make a new one "
                                          "on your profile page."))
    LinkCode.objects.filter(pk=link.pk).update(used_at=now)
    user, previous = link.user, identity.user
    MessengerIdentity.objects.filter(pk=identity.pk).update(user=user, linked_at=now)
    identity.user, identity.linked_at = user, now
    if previous.pk != user.pk and previous.is_guest:
        Conversation.objects.filter(owner=previous).update(owner=user)
        if not MessengerIdentity.objects.filter(user=previous).exists():
            previous.delete()
    return user


@transaction.atomic
def identity_unlink(*, user: User, identity_id: int) -> bool:
    """The profile page's "unlink": the messenger account becomes a new guest."""
    identity = MessengerIdentity.objects.filter(pk=identity_id, user=user).first()
    if identity is None:
        return False
    guest = User(email=f"{identity.platform}-{secrets.token_hex(8)}@guest.invalid",
                 is_guest=True, display_name=identity.name[:150])
    guest.set_unusable_password()
    guest.save()
    MessengerIdentity.objects.filter(pk=identity.pk).update(user=guest, linked_at=None)
    # The chats' current conversations stay with the account they belong to.
    ChatBinding.objects.filter(identity=identity).update(conversation=None)
    return True
