"""--show-config: the effective settings, each with where it came from (file / environment / default).

Secrets are never shown: a secret is "set (hidden)", "encrypted (hidden)" or "not set". The home, data and
log directories come first, with why this home was chosen.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any

from kairos.context import Context
from kairos.schema import Secret
from kairos.settings import read_yaml

M = {
    "title": ("⚙️ 적용된 설정 (출처: 파일 / 환경변수 / 기본값)", "⚙️ Effective settings (source: file / environment / default)"),
    "file": ("  설정 파일: {path}", "  Config file: {path}"),
    "no_file": ("  설정 파일: 없음 — 모두 기본값", "  Config file: none — built-in defaults"),
    "home": ("  홈: {home} ({why})", "  Home: {home} ({why})"),
    "why_env": ("KAIROS_HOME", "KAIROS_HOME"), "why_checkout": ("이 체크아웃", "this checkout"),
    "why_user": ("사용자 데이터 폴더", "the per-user data directory"),
    "dirs": ("  데이터: {data}  로그: {logs}  모드: {mode}", "  Data: {data}  Logs: {logs}  Mode: {mode}"),
    "src": {"file": ("파일", "file"), "env": ("환경변수", "environment"), "default": ("기본값", "default")},
    "hidden": ("설정됨 (숨김)", "set (hidden)"), "encrypted": ("암호화됨 (숨김)", "encrypted (hidden)"),
    "unset": ("없음", "not set"),
}
ENV_KEYS = {"exchange.access_token": "KAIROS_ACCESS_TOKEN", "exchange.secret_key": "KAIROS_SECRET_KEY"}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def run(ctx: Context) -> int:
    out, t = ctx.out, ctx.out.t
    s = ctx.settings
    raw: Any = read_yaml(s.source) if s.source else {}
    out.say(t(M["title"]))
    out.say(t(M["file"], path=s.source) if s.source else t(M["no_file"]))
    out.say(t(M["home"], home=ctx.paths.home, why=t(M[home_reason(ctx)])))
    out.say(t(M["dirs"], data=ctx.paths.data_dir, logs=ctx.paths.log_dir, mode=ctx.mode))
    rows = []
    for path, value in leaves(s):
        source, var = where(path, raw, ctx.env.environ)
        shown = show(out, path, value, raw)
        rows.append({"key": path, "value": shown, "source": source, **({"variable": var} if var else {})})
        label = t(M["src"][source]) + (f" ${{{var}}}" if var else "")
        out.say(f"  {path} = {shown}    [{label}]")
    out.emit({"config_file": str(s.source or ""), "home": str(ctx.paths.home), "home_reason": home_reason(ctx),
              "data_dir": str(ctx.paths.data_dir), "log_dir": str(ctx.paths.log_dir), "mode": ctx.mode,
              "settings": rows})
    return 0


def home_reason(ctx: Context) -> str:
    if ctx.env.environ.get("KAIROS_HOME"):
        return "why_env"
    return "why_checkout" if (Path(ctx.paths.home) / "kairos1_main.py").exists() else "why_user"


def leaves(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) for every setting, in declaration order."""
    found = []
    for f in dataclasses.fields(obj):
        if f.name == "source":
            continue
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            found += leaves(value, key + ".")
        else:
            found.append((key, value))
    return found


def lookup(raw: Any, path: str) -> tuple[bool, Any]:
    node = raw
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def where(path: str, raw: Any, environ: Any) -> tuple[str, str | None]:
    """("env", VAR) / ("file", None) / ("default", None) for one setting."""
    if path in ENV_KEYS and environ.get(ENV_KEYS[path]):
        return "env", ENV_KEYS[path]
    present, value = lookup(raw, path)
    if not present:
        return "default", None
    text = value if isinstance(value, str) else ""
    match = _VAR.search(text)
    return ("env", match.group(1)) if match else ("file", None)


def show(out: Any, path: str, value: Any, raw: Any) -> str:
    if isinstance(value, Secret):
        present, written = lookup(raw, path)
        encrypted = present and isinstance(written, str) and written.startswith("enc:")
        return out.t(M["encrypted"] if encrypted else M["hidden"])
    if value is None and path in ENV_KEYS | {"notifications.slack.webhook_url": 1, "notifications.email.password": 1}:
        return out.t(M["unset"])
    if isinstance(value, (dict, MappingProxyType)):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "{}"
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value) if value != "" else '""'
