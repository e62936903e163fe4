"""--preflight: before the first live order, read-only checks of everything a live run needs, each with
✅/⚠️/❌ and what to do. Exit 1 when any check fails.

Only read calls are made (public markets, range_units; private balance, trade_fee, active_orders):
nothing is ordered, cancelled or written to the data directory. The checks, in the order a new live
user meets the problems:

1. keys present (and decrypted: an `enc:` value that cannot be decrypted already stops the config load);
2. the server's IP accepted (Coinone error 10 says it is not);
3. the signature accepted — Coinone's samples key the HMAC with the secret as issued, ccxt with the
   secret upper-cased; on a signature error (123) the other form is tried once, and the line says which
   `exchange.secret_key_case` to set;
4. balances readable; 5. every universe market open and tradable with MARKET orders (`order_types`),
   its minimum order and units; 6. the fee rate; 7. the data directory bound to this exchange;
8. no open orders of another installation on the account.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict

from kairos.commands.health import FAIL, ICON, OK, WARN, Check
from kairos.context import Context
from kairos.errors import AuthError, KairosError
from kairos.money import fmt_krw, fmt_pct, fmt_qty

log = logging.getLogger("kairos.preflight")
OTHER_CASE = {"as_issued": "upper", "upper": "as_issued"}
FEE_WARN = 0.005  # a taker fee above 0.5 % is far from Coinone's published 0.2 %: worth a look before trading

M = {
    "title": ("🛫 실거래 전 점검 (--preflight): 읽기 요청만 보내며 주문하지 않습니다",
              "🛫 Preflight for live trading: read-only requests, no order is placed"),
    "target": ("  대상: {mode} — {url}", "  Exchange: {mode} — {url}"),
    "mode_live": ("실거래", "live"), "mode_mock": ("모의 거래소 (연습용 점검)", "simulated exchange (a practice run)"),
    "mode_paper": ("모의 투자 (로컬 가상 계좌: 키·IP·서명은 점검하지 않음)",
                   "paper trading (a local pretend account: keys, IP and signature are not checked)"),
    "keys_ok": ("API 키: 설정됨 (값은 표시하지 않음){enc}", "API keys: configured (values hidden){enc}"),
    "keys_enc": (", 암호화된 값 복호화 성공", ", encrypted values decrypted"),
    "keys_none": ("API 키: 없음 — config의 exchange.access_token / exchange.secret_key 또는 $KAIROS_ACCESS_TOKEN / "
                  "$KAIROS_SECRET_KEY를 설정하세요 (코인원 웹 → API 관리에서 발급)",
                  "API keys: missing — set exchange.access_token / exchange.secret_key in the config, or "
                  "$KAIROS_ACCESS_TOKEN / $KAIROS_SECRET_KEY (issued at Coinone → API management)"),
    "keys_paper": ("API 키: 모의 투자에는 필요 없음", "API keys: not needed for paper trading"),
    "public_ok": ("공개 API: 응답 정상 ({n}개 마켓)", "Public API: reachable ({n} markets)"),
    "public_fail": ("공개 API: 연결 실패 — {err} — 네트워크와 exchange.base_url을 확인하세요",
                    "Public API: unreachable — {err} — check the network and exchange.base_url"),
    "ip_ok": ("서버 IP: 허용됨", "Server IP: accepted"),
    "ip_fail": ("서버 IP: 거부됨 (코인원 오류 10) — 코인원 웹 → API 관리에서 이 서버의 공인 IP를 키에 등록하세요",
                "Server IP: not allowed (Coinone error 10) — add this server's public IP to the key at Coinone → "
                "API management"),
    "ip_unknown": ("서버 IP: 확인하지 못함 (앞의 오류 때문)", "Server IP: not checked (the error above came first)"),
    "sig_ok": ("서명: 승인됨 (exchange.secret_key_case: {case})", "Signature: accepted (exchange.secret_key_case: {case})"),
    "sig_other": ("서명: 설정한 형식({case})은 거부되고 다른 형식은 승인됩니다 — config에 "
                  "exchange.secret_key_case: {other} 를 설정하세요",
                  "Signature: refused as configured ({case}) but accepted the other way — set "
                  "exchange.secret_key_case: {other} in the config"),
    "sig_fail": ("서명: 두 형식(그대로/대문자) 모두 거부됨 — 비밀 키가 이 액세스 토큰의 것인지, 복사할 때 잘리지 않았는지 확인하세요",
                 "Signature: refused both as issued and upper-cased — check that the secret belongs to this access "
                 "token and was copied whole"),
    "token_fail": ("인증: 거부됨 — {err} — 액세스 토큰과 키의 권한(자산 조회, 주문)을 확인하세요",
                   "Authentication: refused — {err} — check the access token and the key's permissions "
                   "(balance, orders)"),
    "auth_skip": ("인증: 키가 없어 점검하지 않음", "Authentication: not checked without keys"),
    "auth_error": ("인증: 점검 실패 — {err}", "Authentication: could not be checked — {err}"),
    "balance_ok": ("잔고 조회: 정상 (KRW 사용 가능 {krw}, 주문 중 {locked}; 코인 {n}종 보유)",
                   "Balances: readable (KRW available {krw}, locked {locked}; {n} coin(s) held)"),
    "market_ok": ("{coin}: 시장가 주문 가능 · 최소 주문 {min} KRW · 수량 단위 {unit} · 호가 단위 {tick} KRW",
                  "{coin}: MARKET orders allowed · minimum order {min} KRW · quantity unit {unit} · price unit {tick} KRW"),
    "market_missing": ("{coin}: KRW 마켓이 없습니다 — strategy.portfolio에서 빼거나 코인 이름을 확인하세요",
                       "{coin}: no KRW market — remove it from strategy.portfolio or check the symbol"),
    "market_closed": ("{coin}: 지금은 거래할 수 없습니다 (점검 {maint}, 거래 상태 {trade}) — 거래 재개 전까지 이 코인은 주문하지 않습니다",
                      "{coin}: not tradable now (maintenance {maint}, trade status {trade}) — it gets no order until it "
                      "reopens"),
    "market_no_market": ("{coin}: 시장가 주문을 받지 않습니다 (order_types: {types}) — KAIROS-1은 시장가 주문만 씁니다",
                         "{coin}: MARKET orders not accepted (order_types: {types}) — KAIROS-1 places MARKET orders only"),
    "market_error": ("{coin}: 마켓 정보를 읽지 못함 — {err}", "{coin}: market rules unreadable — {err}"),
    "fee_ok": ("수수료: {fees}", "Fees: {fees}"),
    "fee_high": ("수수료: {fees} — 0.5%를 넘는 코인이 있습니다: 코인원의 수수료 정책을 확인하세요",
                 "Fees: {fees} — above 0.5 % for some coin: check Coinone's fee schedule"),
    "fee_missing": ("수수료: {coins}의 수수료율이 응답에 없습니다 — 기본 0.2%로 가정합니다",
                    "Fees: no rate for {coins} in the answer — 0.2 % is assumed"),
    "bind_new": ("데이터 폴더: 아직 비어 있음 — 첫 실행 때 이 거래소·키에 묶입니다 ({path})",
                 "Data directory: empty so far — the first run binds it to this exchange and key ({path})"),
    "bind_ok": ("데이터 폴더: 이 거래소·키에 묶여 있음 ({path}, 설치 {id})",
                "Data directory: bound to this exchange and key ({path}, installation {id})"),
    "bind_fail": ("데이터 폴더: {err}", "Data directory: {err}"),
    "bind_bad": ("데이터 폴더: 상태 파일을 읽을 수 없음 ({path}: {err}) — --system-status로 확인하세요",
                 "Data directory: state file unreadable ({path}: {err}) — see --system-status"),
    "summary_ok": ("종합: 실거래 준비 완료 — 다음: --weekly-analysis, 그다음 --quarterly-rebalance-twap --dry-run",
                   "Overall: ready for live trading — next: --weekly-analysis, then --quarterly-rebalance-twap --dry-run"),
    "summary": ("종합: 실패 {f}건, 경고 {w}건 — ❌ 항목을 고친 뒤 --preflight를 다시 실행하세요",
                "Overall: {f} failure(s), {w} warning(s) — fix the ❌ lines, then run --preflight again"),
}


def run(ctx: Context) -> int:
    out, t = ctx.out, ctx.out.t
    url = ctx.settings.exchange.base_url if not ctx.mock else (ctx.settings.mock.server_url or "in-process simulator")
    out.say(t(M["title"]))
    out.say(t(M["target"], mode=t(M[f"mode_{ctx.mode}"]), url=url))
    checks = [*key_checks(ctx), *auth_checks(ctx), *market_checks(ctx), fee_check(ctx), binding_check(ctx)]
    checks = [c for c in checks if c is not None]
    if ctx.live and ctx.settings.exchange.has_keys or ctx.mock:
        from kairos.commands.status import check_open_orders

        checks.append(check_open_orders(ctx))
    for c in checks:
        out.say(f"  {ICON[c.status]} {c.text}")
    warns, fails = sum(c.status == WARN for c in checks), sum(c.status == FAIL for c in checks)
    out.say(t(M["summary_ok"]) if not fails and not warns else t(M["summary"], f=fails, w=warns))
    log.info("preflight: %d failure(s), %d warning(s): %s", fails, warns,
             ", ".join(f"{c.key}={c.status}" for c in checks))
    out.emit({"mode": ctx.mode, "base_url": url, "checks": [asdict(c) for c in checks], "failures": fails,
              "warnings": warns, "ready": not fails})
    return 1 if fails else 0


def key_checks(ctx: Context) -> list[Check]:
    t, ex = ctx.out.t, ctx.settings.exchange
    if ctx.paper:
        return [Check("keys", OK, t(M["keys_paper"]))]
    if ctx.mock:
        return []
    if not ex.has_keys:
        return [Check("keys", FAIL, t(M["keys_none"]))]
    encrypted = any(str(v).startswith("enc:") for v in _raw_key_values(ctx))
    return [Check("keys", OK, t(M["keys_ok"], enc=t(M["keys_enc"]) if encrypted else ""))]


def _raw_key_values(ctx: Context) -> list[str]:
    """The config file's key values as written (to tell an encrypted key); [] without a file."""
    source = ctx.settings.source
    if not source:
        return []
    try:
        from kairos.settings import read_yaml

        tree = read_yaml(source)
    except Exception:  # the load already succeeded; this only decides a word in the line
        return []
    exchange = tree.get("exchange") if isinstance(tree, dict) else None
    return [str(exchange.get(k, "")) for k in ("access_token", "secret_key")] if isinstance(exchange, dict) else []


