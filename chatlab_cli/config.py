"""Where the client keeps the server and token: $XDG_CONFIG_HOME/chatlab/config.json, mode 600.

CHATLAB_SERVER and CHATLAB_TOKEN in the environment override the file (for scripts and CI).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Config:
    server: str
    token: str


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "chatlab"


def config_path() -> Path:
    return config_dir() / "config.json"


def history_path() -> Path:
    return config_dir() / "history"


def normalise_server(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url:
        raise ConfigError("the server URL is empty")
    if "://" not in url:
        url = "http://" + url
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"the server URL must start with http:// or https://, not {url!r}")
    return url


def load() -> Config:
    stored: dict[str, str] = {}
    path = config_path()
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None
    server = os.environ.get("CHATLAB_SERVER") or stored.get("server", "")
    token = os.environ.get("CHATLAB_TOKEN") or stored.get("token", "")
    if not server or not token:
        raise ConfigError("not logged in: run `chatlab login --server URL` first")
    return Config(server=normalise_server(server), token=token)


def save(config: Config) -> Path:
    """Writes the file readable by its owner only, created with that mode (no window in which
    another user could read the token)."""
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = config_path()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"server": config.server, "token": config.token}, handle, indent=2)
    os.chmod(tmp, 0o600)  # in case the file already existed with a wider mode
    os.replace(tmp, path)
    return path
