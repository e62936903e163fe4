"""Encrypted secrets with Fernet (`cryptography`): config values written as `enc:<token>`.

The master key comes from $KAIROS_MASTER_KEY or the key file `config/master.key` (mode 0600,
created only by `--init-master-key`). There is no fallback: a missing or wrong key is a one-line
error naming where we looked — never a key derived from the hostname or anything else.
"""
from __future__ import annotations

import io
import os
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


def encrypt_config_text(text: str, key: bytes) -> tuple[str, list[str]]:
    """Encrypt the plain secret values of a YAML config, keeping comments, order, quoting and anchors.

    Round-trip editing with ruamel.yaml: the file is parsed and written back by a YAML library, so a `#`
    inside a quoted value, `''` escapes, anchors and aliases survive. A secret it cannot safely replace
    (not text, inherited through a merge key, or shared through an anchor) is refused with one line.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 1 << 16  # never fold a long token onto two lines
    try:
        doc = yaml.load(text)
    except YAMLError as exc:
        raise ConfigError(f"--encrypt-config: the config file is not valid YAML ({str(exc).splitlines()[0]}); "
                          f"file untouched") from None
    changed = []
    for path in sorted(SECRET_PATHS):
        found = _secret_slot(doc, path)
        if found is None:
            continue
        mapping, name = found
        value = mapping[name]
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected text to encrypt, got {type(value).__name__}; file untouched")
        if value.startswith((PREFIX, "${")):
            continue
        if getattr(getattr(value, "anchor", None), "value", None):
            raise ConfigError(f"{path}: the value carries a YAML anchor (&{value.anchor.value}) that other keys may "
                              f"share; write it out plainly, then encrypt; file untouched")
        mapping[name] = DoubleQuotedScalarString(encrypt_value(str(value), key))
        changed.append(path)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue(), changed


def _secret_slot(doc: object, path: str) -> tuple[dict, str] | None:
    """(mapping, key) holding `path` in the round-trip document, or None when it is absent."""
    node = doc
    parts = path.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            return None
        own = getattr(node, "_ok", None)
        if own is not None and part not in own:
            raise ConfigError(f"{path}: comes from a YAML merge key (<<: *anchor); write it in its own section, "
                              f"then encrypt; file untouched")
        if depth == len(parts) - 1:
            return node, part  # type: ignore[return-value]
        node = node[part]
        if getattr(getattr(node, "anchor", None), "value", None):
            raise ConfigError(f"{'.'.join(parts[:depth + 1])}: this section carries a YAML anchor "
                              f"(&{node.anchor.value}) that other keys may share; file untouched")
    return None


def plain_tree(text: str, where: str) -> object:
    """The config text as the settings loader reads it (plain dicts, lists and scalars)."""
    import yaml

    from kairos.settings import _Loader

    try:
        return yaml.load(text, Loader=_Loader) or {}  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: the encrypted text does not parse ({exc}); file untouched") from None


def verify_encrypted(original: str, encrypted: str, key: bytes, changed: list[str], where: str) -> None:
    """The encrypted text alone (no environment) must read as exactly the original values once decrypted."""
    before, after = plain_tree(original, where), plain_tree(encrypted, where)
    for path in changed:
        parent = after
        *heads, last = path.split(".")
        for part in heads:
            parent = parent[part]  # type: ignore[index]
        parent[last] = decrypt_value(parent[last], key, path=path, source="the master key")  # type: ignore[index]
    if after != before:
        raise ConfigError(f"{where}: the encrypted file would not read back as the same settings "
                          f"(first difference: {_first_difference(before, after) or '?'}); file untouched")


def _first_difference(a: object, b: object, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            found = _first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    return None if a == b else (path or "(root)")


def encrypt_config_file(path: Path, key: bytes) -> tuple[list[str], Path | None]:
    """Encrypt a config file: write a temporary file beside it, verify it alone decrypts to the original
    values, back the original up (mode 600), and only then replace it. Returns (paths, backup)."""
    try:
        original = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    text, changed = encrypt_config_text(original, key)
    if not changed:
        return [], None
    verify_encrypted(original, text, key, changed, str(path))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        verify_encrypted(original, tmp.read_text(encoding="utf-8"), key, changed, str(path))  # the file as written
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        backup = path.with_name(f"{path.name}.bak-{stamp}")
        shutil.copy2(path, backup)
        os.chmod(backup, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write {tmp}: {exc.strerror}; {path} untouched") from None
    finally:
        tmp.unlink(missing_ok=True)
    return changed, backup
