"""Encrypted secrets with Fernet (`cryptography`): config values written as `enc:<token>`.

The master key comes from $KAIROS_MASTER_KEY or the key file `config/master.key` (mode 0600,
created only by `--init-master-key`). There is no fallback: a missing or wrong key is a one-line
error naming where we looked — never a key derived from the hostname or anything else.
"""
from __future__ import annotations

import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping

from kairos.errors import ConfigError

MASTER_ENV = "KAIROS_MASTER_KEY"
PREFIX = "enc:"
SECRET_PATHS = frozenset({
    "exchange.access_token", "exchange.secret_key", "notifications.slack.webhook_url", "notifications.email.password",
})


def master_key_file(home: Path) -> Path:
    return home / "config" / "master.key"


def load_master_key(environ: Mapping[str, str], home: Path) -> tuple[bytes, str]:
    """Return (key, where it came from); ConfigError naming both places when absent or malformed."""
    from cryptography.fernet import Fernet

    if environ.get(MASTER_ENV):
        key, source = environ[MASTER_ENV].strip().encode("ascii", "replace"), f"${MASTER_ENV}"
    else:
        path = master_key_file(home)
        try:
            key, source = path.read_bytes().strip(), str(path)
        except FileNotFoundError:
            raise ConfigError(f"master key not found: set ${MASTER_ENV} or create {path} with --init-master-key") from None
        except OSError as exc:
            raise ConfigError(f"master key file {path} cannot be read: {exc.strerror}") from None
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise ConfigError(f"master key from {source} is not a valid Fernet key (44 url-safe base64 characters)") from None
    return key, source


def decryptor(environ: Mapping[str, str], home: Path) -> Callable[[str, str], str]:
    """A settings hook that decrypts `enc:` values, loading the master key on first use only."""
    cache: dict[str, tuple[bytes, str]] = {}

    def decrypt(value: str, path: str) -> str:
        if "key" not in cache:
            cache["key"] = load_master_key(environ, home)
        key, source = cache["key"]
        return decrypt_value(value, key, path=path, source=source)

    return decrypt


def decrypt_value(value: str, key: bytes, *, path: str, source: str) -> str:
    """Decrypt one `enc:` value; a wrong key or damaged token is a one-line ConfigError."""
    from cryptography.fernet import Fernet, InvalidToken

    token = value[len(PREFIX):] if value.startswith(PREFIX) else value
    try:
        return Fernet(key).decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError, UnicodeError):
        raise ConfigError(f"{path}: cannot decrypt with the master key from {source} (wrong key or damaged token)") from None


def encrypt_value(plaintext: str, key: bytes) -> str:
    from cryptography.fernet import Fernet

    return PREFIX + Fernet(key).encrypt(plaintext.encode("utf-8")).decode("ascii")


def create_master_key(path: Path) -> None:
    """Write a new Fernet key with mode 0600; refuse to overwrite an existing key."""
    from cryptography.fernet import Fernet

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} already exists; refusing to overwrite a master key (secrets encrypted with it would be lost)") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key() + b"\n")
        handle.flush()
        os.fsync(handle.fileno())


_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<sep>\s*)(?P<value>[^#]*?)(?P<tail>\s*(#.*)?)$")


def encrypt_config_text(text: str, key: bytes) -> tuple[str, list[str]]:
    """Encrypt plain secret values in block-style YAML text, keeping comments and order."""
    stack: list[tuple[int, str]] = []
    changed: list[str] = []
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        match = _LINE.match(line.rstrip("\n"))
        if not match:
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [match["key"]])
        stack.append((indent, match["key"]))
        value = _unquote(match["value"].strip())
        if path in SECRET_PATHS and value and not value.startswith((PREFIX, "${")):
            newline = "\n" if line.endswith("\n") else ""
            lines[index] = f'{match["indent"]}{match["key"]}: "{encrypt_value(value, key)}"{match["tail"]}{newline}'
            changed.append(path)
    return "".join(lines), changed


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def encrypt_config_file(path: Path, key: bytes) -> tuple[list[str], Path | None]:
    """Encrypt a config file in place (backup first, atomic replace); returns (paths, backup)."""
    try:
        original = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    text, changed = encrypt_config_text(original, key)
    if not changed:
        return [], None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    backup = path.with_name(f"{path.name}.bak-{stamp}")
    shutil.copy2(path, backup)
    os.chmod(backup, 0o600)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return changed, backup
