from __future__ import annotations

from django.utils.formats import number_format
from django.utils.functional import Promise, lazy

# 12,000 or 12 000: a number grouped as the language the message is read in writes it.
grouped = lazy(lambda n: number_format(n, force_grouping=True), str)


class ChatError(Exception):
    """A request the service refuses, with a stable code and a message for the person.

    The message may be a lazy translation: ``message`` renders it in the language active where
    it is read, so a socket answers in its person's language even when the error was raised
    on a shared batch (services.first_messages) or a worker thread.
    """

    def __init__(self, code: str, message: str | Promise, status: int = 400,
                 retry_after: int | None = None) -> None:
        super().__init__(code, message)
        self.code = code
        self.text = message  # as given: may be a lazy translation
        self.status = status
        self.retry_after = retry_after  # seconds, for 429 answers

    @property
    def message(self) -> str:
        return str(self.text)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"ChatError({self.code!r}, {self.text!r}, status={self.status})"
