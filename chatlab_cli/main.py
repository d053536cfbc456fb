"""`chatlab`: log in, list bots, chat with streamed markdown replies, list and export history.

Every failure the server or the network can cause ends as one line on stderr and exit status 1
(2 for a mistake on the command line, 130 for Ctrl-C), never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import uuid
from collections.abc import Sequence

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory

from . import config, images, render
from . import history as history_commands
from .api import ApiError, Client, HistoryClient

TITLE_CHARS = 60
EXIT_WORDS = {"/exit", "/quit"}
# "/edit new text": replaces the last message sent in this session and asks again.
EDIT_COMMAND = "/edit "


def _client() -> Client:
    settings = config.load()
    return HistoryClient(settings.server, settings.token)


def cmd_login(args: argparse.Namespace) -> int:
    server = config.normalise_server(args.server)
    token = args.token or getpass.getpass("API token (from your profile page): ")
    token = token.strip()
    if not token:
        raise config.ConfigError("no token given")
    with Client(server, token) as client:
        me = client.me()
    path = config.save(config.Config(server=server, token=token))
    render.console.print(f"Logged in to {server} as {me['email']} ({me['role']}). "
                         f"Saved to {path}.")
    return 0


def cmd_bots(args: argparse.Namespace) -> int:
    with _client() as client:
        render.console.print(render.bots_table(client.bots()))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    with _client() as client:
        page = client.conversations(search=args.search, page=args.page)
    if not page["results"]:
        render.console.print("No conversations yet." if not args.search else "Nothing found.")
        return 0
    render.console.print(render.history_table(page["results"]))
    if page.get("next"):
        render.console.print(f"[dim]More: chatlab history --page {args.page + 1}[/dim]")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with _client() as client:
        conversation = client.conversation(args.id)
        messages = client.messages(args.id)
    if args.json:
        sys.stdout.write(json.dumps({"conversation": conversation, "messages": messages},
                                    indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render.conversation_markdown(conversation, messages))
    return 0


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def _say(client: Client, conversation_id: str, text: str, edit_of: str | None = None) -> str:
    """Sends (or, with ``edit_of``, edits the last message) and streams the reply; returns the
    id of the message sent."""
    if edit_of:
        sent = client.edit(edit_of, text)  # type: ignore[attr-defined]
    else:
        sent = client.send(conversation_id, text, client_id=str(uuid.uuid4()))
    reply_id = sent["reply"]["id"]
    reply = render.stream_reply(client.stream(reply_id))
    if reply.interrupted:
        client.stop(reply_id)
        render.console.print("[dim](stopped)[/dim]")
    elif reply.done and reply.done.get("status") == "failed":
        render.errors.print(f"[red]The reply failed: {reply.done.get('error') or 'unknown'}[/red]")
    return sent["message"]["id"]


def cmd_chat(args: argparse.Namespace) -> int:
    with _client() as client:
        conversation_id = None
        last_sent: str | None = None
        if args.continue_id:
            conversation = client.conversation(args.continue_id)
            conversation_id = conversation["id"]
            count = len(client.messages(conversation_id))
            render.console.print(f"Continuing “{conversation['title'] or 'untitled'}” with "
                                 f"{conversation['bot']} ({count} messages).")
        else:
            me = client.me()  # fails early, before the first prompt, on a bad token
            if args.bot and args.bot not in {bot["slug"] for bot in client.bots()}:
                raise ApiError(f"There is no bot '{args.bot}' you may use: see `chatlab bots`.",
                               code="unknown_bot")
            render.console.print(f"Chatting as {me['email']}"
                                 f"{' with ' + args.bot if args.bot else ''}.")
        render.console.print("[dim]Enter sends; /edit TEXT rewrites your last message; Ctrl-C "
                             "stops a reply; Ctrl-D or /exit quits.[/dim]")
        config.config_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
        session: PromptSession[str] = PromptSession(
            history=FileHistory(str(config.history_path())))
        while True:
            try:
                text = session.prompt("you> ").strip()
            except KeyboardInterrupt:
                continue  # clears the line, like a shell
            except EOFError:
                return 0
            if text in EXIT_WORDS:
                return 0
            if not text:
                continue
            editing = text.startswith(EDIT_COMMAND)
            if editing and last_sent is None:
                render.errors.print("chatlab: nothing sent in this session to edit", markup=False)
                continue
            try:
                if conversation_id is None:
                    created = client.conversation_create(bot=args.bot, title=_title(text))
                    conversation_id = created["id"]
                if editing:
                    text = text[len(EDIT_COMMAND):].strip()
                    last_sent = _say(client, conversation_id, text, edit_of=last_sent)
                else:
                    last_sent = _say(client, conversation_id, text)
            except KeyboardInterrupt:
                render.console.print("[dim](interrupted)[/dim]")
            except ApiError as exc:
                if exc.status in (401, 403):
                    raise
                # Quota, a busy conversation, a lost connection: say so, keep the session.
                render.errors.print(f"chatlab: {exc}", markup=False)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="chatlab", description="Chat with a Chatlab server.")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    login = commands.add_parser("login", help="store the server and an API token")
    login.add_argument("--server", required=True, help="e.g. https://chat.example.com")
    login.add_argument("--token", help="the API token (asked for, hidden, when left out)")
    login.set_defaults(run=cmd_login)

    commands.add_parser("bots", help="the bots you may use").set_defaults(run=cmd_bots)

    chat = commands.add_parser("chat", help="chat in the terminal")
    chat.add_argument("--bot", help="the bot's slug (default: the server's default bot)")
    chat.add_argument("--continue", dest="continue_id", metavar="ID",
                      help="continue a conversation (ids: chatlab history)")
    chat.set_defaults(run=cmd_chat)

    history = commands.add_parser("history", help="your conversations, newest first")
    history.add_argument("--search", default="", help="words in titles or messages")
    history.add_argument("--page", type=int, default=1)
    history.set_defaults(run=cmd_history)

    export = commands.add_parser("export", help="print a conversation as Markdown or JSON")
    export.add_argument("id")
    export.add_argument("--json", action="store_true", help="JSON instead of Markdown")
    export.set_defaults(run=cmd_export)

    images.add_parser(commands, lambda: _client())
    history_commands.add_parser(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (ApiError, config.ConfigError) as exc:
        render.errors.print(f"chatlab: {exc}", markup=False)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `chatlab export ID | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
