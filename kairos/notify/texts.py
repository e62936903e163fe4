"""The alert catalogue: every alert title, line and next step, in Korean and English.

Commands send alerts in the run's language (`ctx.out.t(A[...])`); keeping the texts here, apart from the
code that decides *when* to alert, lets one test scan every pair for a missing translation.
"""
from __future__ import annotations

from typing import Any, Callable

SIDES = {"BUY": ("매수", "BUY"), "SELL": ("매도", "SELL")}

A = {
    # execution: an order declared lost that the exchange accepted after all
    "late_title": ("늦게 체결된 주문 반영: {uoid}", "Late order adopted: {uoid}"),
    "late_line": ("{coin} {side}: 유실로 판정된 뒤 거래소가 접수한 주문입니다. 체결 {qty} {coin} ({krw}). "
                  "이 체결은 해당 코인의 계획 수량에 포함됩니다.",
                  "{coin} {side}: the exchange accepted it after it was declared lost; executed {qty} {coin} ({krw}). "
                  "Its fill now counts toward its leg."),
    # the tick
    "kill_title": ("KAIROS-1 거래 중지 (킬 스위치)", "KAIROS-1 trading stopped (kill switch)"),
    "kill_action": ("킬 파일을 지우거나 trading.enabled: true로 바꾸면 다시 거래합니다.",
                    "Remove the kill file or set trading.enabled: true to resume."),
    "kill_disabled": ("설정 trading.enabled: false", "trading.enabled: false"),
    "kill_file": ("킬 파일 {path}", "kill file {path}"),
    "leg_failed_title": ("TWAP {plan}: {coin} 주문 실패", "TWAP {plan}: {coin} leg failed"),
    "leg_failed_action": ("마켓 규칙과 logs/kairos.log를 확인하세요.", "Check the market rules and logs/kairos.log."),
    "waiting_title": ("TWAP {plan}: {coin} {side} 대기 중", "TWAP {plan}: {coin} {side} waiting"),
    "waiting_action": ("이 조각은 기다립니다. 계속되면 계획은 종료 시각 + 유예 후 만료됩니다.",
                       "The slice waits; the plan expires after its end + grace if this persists."),
    "plan_title": ("TWAP {plan} {status}", "TWAP {plan} {status}"),
    "plan_action": ("미체결 부족분을 확인하고, 다시 하려면 --quarterly-rebalance-twap --force를 실행하세요.",
                    "Review the shortfall; run --quarterly-rebalance-twap --force to retry."),
    # rebalancing
    "late_quarter_title": ("분기 리밸런싱 {q} 지연 시작", "Quarterly rebalance {q} started late"),
    "late_quarter_line": ("예정 시각 {due}에 실행되지 않아 이번 실행이 시작했습니다.",
                          "It was due {due} and had not run; started by this run."),
    "rebalance_done_title": ("리밸런싱 {plan} 완료 (주문 {n}건)", "Rebalance {plan} done ({n} orders)"),
    "rebalance_done_line": ("{coin} {side}: {status}, 체결 {qty} {coin}, 평균가 {avg}",
                            "{coin} {side}: {status}, executed {qty} {coin}, average {avg}"),
    "untrusted_title": ("{coin}: 가격을 믿을 수 없어 주문하지 않았습니다", "{coin}: price not trusted, no order"),
    # operator's plan control
    "paused_title": ("TWAP {plan} 일시 정지", "TWAP {plan} paused"),
    "paused_line": ("운영자가 {at} KST에 일시 정지했습니다.", "Paused by the operator at {at} KST."),
    "resumed_title": ("TWAP {plan} 재개", "TWAP {plan} resumed"),
    "resumed_line": ("{shift} 정지 후 재개했습니다. 종료 예정 {end} KST.", "Resumed after {shift}; ends {end} KST."),
}


def side_word(t: Callable[..., str], side: Any) -> str:
    """BUY/SELL as a word in the reader's language (`t` picks ko/en)."""
    return t(SIDES["BUY" if str(getattr(side, "value", side)).upper() == "BUY" else "SELL"])
