from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ChatError(Exception):
    """A request the service refuses, with a stable code and a message for the person."""

    code: str
    message: str
    status: int = 400
    retry_after: int | None = None  # seconds, for 429 answers

    def __str__(self) -> str:
        return self.message
