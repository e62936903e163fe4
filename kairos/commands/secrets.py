"""--init-master-key and --encrypt-config: Fernet-encrypted secrets in the config file."""
from __future__ import annotations

from kairos import secrets
from kairos.context import Context
from kairos.errors import ConfigError
from kairos.settings import load, locate

M = {
    "created": ("마스터 키를 만들었습니다: {path} (권한 600). 이 파일을 잃으면 암호화된 키를 풀 수 없습니다 — 안전한 곳에 백업하세요.",
                "Master key created: {path} (mode 600). Without it the encrypted keys cannot be read — back it up safely."),
    "cron": ("cron에서는 이 파일을 그대로 쓰거나, 환경변수 KAIROS_MASTER_KEY에 파일 내용을 넣으세요.",
             "Under cron either keep this file in place or put its content in the KAIROS_MASTER_KEY environment variable."),
    "next": ("다음: python kairos1_main.py --encrypt-config", "Next: python kairos1_main.py --encrypt-config"),
    "encrypted": ("암호화한 값: {keys}", "Encrypted: {keys}"),
    "backup": ("원본 백업: {path} (평문 비밀 값이 들어 있습니다 — 확인 후 삭제하세요)",
               "Original backed up to {path} (it holds the plaintext secrets — delete it once you have checked)"),
    "nothing": ("암호화할 평문 비밀 값이 없습니다 (이미 enc: 이거나 비어 있거나 ${{VAR}} 참조).",
                "No plaintext secret to encrypt (already enc:, empty, or a ${{VAR}} reference)."),
    "no_file": ("설정 파일이 없습니다: {path}", "No config file: {path}"),
}


def init_master_key(ctx: Context) -> int:
    """Create config/master.key (mode 0600); never overwrite an existing key."""
    path = secrets.master_key_file(ctx.env.home)
    secrets.create_master_key(path)
    ctx.out.say(ctx.out.t(M["created"], path=path))
    ctx.out.say(ctx.out.t(M["cron"]))
    ctx.out.say(ctx.out.t(M["next"]))
    return 0


def encrypt_config(ctx: Context) -> int:
    """Encrypt the plaintext secrets of the config file in place, keeping comments and order."""
    path, _explicit = locate(getattr(ctx.args, "config", None), ctx.env.environ, ctx.env.home)
    if not path.exists():
        raise ConfigError(ctx.out.t(M["no_file"], path=path))
    key, _source = secrets.load_master_key(ctx.env.environ, ctx.env.home)
    # verified inside: the new file alone (no environment overrides) decrypts to exactly the old file's values
    changed, backup = secrets.encrypt_config_file(path, key)
    load(str(path), ctx.env.environ, ctx.env.home, secrets.decryptor(ctx.env.environ, ctx.env.home))  # still loads
    if not changed:
        ctx.out.say(ctx.out.t(M["nothing"]))
        return 0
    ctx.out.say(ctx.out.t(M["encrypted"], keys=", ".join(changed)))
    ctx.out.say(ctx.out.t(M["backup"], path=backup))
    return 0