def auth_checks(ctx: Context) -> list[Check]:
    """IP, signature (with the other secret-key case tried once), balances."""
    t = ctx.out.t
    if ctx.paper:  # the local pretend account: readable, or the data directory has a problem
        try:
            return [balance_line(ctx, ctx.client.balances())]
        except KairosError as exc:
            return [Check("balances", FAIL, t(M["auth_error"], err=exc))]
    if ctx.live and not ctx.settings.exchange.has_keys:
        return [Check("auth", FAIL, t(M["auth_skip"]))]
    case = ctx.settings.exchange.secret_key_case
    try:
        balances = ctx.client.balances()
    except AuthError as exc:
        if exc.code == "10":
            return [Check("ip", FAIL, t(M["ip_fail"]))]
        if exc.code != "123":
            return [Check("ip", OK, t(M["ip_ok"])), Check("auth", FAIL, t(M["token_fail"], err=exc))]
        return [Check("ip", OK, t(M["ip_ok"])), other_case(ctx, case)]
    except KairosError as exc:
        return [Check("ip", WARN, t(M["ip_unknown"])), Check("auth", FAIL, t(M["auth_error"], err=exc))]
    return [Check("ip", OK, t(M["ip_ok"])), Check("signature", OK, t(M["sig_ok"], case=case)), balance_line(ctx, balances)]


