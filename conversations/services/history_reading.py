"""Reading an import file as a stream (issue #20): memory flat in the file's size.

A first pass checks the whole file (size, encoding, JSON, nesting, format, version) and counts
its conversations without keeping any of them, so a bad or over-large file is refused before
anything is written; a second pass yields the conversations one at a time.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import IO, Any

import ijson
from django.conf import settings
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from .errors import ChatError, grouped
from .history_export import FORMAT, VERSION

# ChatGPT's exports nest about a dozen levels; far deeper is not an export (and ijson's prefixes
# would grow with the square of the depth).
MAX_DEPTH = 256
_BOM = codecs.BOM_UTF8
_OPEN = {"start_map", "start_array"}
_CLOSE = {"end_map", "end_array"}
_ITEMS = {"chatlab": "conversations.item", "chatgpt": "item"}


def refusal(reason: str | Promise, status: int = 400) -> ChatError:
    return ChatError("import_refused", reason, status=status)


def too_big(size: int, limit: int) -> Promise:
    return format_lazy(_("The file is {size} bytes; the limit is {limit}."),
                       size=grouped(size), limit=grouped(limit))


class _NotUtf8(Exception):
    pass


class _Checked:
    """The file as ijson reads it: the BOM skipped, UTF-8 and the size limit checked on the way."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.size = 0
        self.blank = True
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.limit = settings.CHATLAB_IMPORT_MAX_BYTES

    def read(self, n: int = -1) -> bytes:
        if n == 0:
            return b""  # ijson asks for nothing first, to learn whether the file gives bytes
        data = self.file.read(n if n > 0 else 64 * 1024)
        if self.size == 0 and data.startswith(_BOM):
            data = data[len(_BOM):]
        self.size += len(data)
        if self.size > self.limit:
            raise refusal(too_big(self.size, self.limit), status=413)
        try:
            self.decoder.decode(data, final=not data)
        except UnicodeDecodeError:
            raise _NotUtf8 from None
        if self.blank and data.strip():
            self.blank = False
        return data


def _events(file: IO[bytes]) -> tuple[_Checked, Iterator[tuple[str, Any]]]:
    checked = _Checked(file)
    return checked, ijson.basic_parse(checked, use_float=True)


class _Scan:
    """What the first pass learns: the top level's shape and the number of conversations."""

    def __init__(self) -> None:
        self.top: str | None = None
        self.top_keys: dict[str, Any] = {}
        self.conversations_is_list = False
        self.count = 0
        self.all_have_mapping = True


def _scan_events(events: Iterator[tuple[str, Any]]) -> _Scan:
    scan = _Scan()
    depth = 0
    key: str | None = None  # the current top-level key (a Chatlab export's fields)
    has_mapping = False
    for event, value in events:
        if depth == 0:
            scan.top = event
        elif depth == 1 and event == "map_key":
            key = value
        elif depth == 1 and event not in _CLOSE:
            if scan.top == "start_array":  # a ChatGPT conversation
                scan.count += 1
                has_mapping = False
                if event != "start_map":
                    scan.all_have_mapping = False
            elif key == "conversations":
                scan.conversations_is_list = event == "start_array"
            else:
                scan.top_keys[str(key)] = value if event not in _OPEN else event
        elif depth == 2:
            if scan.top == "start_array" and event == "map_key" and value == "mapping":
                has_mapping = True
            elif scan.top == "start_map" and key == "conversations" and event not in _CLOSE:
                scan.count += 1
        if event in _OPEN:
            depth += 1
            if depth > MAX_DEPTH:
                raise refusal(_("The file is nested too deeply to be an export."))
        elif event in _CLOSE:
            depth -= 1
            if depth == 1 and scan.top == "start_array" and not has_mapping:
                scan.all_have_mapping = False
    return scan


def _kind(scan: _Scan) -> str:
    if scan.top == "start_map" and scan.top_keys.get("format") == FORMAT:
        version = scan.top_keys.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise refusal(_("The Chatlab export has no valid version."))
        if version > VERSION:
            raise refusal(format_lazy(
                _("This export is version {version}; this server reads up to {latest}."),
                version=version, latest=VERSION))
        if not scan.conversations_is_list or "conversations.item" in scan.top_keys:
            raise refusal(_("The Chatlab export has no list of conversations."))
        return "chatlab"
    if scan.top == "start_array" and scan.all_have_mapping:
        return "chatgpt"
    raise refusal(_("This is neither a Chatlab export nor ChatGPT's conversations.json."))


def file_check(file: IO[bytes]) -> tuple[str, int]:
    """(format, number of conversations) of a whole file, or ChatError with the reason."""
    checked, events = _events(file)
    try:
        scan = _scan_events(events)
    except _NotUtf8:
        raise refusal(_("The file is not UTF-8 text.")) from None
    except ijson.JSONError as exc:
        if checked.blank:
            raise refusal(_("The file is empty.")) from None
        # ijson's message goes on to quote the file around the error: its first line says it.
        first_line = (str(exc).strip().splitlines() or ["unreadable"])[0].rstrip(".")
        raise refusal(format_lazy(_("The file is not valid JSON (it may be truncated): {error}."),
                                  error=first_line)) from None
    kind = _kind(scan)
    limit = settings.CHATLAB_IMPORT_MAX_CONVERSATIONS
    if scan.count > limit:
        # Refused whole, before anything is written: a partial import would leave the person
        # guessing which conversations made it.
        raise refusal(format_lazy(
            _("The file holds {count} conversations; one import takes at most {limit}. Split "
              "the file, or ask an administrator to raise CHATLAB_IMPORT_MAX_CONVERSATIONS."),
            count=grouped(scan.count), limit=grouped(limit)), status=413)
    return kind, scan.count


def conversation_items(file: IO[bytes], kind: str) -> Iterator[Any]:
    """The raw conversations of a file file_check accepted, one at a time (read from the start)."""
    file.seek(0)
    return ijson.items(_Checked(file), _ITEMS[kind], use_float=True)
