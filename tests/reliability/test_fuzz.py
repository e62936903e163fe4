"""Fuzzing the three doors where outside data comes in: the settings file, exchange responses, the state file.

Each may only fail with the program's own error for that door — ConfigError, ProtocolError /
ExchangeError, StateError — never another exception (which the CLI would report as "unexpected"),
and reading a bad state file never changes it. Example counts are modest by default; `-m slow`
(or KAIROS_SLOW=1) runs each again with ten to twenty times more.
"""
from __future__ import annotations

import io
import json
import signal
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from kairos.cli import main
from kairos.clock import FixedClock
from kairos.coinone.client import CoinoneClient, decode
from kairos.coinone.auth import Credentials
from kairos.coinone.models import (
    Balance, CancelResult, Candle, FeeRate, KrwTransaction, Market, Order, OrderRequest, Ticker, Trade, parse_levels,
)
from kairos.engine.model import SCHEMA_VERSION
from kairos.env import Env
from kairos.errors import ConfigError, ExchangeError, ProtocolError, StateError
from kairos.schema import Secret
from kairos.secrets import decryptor
from kairos.settings import load
from kairos.sim.adapter import SimAdapter
from kairos.state import StateStore
from tests.reliability.harness import REPO, START, scratch_dir

FEW, MANY = 60, 600
COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def examples(request_slow: bool, few: int = FEW, many: int = MANY) -> int:
    return many if request_slow else few


# ---- shared value strategies ------------------------------------------------------------------------
NUMERIC_TEXT = st.one_of(
    st.from_regex(r"-?\d{1,22}(\.\d{0,12})?([eE][-+]?\d{1,3})?", fullmatch=True),
    st.sampled_from(["NaN", "Infinity", "-inf", "1,000", " 5 ", "", "0x10", "1e400", "-0", "1_000"]),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(), st.text(max_size=12),
                    NUMERIC_TEXT)
JSON = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
                    max_leaves=8)


# every test runs twice: a modest, seeded (derandomized) example set in the default run and CI, ten to twenty
# times more with random seeds under -m slow
pytestmark = pytest.mark.parametrize("slow_mode", [pytest.param(False, id="ci"),
                                                   pytest.param(True, id="slow", marks=pytest.mark.slow)])


# ---- 1. settings ---------------------------------------------------------------------------------------
EXAMPLE = yaml.safe_load((REPO / "config" / "config.example.yaml").read_text(encoding="utf-8"))
YAML_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**15, 10**15), st.floats(), st.text(max_size=16),
                         st.dates(min_value=date(1900, 1, 1)), NUMERIC_TEXT,
                         st.sampled_from(["${KAIROS_X}", "${KAIROS_X:-7}", "${}", "enc:abc", "BTC", "slack", "live"]))
YAML_VALUES = st.recursive(YAML_SCALARS, lambda kids: st.lists(kids, max_size=3)
                           | st.dictionaries(st.text(max_size=10), kids, max_size=3), max_leaves=6)


@st.composite
def mutated(draw: st.DrawFn, node: Any) -> Any:
    """The example config with keys kept, dropped, mutated, replaced by a random value, or added."""
    if isinstance(node, dict):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            action = draw(st.sampled_from(("keep", "keep", "mutate", "mutate", "drop", "replace")))
            if action == "keep":
                out[key] = value
            elif action == "mutate":
                out[key] = draw(mutated(value))
            elif action == "replace":
                out[key] = draw(YAML_VALUES)
        if draw(st.integers(0, 3)) == 0:
            out[draw(st.one_of(st.text(min_size=1, max_size=12), st.sampled_from(list(node) or ["x"])).map(str.upper))] = draw(YAML_VALUES)
        return out
    if isinstance(node, list):
        return draw(st.lists(st.one_of(st.sampled_from(node), YAML_VALUES) if node else YAML_VALUES, max_size=4))
    return draw(st.one_of(st.just(node), YAML_VALUES))


ENVIRON = st.dictionaries(st.sampled_from(["KAIROS_X", "KAIROS_ACCESS_TOKEN", "KAIROS_SECRET_KEY", "KAIROS_CONFIG",
                                           "KAIROS_MASTER_KEY", "KAIROS_SLACK_WEBHOOK"]), st.text(max_size=12), max_size=3)


def load_only_config_errors(path: Path, text: str | bytes, environ: Mapping[str, str]) -> None:
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    try:
        load(str(path), environ, path.parent, decryptor(environ, path.parent))
    except ConfigError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip(), f"not one line: {exc!r}"