def other_case(ctx: Context, case: str) -> Check:
    """The signature was refused: try the secret in the other case once; say which setting works."""
    from kairos.wiring import build_client

    other = OTHER_CASE[case]
    try:
        build_client(ctx, secret_key_case=other).balances()
    except KairosError as exc:
        log.info("preflight: signature refused with secret_key_case %s and %s (%s)", case, other, exc)
        return Check("signature", FAIL, ctx.out.t(M["sig_fail"]))
    log.warning("preflight: the signature is accepted only with exchange.secret_key_case: %s", other)
    return Check("signature", FAIL, ctx.out.t(M["sig_other"], case=case, other=other))


def balance_line(ctx: Context, balances: dict) -> Check:
    krw = balances.get("KRW")
    held = [c for c, b in balances.items() if c != "KRW" and b.total > 0]
    return Check("balances", OK, ctx.out.t(M["balance_ok"], krw=fmt_krw(krw.available) if krw else "0",
                                           locked=fmt_krw(krw.limit) if krw else "0", n=len(held)))


def market_checks(ctx: Context) -> list[Check]:
    t = ctx.out.t
    try:
        markets = ctx.client.markets()
    except KairosError as exc:
        return [Check("public_api", FAIL, t(M["public_fail"], err=exc))]
    checks = [Check("public_api", OK, t(M["public_ok"], n=len(markets)))]
    try:
        tickers = ctx.client.tickers()
    except KairosError as exc:
        return [*checks, Check("public_api", FAIL, t(M["public_fail"], err=exc))]
    for coin in ctx.settings.universe:
        market = markets.get(coin)
        key = f"market:{coin}"
        if market is None:
            why = ctx.client.skipped.get("markets", {}).get(coin)
            checks.append(Check(key, FAIL, t(M["market_error"], coin=coin, err=why) if why else t(M["market_missing"], coin=coin)))
        elif "MARKET" not in {o.upper() for o in market.order_types}:
            types = ", ".join(sorted(market.order_types)) or "-"
            checks.append(Check(key, FAIL, t(M["market_no_market"], coin=coin, types=types)))
        elif not (market.can_buy and market.can_sell):
            checks.append(Check(key, WARN, t(M["market_closed"], coin=coin, maint=market.maintenance_status,
                                             trade=market.trade_status)))
        else:
            checks.append(market_line(ctx, coin, market, tickers.get(coin)))
    return checks


