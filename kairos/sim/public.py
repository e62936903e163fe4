"""Public v2 endpoints of the simulator (GET, no auth), rendered from the market model (§2).

Numbers are strings, except what the docs show as numbers: timestamps and server_time (int ms),
maintenance_status / trade_status, range_min / next_range_min (int) and price_unit (a JSON float
in range_units), is_last and is_seller_maker. Ticker currency codes are lowercase (as ccxt
recorded from the live API); the orderbook's are uppercase.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Callable, Mapping

from kairos.coinone.models import KRW_TICKS
from kairos.money import round_down
from kairos.sim.accounts import KRW, num
from kairos.sim.auth import ApiError
from kairos.sim.orders import MAX_PRICE, MAX_QTY, MIN_PRICE, Markets

INTERVALS = ("1m", "3m", "5m", "10m", "15m", "30m", "1h", "2h", "4h", "6h", "1d", "1w", "1mon")
BOOK_SIZES = (5, 10, 15, 16)
TRADE_SIZES = (10, 50, 100, 150, 200)
COIN_NAMES = {"BTC": "Bitcoin", "ETH": "Ethereum", "ETC": "Ethereum Classic", "XRP": "XRP", "BCH": "Bitcoin Cash",
              "EOS": "EOS", "XLM": "Stellar", "TRX": "TRON", "ADA": "Cardano", "ATOM": "Cosmos",
              "LINK": "Chainlink", "DOGE": "Dogecoin", "DOT": "Polkadot", "AVAX": "Avalanche", "SAND": "The Sandbox",
              "MANA": "Decentraland", "NEAR": "NEAR Protocol", "SOL": "Solana", "HBAR": "Hedera", "SHIB": "Shiba Inu"}
_YESTERDAY = ("yesterday_high", "yesterday_low", "yesterday_first", "yesterday_last",
              "yesterday_quote_volume", "yesterday_target_volume")


class NotFound(Exception):
    """No public endpoint has this path."""


def _int_param(query: Mapping[str, str], key: str, default: int | None) -> int | None:
    value = query.get(key)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError("107", f"{key} must be an integer") from None


def _levels(levels: list[tuple[Decimal, Decimal]]) -> list[dict[str, str]]:
    return [{"price": num(p), "qty": num(q)} for p, q in levels]


class PublicApi:
    """Answers `/public/v2/...` from the model at the exchange clock's now."""

    def __init__(self, markets: Markets, candle_max_size: int) -> None:
        self.markets = markets
        self.model = markets.model
        self.candle_max_size = candle_max_size
        self.routes: list[tuple[re.Pattern[str], Callable[..., dict[str, Any]]]] = [
            (re.compile(r"^/public/v2/markets/(\w+)(?:/(\w+))?$"), self.markets_),
            (re.compile(r"^/public/v2/range_units/(\w+)/(\w+)$"), self.range_units),
            (re.compile(r"^/public/v2/ticker_new/(\w+)(?:/(\w+))?$"), self.ticker),
            (re.compile(r"^/public/v2/ticker_utc_new/(\w+)(?:/(\w+))?$"), self.ticker_utc),
            (re.compile(r"^/public/v2/orderbook/(\w+)/(\w+)$"), self.orderbook),
            (re.compile(r"^/public/v2/trades/(\w+)/(\w+)$"), self.trades),
            (re.compile(r"^/public/v2/chart/(\w+)/(\w+)$"), self.chart),
            (re.compile(r"^/public/v2/currencies(?:/(\w+))?$"), self.currencies),
        ]

    def handle(self, path: str, query: Mapping[str, str], now_ms: int) -> dict[str, Any]:
        """The success body for a public path; ApiError or NotFound otherwise."""
        for pattern, handler in self.routes:
            match = pattern.match(path)
            if match:
                return {"result": "success", "error_code": "0", **handler(query, now_ms, *match.groups())}
        raise NotFound(path)

    def _coins(self, quote: str, target: str | None, now_ms: int) -> list[str]:
        if target is not None:
            return [self.markets.pair(quote, target, now_ms)]
        if quote.upper() != KRW:
            raise ApiError("109")
        return self.markets.listed(now_ms)

    # -- markets and rules ---------------------------------------------------------------------
    def markets_(self, query: Mapping[str, str], now_ms: int, quote: str, target: str | None) -> dict[str, Any]:
        rows = [self._market_row(c, now_ms) for c in self._coins(quote, target, now_ms)]
        return {"server_time": now_ms, "markets": rows}

    def _market_row(self, coin: str, now_ms: int) -> dict[str, Any]:
        config = self.markets.config
        maintenance, trade = self.markets.status(coin)
        unit = self.markets.qty_unit(coin)
        return {
            "quote_currency": KRW, "target_currency": coin,
            "price_unit": num(KRW_TICKS.tick_for(self.model.price(coin, now_ms))), "qty_unit": num(unit),
            "max_order_amount": num(config.max_order_amount), "max_price": num(MAX_PRICE), "max_qty": num(MAX_QTY),
            "min_order_amount": num(config.min_order_amount), "min_price": num(MIN_PRICE), "min_qty": num(unit),
            "order_book_units": ["0.0"], "maintenance_status": maintenance, "trade_status": trade,
            "order_types": ["limit", "market", "stop_limit"],
        }

    def range_units(self, query: Mapping[str, str], now_ms: int, quote: str, target: str) -> dict[str, Any]:
        self.markets.pair(quote, target, now_ms)
        rows = [{"range_min": int(u.range_min), "next_range_min": int(u.next_range_min),
                 "price_unit": float(u.price_unit)}  # a JSON number in the docs; output only, never math
                for u in KRW_TICKS.units]
        return {"range_price_units": rows}

    def currencies(self, query: Mapping[str, str], now_ms: int, currency: str | None) -> dict[str, Any]:
        coins = [self.markets.coin(currency)] if currency else list(self.model.coins)
        return {"server_time": now_ms, "currencies": [self._currency_row(c) for c in coins]}

    def _currency_row(self, coin: str) -> dict[str, Any]:
        return {"name": COIN_NAMES.get(coin, coin), "symbol": coin, "deposit_status": "normal",
                "withdraw_status": "normal", "deposit_confirm_count": 2, "max_precision": 8,
                "deposit_fee": "0.0", "withdrawal_min_amount": num(self.markets.qty_unit(coin)),
                "withdrawal_fee": "0.0"}

    # -- tickers ----------------------------------------------------------------------------------
    def ticker(self, query: Mapping[str, str], now_ms: int, quote: str, target: str | None) -> dict[str, Any]:
        extra = query.get("additional_data", "").lower() == "true"
        rows = [self._ticker_row(c, self.model.ticker(c, now_ms), now_ms, extra)
                for c in self._coins(quote, target, now_ms)]
        return {"server_time": now_ms, "tickers": rows}

    def ticker_utc(self, query: Mapping[str, str], now_ms: int, quote: str, target: str | None) -> dict[str, Any]:
        extra = query.get("additional_data", "").lower() == "true"
        rows = [self._ticker_row(c, self._utc_figures(c, now_ms), now_ms, extra)
                for c in self._coins(quote, target, now_ms)]
        return {"server_time": now_ms, "tickers": rows}

    def _utc_figures(self, coin: str, now_ms: int) -> dict[str, Any]:
        """Today's and yesterday's figures from the UTC daily candles."""
        candles, _ = self.model.candles(coin, "1d", now_ms, size=2)
        names = ("first", "high", "low", "last", "quote_volume", "target_volume")
        keys = ("open", "high", "low", "close", "quote_volume", "target_volume")
        out: dict[str, Any] = {"timestamp": now_ms}
        for prefix, candle in zip(("", "yesterday_"), candles):
            out.update({prefix + n: candle[k] for n, k in zip(names, keys)})
        return out

    def _ticker_row(self, coin: str, figures: Mapping[str, Any], now_ms: int, extra: bool) -> dict[str, Any]:
        bids, asks = self.model.book(coin, now_ms, levels=1)
        row = {"quote_currency": "krw", "target_currency": coin.lower(), "timestamp": int(figures["timestamp"]),
               "high": num(figures["high"]), "low": num(figures["low"]), "first": num(figures["first"]),
               "last": num(figures["last"]), "quote_volume": num(figures["quote_volume"]),
               "target_volume": num(figures["target_volume"]), "best_asks": _levels(asks[:1]),
               "best_bids": _levels(bids[:1]), "id": f"{int(figures['timestamp'])}001"}
        if extra:
            row.update({k: num(figures.get(k, figures.get(k.replace("yesterday_", ""), 0))) for k in _YESTERDAY})
        return row

    # -- book, trades, chart ------------------------------------------------------------------------
    def orderbook(self, query: Mapping[str, str], now_ms: int, quote: str, target: str) -> dict[str, Any]:
        coin = self.markets.pair(quote, target, now_ms)
        size = _int_param(query, "size", 15)
        if size not in BOOK_SIZES:
            raise ApiError("107", "size must be one of 5, 10, 15, 16")
        unit = query.get("order_book_unit")
        if unit not in (None, "") and unit not in ("0", "0.0"):
            raise ApiError("107", "order_book_unit is not supported for this market")
        bids, asks = self.model.book(coin, now_ms, levels=size)
        return {"timestamp": now_ms, "id": f"{now_ms}001", "quote_currency": KRW, "target_currency": coin,
                "order_book_unit": "0.0", "bids": _levels(bids[:size]), "asks": _levels(asks[:size])}

    def trades(self, query: Mapping[str, str], now_ms: int, quote: str, target: str) -> dict[str, Any]:
        """Recent trades, one print per model minute (its close and volume), newest first."""
        coin = self.markets.pair(quote, target, now_ms)
        size = _int_param(query, "size", 200)
        if size not in TRADE_SIZES:
            raise ApiError("107", "size must be one of 10, 50, 100, 150, 200")
        candles, _ = self.model.candles(coin, "1m", now_ms, size=size)
        unit = self.markets.qty_unit(coin)
        rows = []
        for candle in candles:
            stamp = min(candle["timestamp"] + 59_000, now_ms)
            rows.append({"id": f"{stamp}001", "timestamp": stamp, "price": num(candle["close"]),
                         "qty": num(max(round_down(candle["target_volume"], unit), unit)),
                         "is_seller_maker": candle["close"] < candle["open"]})
        return {"server_time": now_ms, "quote_currency": KRW, "target_currency": coin, "transactions": rows}

    def chart(self, query: Mapping[str, str], now_ms: int, quote: str, target: str) -> dict[str, Any]:
        """Candles newest first; `timestamp` picks the newest one (the candle containing it, inclusive)."""
        coin = self.markets.pair(quote, target, now_ms)
        interval = query.get("interval")
        if interval not in INTERVALS:
            raise ApiError("107", "interval is missing or not supported")
        size = _int_param(query, "size", 200)
        if not 1 <= size <= self.candle_max_size:
            raise ApiError("107", f"size must be 1 to {self.candle_max_size}")
        anchor = _int_param(query, "timestamp", None)
        if anchor is not None and anchor < self.model.listed_ms(coin):
            return {"is_last": True, "chart": []}
        candles, is_last = self.model.candles(coin, interval, now_ms, end_ms=anchor, size=size)
        rows = [{"timestamp": int(c["timestamp"]), **{k: num(c[k]) for k in
                 ("open", "high", "low", "close", "target_volume", "quote_volume")}} for c in candles]
        return {"is_last": is_last, "chart": rows}