def test_settings_loader_on_random_yaml_trees(tmp_path: Path, slow_mode: bool) -> None:
    @settings(max_examples=examples(slow_mode, 60, 3000), derandomize=not slow_mode, **COMMON)
    @given(tree=mutated(EXAMPLE), environ=ENVIRON)
    def check(tree: Any, environ: dict[str, str]) -> None:
        load_only_config_errors(tmp_path / "config.yaml", yaml.safe_dump(tree, allow_unicode=True), environ)
    check()


def test_settings_loader_on_random_text(tmp_path: Path, slow_mode: bool) -> None:
    @settings(max_examples=examples(slow_mode), derandomize=not slow_mode, **COMMON)
    @given(text=st.one_of(st.binary(max_size=200), st.text(max_size=200),
                          st.builds(lambda a, b: a + b, st.sampled_from(["mode: mock\n", "strategy:\n  portfolio:\n    core:\n",
                                                                         "a: &x [*x]\n", "exchange: {timeout_seconds: "]),
                                    st.text(max_size=60))))
    def check(text: str | bytes) -> None:
        load_only_config_errors(tmp_path / "config.yaml", text, {})
    check()


# ---- 2. exchange responses -----------------------------------------------------------------------------
# one valid row per parser (the simulator's shapes); the fuzzer breaks one to three fields of it at a time
VALID: dict[Callable[[Mapping[str, Any]], Any], dict[str, Any]] = {
    Ticker.parse: {"quote_currency": "KRW", "target_currency": "BTC", "timestamp": 1795392000000, "last": "94600000",
                   "first": "94000000", "high": "95000000", "low": "93000000", "quote_volume": "1.5e9",
                   "target_volume": "16.2", "best_asks": [{"price": "94610000", "qty": "0.5"}],
                   "best_bids": [{"price": "94590000", "qty": "0.4"}], "id": "1"},
    Candle.parse: {"timestamp": 1795392000000, "open": "1", "high": "2", "low": "0.5", "close": "1.5",
                   "target_volume": "10", "quote_volume": "15"},
    Balance.parse: {"currency": "KRW", "available": "1000", "limit": "0", "average_price": "0"},
    Market.parse: {"quote_currency": "KRW", "target_currency": "BTC", "qty_unit": "0.0001", "min_qty": "0.0001",
                   "max_qty": "1000", "min_price": "1000", "max_price": "1e12", "min_order_amount": "5000",
                   "max_order_amount": "1e9", "maintenance_status": 0, "trade_status": 1,
                   "order_types": ["LIMIT", "MARKET"]},
    Order.parse: {"order_id": "o-1", "type": "MARKET", "side": "BUY", "target_currency": "BTC", "status": "FILLED",
                  "fee": "10", "fee_rate": "0.002", "average_executed_price": "94600000", "executed_qty": "0.001",
                  "ordered_at": 1795392000000, "updated_at": 1795392000000, "price": None, "original_qty": None,
                  "canceled_qty": None, "remain_qty": None, "limit_price": "95000000", "traded_amount": "94600",
                  "original_amount": "100000", "canceled_amount": "5400", "user_order_id": "tw-1-btc-s000-a1"},
    FeeRate.parse: {"target_currency": "BTC", "maker": "0.002", "taker": "0.002"},
    CancelResult.parse: {"order_id": "o-1", "qty": "0.001", "traded_qty": "0", "canceled_at": 1795392000},
    Trade.parse: {"trade_id": "t-1", "order_id": "o-1", "target_currency": "BTC", "is_ask": False, "price": "94600000",
                  "qty": "0.001", "fee": "10", "timestamp": 1795392000000},
    KrwTransaction.parse: {"id": "k-1", "type": "DEPOSIT", "status": "DEPOSIT_SUCCESS", "amount": "1000000", "fee": "0",
                           "created_at": 1795392000000},
}
LEVELS = st.lists(st.fixed_dictionaries({}, optional={"price": st.one_of(NUMERIC_TEXT, SCALARS),
                                                      "qty": st.one_of(NUMERIC_TEXT, SCALARS)}), max_size=3)
FIELD_VALUE = st.one_of(NUMERIC_TEXT, SCALARS, JSON, LEVELS, st.sampled_from(["BUY", "SELL", "LIVE", "FILLED", "btc"]))
MISSING = object()


@st.composite
def broken(draw: st.DrawFn, valid: Mapping[str, Any]) -> dict[str, Any]:
    """A valid row with one to three fields replaced by random JSON or removed."""
    row = dict(valid)
    for key in draw(st.lists(st.sampled_from(sorted(valid)), min_size=1, max_size=3, unique=True)):
        value = draw(st.one_of(st.just(MISSING), FIELD_VALUE))
        if value is MISSING:
            row.pop(key, None)
        else:
            row[key] = value
    return row