def market_line(ctx: Context, coin: str, market, ticker) -> Check:
    t = ctx.out.t
    try:
        if ticker is None:
            why = ctx.client.skipped.get("tickers", {}).get(coin) or "no ticker"
            return Check(f"market:{coin}", FAIL, t(M["market_error"], coin=coin, err=why))
        tick = ctx.client.range_units(coin).tick_for(ticker.last)
    except KairosError as exc:
        return Check(f"market:{coin}", FAIL, t(M["market_error"], coin=coin, err=exc))
    return Check(f"market:{coin}", OK, t(M["market_ok"], coin=coin, min=fmt_krw(market.min_order_amount),
                                         unit=fmt_qty(market.qty_unit), tick=fmt_krw(tick) if tick >= 1 else fmt_qty(tick)))


def fee_check(ctx: Context) -> Check | None:
    if ctx.live and not ctx.settings.exchange.has_keys:
        return None
    t = ctx.out.t
    try:
        fees = ctx.client.trade_fees()
    except KairosError as exc:
        return Check("fees", WARN, t(M["auth_error"], err=exc))
    universe = ctx.settings.universe
    missing = [c for c in universe if c not in fees]
    if missing:
        return Check("fees", WARN, t(M["fee_missing"], coins=", ".join(missing)))
    text = ", ".join(f"{c} {fmt_pct(fees[c].taker, 2)}" for c in universe)
    high = any(float(fees[c].taker) > FEE_WARN for c in universe)
    return Check("fees", WARN if high else OK, t(M["fee_high" if high else "fee_ok"], fees=text))


def binding_check(ctx: Context) -> Check:
    """Read the state file without the lock and without writing: is it this exchange's?"""
    from kairos.binding import BindingError, ExchangeIdentity, check

    t, path = ctx.out.t, ctx.paths.state_file
    if not path.exists():
        return Check("binding", OK, t(M["bind_new"], path=path.parent))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        installation = data.get("installation") or {}
    except (OSError, ValueError, AttributeError) as exc:
        return Check("binding", FAIL, t(M["bind_bad"], path=path, err=getattr(exc, "strerror", None) or exc))
    if not installation.get("exchange"):
        return Check("binding", OK, t(M["bind_new"], path=path.parent))
    try:
        check(f"data directory {path.parent}", ExchangeIdentity.from_json(installation["exchange"]), ctx.identity)
    except BindingError as exc:
        return Check("binding", FAIL, t(M["bind_fail"], err=exc))
    return Check("binding", OK, t(M["bind_ok"], path=path.parent, id=installation.get("id", "?")))
