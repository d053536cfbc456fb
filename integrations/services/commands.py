"""The messenger commands that answer with text: /start, /help, /new, /bots, /bot, /lang,
/usage, /link. Each takes the context and returns the answer (markdown); /image and plain
messages are handled in handling.py because they start work that answers later."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext as _

from accounts.roles import policy_for
from accounts.services.quotas import allowance_for
from conversations import selectors
from conversations.models import Conversation
from conversations.services.errors import ChatError
from conversations.services.language import NAMES, language_name, normalise

from ..models import ChatBinding, Integration, MessengerIdentity
from .people import link_code_redeem
from .replies import binding_get


@dataclass
class Context:
    integration: Integration
    identity: MessengerIdentity
    chat_id: str
    argument: str

    def binding(self) -> ChatBinding:
        return binding_get(integration=self.integration, chat_id=self.chat_id,
                           identity=self.identity)


def _help(ctx: Context) -> str:
    lines = [
        _("Write a message and I answer. Commands:"),
        "/new — " + _("start a new conversation"),
        "/retry — " + _("write the last reply again if it failed"),
        "/bots — " + _("the bots you may talk to"),
        "/bot <name> — " + _("talk to another bot"),
        "/image <description> — " + _("draw a picture"),
        "/lang — " + _("the language of this conversation"),
        "/usage — " + _("what is left of today's allowance"),
        "/link <code> — " + _("link your Chatlab account (code from your profile page)"),
    ]
    return "\n".join(lines)


def command_start(ctx: Context) -> str:
    bot = ctx.integration.bot
    hello = _("Hello! I am %(bot)s.") % {"bot": bot.name}
    if ctx.identity.user.is_guest:
        hello += " " + _("You are chatting as a guest. To use your Chatlab account (your role, "
                         "quotas and history), get a code on your profile page and send "
                         "/link CODE.")
    return f"{hello}\n\n{_help(ctx)}"


def command_new(ctx: Context) -> str:
    binding = ctx.binding()
    ChatBinding.objects.filter(pk=binding.pk).update(conversation=None)
    return _("A new conversation starts with your next message.")


def command_bots(ctx: Context) -> str:
    user = ctx.identity.user
    bots = list(selectors.bots_for(user, policy_for(user)))
    if not bots:
        return _("No bot is available to you.")
    binding = ctx.binding()
    current = (binding.bot or ctx.integration.bot).pk
    lines = [_("Bots you may talk to (choose with /bot <name>):")]
    for bot in bots:
        mark = " ✓" if bot.pk == current else ""
        about = f" — {bot.description}" if bot.description else ""
        lines.append(f"• `{bot.slug}` {bot.name}{about}{mark}")
    return "\n".join(lines)


def command_bot(ctx: Context) -> str:
    slug = ctx.argument.strip().split(" ")[0] if ctx.argument.strip() else ""
    if not slug:
        return _("Which bot? Send /bots to see them, then /bot <name>.")
    user = ctx.identity.user
    bot = selectors.bots_for(user, policy_for(user)).filter(slug=slug.lower()).first()
    if bot is None:
        return _("There is no bot %(name)s for you. Send /bots to see them.") % {"name": slug}
    binding = ctx.binding()
    ChatBinding.objects.filter(pk=binding.pk).update(bot=bot, conversation=None)
    return _("You are now talking to %(bot)s. A new conversation starts with your next "
             "message.") % {"bot": bot.name}


def command_lang(ctx: Context) -> str:
    binding = ctx.binding()
    conversation = (Conversation.objects.filter(pk=binding.conversation_id).first()
                    if binding.conversation_id else None)
    wanted = normalise(ctx.argument)
    if wanted:
        if wanted not in NAMES:
            return _("I do not know the language %(code)s. Use a code such as en, de, fr, ru.") % {
                "code": ctx.argument.strip()[:20]}
        if conversation is None:
            return _("Start a conversation first: replies follow the language you write in.")
        Conversation.objects.filter(pk=conversation.pk).update(language=wanted)
        return _("This conversation is now in %(language)s; a message clearly written in "
                 "another language still switches it.") % {"language": language_name(wanted)}
    if conversation is None or not conversation.language:
        return _("Replies follow the language you write in. Send /lang <code> to set this "
                 "conversation's language.")
    return _("This conversation is in %(language)s. Replies follow the language you write "
             "in; /lang <code> sets it.") % {"language": language_name(conversation.language)}


def command_usage(ctx: Context) -> str:
    user = ctx.identity.user
    allowance = allowance_for(user, with_images=True)

    def row(label: str, used: int, limit: int | None) -> str:
        return f"{label}: {used}" + (f" / {limit}" if limit is not None else " / ∞")

    return "\n".join([
        _("Today (role %(role)s):") % {"role": allowance.role},
        row(_("messages"), allowance.used.messages, allowance.messages_per_day),
        row(_("tokens"), allowance.used.tokens, allowance.tokens_per_day),
        row(_("images"), allowance.used.images, allowance.images_per_day),
        _("The allowance renews at %(time)s UTC.") % {
            "time": allowance.resets_at.strftime("%H:%M")},
    ])


def command_link(ctx: Context) -> str:
    code = ctx.argument.strip()
    if not code:
        return _("Send /link CODE with the code from your Chatlab profile page.")
    try:
        user = link_code_redeem(identity=ctx.identity, code=code)
    except ChatError as exc:
        return exc.message
    return _("Linked to %(email)s: your role, quotas and history apply here now, and these "
             "conversations show on the website.") % {"email": user.email}


def command_unknown(ctx: Context) -> str:
    return _("I do not know that command.") + "\n\n" + _help(ctx)


TEXT_COMMANDS: dict[str, Callable[[Context], str]] = {
    "start": command_start,
    "help": _help,
    "new": command_new,
    "bots": command_bots,
    "bot": command_bot,
    "lang": command_lang,
    "usage": command_usage,
    "link": command_link,
}


def command_run(ctx: Context, command: str) -> str:
    return TEXT_COMMANDS.get(command, command_unknown)(ctx)
