"""--reset-mock --yes: archive the paper account (simulated exchange, state, ledger) and start again.

The mock data directory is moved aside whole (`data/mock.archived-<time>/`), never deleted; the next
run creates a new paper account with `mock.initial_krw`. Live data is never touched: the command
refuses outside mock mode.
"""
from __future__ import annotations

import logging
from typing import Any

from kairos.context import Context
from kairos.errors import ConfigError, KairosError
from kairos.money import fmt_krw
from kairos.state import LockBusy

log = logging.getLogger("kairos.reset")

M = {
    "plan": ("모의 계좌를 초기화합니다: {path} 를 {archive} 로 옮기고, 다음 실행은 {krw} KRW로 새로 시작합니다.",
             "Resetting the paper account: {path} moves to {archive}; the next run starts again with {krw} KRW."),
    "confirm": ("확인하려면 --yes를 붙여 다시 실행하세요 (아무것도 바꾸지 않았습니다).",
                "Run again with --yes to confirm (nothing was changed)."),
    "done": ("모의 계좌를 보관했습니다: {archive}", "Paper account archived: {archive}"),
    "empty": ("초기화할 모의 계좌가 없습니다 ({path}); 다음 실행이 {krw} KRW로 시작합니다.",
              "No paper account to reset ({path}); the next run starts with {krw} KRW."),
    "external": ("참고: 모의 거래소가 별도 프로세스({url})라 그쪽 계좌는 그 시뮬레이터의 --state 파일에 있습니다.",
                 "Note: the simulator runs as its own process ({url}); its account lives in that simulator's --state file."),
}


class NotMock(ConfigError):
    """--reset-mock outside mock mode."""


def run(ctx: Context) -> int:
    if not ctx.mock:
        raise NotMock("--reset-mock: only in mock mode; live data is never reset")
    return reset(ctx, "--reset-mock", ctx.settings.mock.initial_krw, ctx.settings.mock.server_url)


def run_paper(ctx: Context) -> int:
    """--reset-paper --yes: the same for the paper-trading account (paper.initial_krw)."""
    if not ctx.paper:
        raise NotMock("--reset-paper: only in paper mode (mode: paper or --paper); live data is never reset")
    return reset(ctx, "--reset-paper", ctx.settings.paper.initial_krw, "")


def reset(ctx: Context, flag: str, initial_krw: Any, server_url: str) -> int:
    out, data = ctx.out, ctx.paths.data_dir
    krw = fmt_krw(initial_krw)
    if not data.exists() or not any(data.iterdir()):
        out.say(out.t(M["empty"], path=data, krw=krw))
        return 0
    archive = data.with_name(f"{data.name}.archived-{ctx.clock.now().strftime('%Y%m%dT%H%M%S')}")
    out.say(out.t(M["plan"], path=data, archive=archive, krw=krw))
    if server_url:
        out.say(out.t(M["external"], url=server_url))
    if not getattr(ctx.args, "yes", False):
        out.say(out.t(M["confirm"]))
        raise ConfigError(f"{flag}: add --yes to confirm")
    try:
        with ctx.state.locked(wait_seconds=0):
            archive.mkdir(parents=True)
            for item in data.iterdir():
                if item.name not in ("kairos.lock", "kairos.lock.info"):
                    item.rename(archive / item.name)
    except LockBusy:
        raise KairosError(f"{flag}: another KAIROS-1 run holds the lock; try again when it has finished") from None
    log.warning("paper account archived to %s", archive)
    out.say(out.t(M["done"], archive=archive))
    out.emit({"archived_to": str(archive), "initial_krw": initial_krw})
    return 0