@pytest.mark.parametrize("parse", list(VALID), ids=lambda f: f.__qualname__.split(".")[0])
def test_model_parsers_raise_only_protocol_errors(parse: Callable[[Mapping[str, Any]], Any], slow_mode: bool) -> None:
    @settings(max_examples=examples(slow_mode, 100, 1500), derandomize=not slow_mode, **COMMON)
    @given(raw=st.one_of(broken(VALID[parse]), st.dictionaries(st.sampled_from(sorted(VALID[parse])), FIELD_VALUE)))
    def check(raw: dict[str, Any]) -> None:
        try:
            value = parse(raw)
        except ProtocolError:
            return
        for name in ("mid", "is_open", "can_buy", "can_sell"):
            getattr(value, name, None)  # derived properties must work on whatever parsed
    check()


def test_price_levels_raise_only_protocol_errors(slow_mode: bool) -> None:
    @settings(max_examples=examples(slow_mode), derandomize=not slow_mode, **COMMON)
    @given(levels=st.one_of(JSON, LEVELS))
    def check(levels: Any) -> None:
        try:
            parse_levels(levels, where="fuzz")
        except ProtocolError:
            pass
    check()


def response(status: int, content: bytes) -> requests.Response:
    made = requests.Response()
    made.status_code, made._content = status, content  # the two fields decode() reads
    return made


def test_decode_raises_only_exchange_errors(slow_mode: bool) -> None:
    bodies = st.one_of(st.binary(max_size=80), JSON.map(lambda v: json.dumps(v).encode()),
                       st.dictionaries(st.sampled_from(["result", "error_code", "errorCode", "error_msg"]), SCALARS)
                       .map(lambda v: json.dumps(v).encode()))

    @settings(max_examples=examples(slow_mode, 150, 2000), derandomize=not slow_mode, **COMMON)
    @given(status=st.sampled_from([200, 201, 204, 301, 400, 403, 404, 429, 500, 502, 503]), content=bodies)
    def check(status: int, content: bytes) -> None:
        try:
            body = decode(response(status, content), "/fuzz")
        except ExchangeError:
            return
        assert isinstance(body, dict)
    check()


class RandomExchange:
    """A WSGI app answering every request with the next generated body (HTTP 200)."""

    def __init__(self) -> None:
        self.body = b"{}"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [self.body]


ENVELOPE_KEYS = ("markets", "range_price_units", "tickers", "chart", "balances", "order", "order_id", "fee_rates",
                 "active_orders", "completed_orders", "transactions", "canceled_count", "is_last", "timestamp",
                 "bids", "asks")
ENVELOPE = st.fixed_dictionaries(
    {"result": st.sampled_from(["success", "success", "error", None]), "error_code": st.sampled_from(["0", "0", 0, "12", None])},
    optional={k: st.one_of(st.lists(st.one_of(*[broken(v) for v in VALID.values()]), max_size=3),
                           st.one_of(*[broken(v) for v in VALID.values()]), FIELD_VALUE) for k in ENVELOPE_KEYS})
CALLS: dict[str, Callable[[CoinoneClient], Any]] = {
    "markets": lambda c: c.markets(), "range_units": lambda c: c.range_units("BTC"), "tickers": lambda c: c.tickers(),
    "ticker": lambda c: c.ticker("BTC"), "chart": lambda c: c.chart("BTC", "1d", 3), "orderbook": lambda c: c.orderbook("BTC"),
    "balances": lambda c: c.balances(), "fees": lambda c: c.trade_fees(),
    "order": lambda c: c.place_order(OrderRequest.market_buy("BTC", Decimal(10000), Decimal(100_000_000), "fz-btc-s000-a1")),
    "detail": lambda c: c.order_detail("BTC", user_order_id="fz-btc-s000-a1"),
    "cancel": lambda c: c.cancel_order("BTC", order_id="x"), "active": lambda c: c.active_orders("BTC"),
    "completed": lambda c: c.completed_orders(0, 1, "BTC"), "krw": lambda c: c.krw_history(0, 1),
}


def test_client_methods_on_random_envelopes(slow_mode: bool) -> None:
    app = RandomExchange()
    session = requests.Session()
    session.mount("https://fuzz.invalid", SimAdapter(app))
    client = CoinoneClient(session, "https://fuzz.invalid", credentials=Credentials(Secret("a"), Secret("b")), read_retries=0)

    @settings(max_examples=examples(slow_mode, 150, 4000), derandomize=not slow_mode, **COMMON)
    @given(call=st.sampled_from(sorted(CALLS)), body=ENVELOPE)
    def check(call: str, body: dict[str, Any]) -> None:
        app.body = json.dumps(body).encode()
        try:
            CALLS[call](client)
        except ExchangeError:
            pass
    check()


# ---- 3. the state file --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_state() -> Iterator[bytes]:
    """A state file written by a real TWAP run (in-process, the built-in paper account)."""
    with scratch_dir("fuzz-state") as home:
        env = Env(stdout=io.StringIO(), stderr=io.StringIO(), environ={}, home=home, clock=FixedClock(START))
        assert main(["--quarterly-rebalance-twap", "--mock"], env=env) == 0, env.stderr.getvalue()  # type: ignore[attr-defined]
        yield (home / "data" / "mock" / "state.json").read_bytes()


@st.composite
def damaged(draw: st.DrawFn, good: bytes) -> bytes:
    kind = draw(st.sampled_from(["truncate", "flip", "garbage", "version", "splice", "structure"]))
    if kind == "truncate":
        return good[:draw(st.integers(0, len(good) - 1))]
    if kind == "flip":
        data = bytearray(good)
        for _ in range(draw(st.integers(1, 5))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "garbage":
        return draw(st.binary(max_size=300))
    if kind == "version":
        doc = json.loads(good)
        doc["schema_version"] = draw(st.one_of(JSON, st.integers(SCHEMA_VERSION + 1, 99), st.just("1")))
        return json.dumps(doc).encode()
    if kind == "structure":  # valid JSON, right version, one node of the tree replaced or removed
        doc = json.loads(good)
        node, key = doc, draw(st.sampled_from(sorted(k for k in doc if k != "schema_version")))
        while isinstance(node[key], (dict, list)) and node[key] and draw(st.booleans()):
            node = node[key]
            key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else list(range(len(node)))))
        if isinstance(node, dict) and draw(st.booleans()):
            del node[key]
        else:
            node[key] = draw(JSON)
        return json.dumps(doc).encode()
    cut = draw(st.integers(0, len(good)))
    return good[:cut] + draw(st.binary(max_size=20)) + good[cut:]


def test_state_loader_raises_only_state_errors_and_never_writes(real_state: bytes, tmp_path: Path, slow_mode: bool) -> None:
    path = tmp_path / "state.json"

    @settings(max_examples=examples(slow_mode, 150, 3000), derandomize=not slow_mode, **COMMON)
    @given(data=damaged(real_state))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        store = StateStore(path, tmp_path / "kairos.lock")
        try:
            store.read()
        except StateError as exc:
            assert "NOT" in str(exc) or "cannot" in str(exc)
        assert path.read_bytes() == data
    check()


def test_cli_refuses_a_damaged_state_file_with_exit_3(real_state: bytes, slow_mode: bool) -> None:
    """The real commands on a damaged state: exit 3 and the file untouched, never an unexpected error.

    A file that still parses with the right version but has a broken structure must be refused
    the same way (exit 3) unless it is still a state the commands can use.
    """
    @settings(max_examples=examples(slow_mode, 25, 400), derandomize=not slow_mode, **COMMON)
    @given(data=damaged(real_state), command=st.sampled_from(["--process-twap", "--twap-status", "--quarterly-rebalance"]))
    def check(data: bytes, command: str) -> None:
        with scratch_dir("fuzz-cli") as home:  # each example in its own home: no example sees another's files
            state, log = home / "data" / "mock" / "state.json", home / "logs" / "kairos.log"
            state.parent.mkdir(parents=True)
            state.write_bytes(data)
            env = Env(stdout=io.StringIO(), stderr=io.StringIO(), environ={}, home=home, clock=FixedClock(START))
            previous = signal.getsignal(signal.SIGTERM)
            try:
                code = main([command, "--mock", "--lang", "en"], env=env)
            finally:
                signal.signal(signal.SIGTERM, previous)
            err = env.stderr.getvalue()  # type: ignore[attr-defined]
            unexpected = "unexpected error" in (log.read_text(encoding="utf-8") if log.exists() else "")
            assert not unexpected and "Traceback" not in err, (command, code, err)
            try:
                loads = json.loads(data).get("schema_version") in (1, SCHEMA_VERSION)
            except (ValueError, AttributeError):
                loads = False
            if not loads:
                assert code == 3, (code, err)
            if code == 3:
                assert state.read_bytes() == data
                assert [l for l in err.splitlines() if l.strip()] == [err.strip()] and err.startswith("error: state file")
    check()
