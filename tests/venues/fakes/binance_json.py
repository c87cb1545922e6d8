"""The fake Binance's answers in Binance's JSON, one function per REST path (spot and futures).

Each takes the exchange, the request's parameters and whether it came in on /fapi; ROUTES maps
(method, path) to it and PRIVATE names the ones that need a signed request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.venues.fakes.binance_book import FakeExchange, FakeMarket, FakeOrder, Refusal

UID = 424242
SPOT_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
              "TAKE_PROFIT_LIMIT"]  # fmt: skip
FUTURES_TYPES = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                 "TRAILING_STOP_MARKET"]  # fmt: skip


def _s(value: float) -> str:
    return f"{value:.8f}".rstrip("0").rstrip(".") if value else "0"


def exchange_info(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    symbols = []
    for m in ex.markets.values():
        entry: dict[str, Any] = {
            "symbol": m.id, "status": "TRADING", "baseAsset": m.base, "quoteAsset": m.quote,
            "baseAssetPrecision": 8, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "orderTypes": FUTURES_TYPES if swap else SPOT_TYPES, "permissions": ["SPOT"],
            "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": m.tick, "maxPrice": "1000000",
                 "tickSize": m.tick},
                {"filterType": "LOT_SIZE", "minQty": m.min_qty, "maxQty": "9000",
                 "stepSize": m.step},
                {"filterType": "MIN_NOTIONAL" if swap else "NOTIONAL",
                 "notional": m.min_notional, "minNotional": m.min_notional},
            ],
        }  # fmt: skip
        if swap:
            entry |= {"contractType": "PERPETUAL", "marginAsset": m.quote, "pricePrecision": 2,
                      "quantityPrecision": 3, "contractStatus": "TRADING"}  # fmt: skip
        symbols.append(entry)
    return {"timezone": "UTC", "serverTime": _now(), "rateLimits": [], "symbols": symbols}


def server_time(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    return {"serverTime": ex.now_ms()}


def depth(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    m = ex.market(p.get("symbol", ""))
    bid, ask, size = ex.book[m.id]
    tick = float(m.tick)
    levels = int(p.get("limit") or 10)
    return {
        "lastUpdateId": _now(), "E": _now(), "T": _now(),
        "bids": [[_s(round(bid - i * tick, 8)), _s(size + i)] for i in range(levels)],
        "asks": [[_s(round(ask + i * tick, 8)), _s(size + i)] for i in range(levels)],
    }  # fmt: skip


def agg_trades(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    m = ex.market(p.get("symbol", ""))
    start, end = int(p.get("startTime") or 0), int(p.get("endTime") or 2**62)
    inside = [t for t in ex.public_trades.get(m.id, []) if start <= t["time"] <= end]
    rows = inside[-int(p.get("limit") or 500) :]
    return [
        {"a": t["id"], "p": _s(t["price"]), "q": _s(t["qty"]), "f": t["id"], "l": t["id"],
         "T": t["time"], "m": t["buyer_maker"]}
        for t in rows
    ]  # fmt: skip


def recent_trades(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    m = ex.market(p.get("symbol", ""))
    rows = ex.public_trades.get(m.id, [])[-int(p.get("limit") or 500) :]
    return [
        {"id": t["id"], "price": _s(t["price"]), "qty": _s(t["qty"]),
         "quoteQty": _s(t["price"] * t["qty"]), "time": t["time"],
         "isBuyerMaker": t["buyer_maker"], "isBestMatch": True}
        for t in rows
    ]  # fmt: skip


def klines(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    m = ex.market(p.get("symbol", ""))
    mid = ex.mark(m.id)
    end = int(p.get("endTime") or _now())
    count = min(int(p.get("limit") or 500), 500)
    start = (end // 60_000 - count + 1) * 60_000
    rows = []
    for i in range(count):
        t = start + i * 60_000
        o = mid * (1 + 0.001 * ((i % 7) - 3) / 3)
        rows.append([t, _s(o), _s(o * 1.001), _s(o * 0.999), _s(mid), "1.5", t + 59_999,
                     _s(1.5 * mid), 3, "0.7", _s(0.7 * mid), "0"])  # fmt: skip
    return rows


def _ticker(ex: FakeExchange, m: FakeMarket) -> dict[str, Any]:
    bid, ask, size = ex.book[m.id]
    last = ex.public_trades.get(m.id, [{"price": (bid + ask) / 2}])[-1]["price"]
    return {
        "symbol": m.id, "lastPrice": _s(last), "bidPrice": _s(bid), "askPrice": _s(ask),
        "bidQty": _s(size), "askQty": _s(size), "openPrice": _s(last), "highPrice": _s(ask),
        "lowPrice": _s(bid), "volume": "100", "quoteVolume": _s(100 * last),
        "priceChange": "0", "priceChangePercent": "0", "openTime": _now() - 86_400_000,
        "closeTime": _now(), "count": 10,
    }  # fmt: skip


def ticker_24hr(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    if p.get("symbol"):
        return _ticker(ex, ex.market(p["symbol"]))
    return [_ticker(ex, m) for m in ex.markets.values()]


def premium_index(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    def one(m: FakeMarket) -> dict[str, Any]:
        nxt = (_now() // 28_800_000 + 1) * 28_800_000
        return {"symbol": m.id, "markPrice": _s(ex.mark(m.id)), "indexPrice": _s(ex.mark(m.id)),
                "lastFundingRate": _s(ex.funding_rate), "nextFundingTime": nxt,
                "interestRate": "0.0001", "time": _now()}  # fmt: skip

    if p.get("symbol"):
        return one(ex.market(p["symbol"]))
    return [one(m) for m in ex.markets.values()]


# ----- private -----
def spot_account(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    return {
        "uid": UID, "accountType": "SPOT", "canTrade": True, "updateTime": _now(),
        "balances": [{"asset": a, "free": _s(q), "locked": "0"} for a, q in ex.spot.items()],
    }  # fmt: skip


def _unrealized(ex: FakeExchange) -> float:
    return sum(pos.qty * (ex.mark(s) - pos.entry) for s, pos in ex.positions.items())


def futures_account(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    upnl = _unrealized(ex)
    # Initial margin of the positions and of the open orders is not available.
    used = sum(abs(pos.qty) * ex.mark(s) / pos.leverage for s, pos in ex.positions.items())
    used += sum(
        (o.qty - o.executed) * (o.price or ex.mark(o.symbol)) / 10
        for o in ex.orders.values()
        if o.open and o.swap and not o.reduce_only
    )
    wallet, margin, free = _s(ex.wallet), _s(ex.wallet + upnl), _s(ex.wallet + upnl - used)
    asset = {"asset": "USDT", "walletBalance": wallet, "unrealizedProfit": _s(upnl),
             "marginBalance": margin, "availableBalance": free, "crossWalletBalance": wallet,
             "maxWithdrawAmount": free, "updateTime": _now()}  # fmt: skip
    return {
        "totalWalletBalance": wallet, "totalUnrealizedProfit": _s(upnl),
        "totalMarginBalance": margin, "availableBalance": free, "assets": [asset],
        "positions": [],
    }  # fmt: skip


def position_risk(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    rows = []
    for symbol, pos in ex.positions.items():
        if pos.qty == 0:
            continue
        mark = ex.mark(symbol)
        liq = (
            pos.entry * (1 - 1 / pos.leverage)
            if pos.qty > 0
            else pos.entry * (1 + 1 / pos.leverage)
        )
        rows.append(
            {"symbol": symbol, "positionSide": "BOTH", "positionAmt": _s(pos.qty),
             "entryPrice": _s(pos.entry), "breakEvenPrice": _s(pos.entry), "markPrice": _s(mark),
             "unRealizedProfit": _s(pos.qty * (mark - pos.entry)), "liquidationPrice": _s(liq),
             "leverage": str(pos.leverage), "maxNotionalValue": "1000000", "marginType": "cross",
             "isolatedMargin": "0", "isAutoAddMargin": "false", "notional": _s(pos.qty * mark),
             "isolatedWallet": "0", "updateTime": _now()}
        )  # fmt: skip
    return rows


def leverage_bracket(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    bracket = {"bracket": 1, "initialLeverage": 125, "notionalCap": 1_000_000,
               "notionalFloor": 0, "maintMarginRatio": 0.004, "cum": 0}  # fmt: skip
    return [{"symbol": m.id, "brackets": [bracket]} for m in ex.markets.values()]


def order_json(o: FakeOrder) -> dict[str, Any]:
    avg = o.cum_quote / o.executed if o.executed else 0.0
    return {
        "symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_id,
        "price": _s(o.price), "avgPrice": _s(avg), "origQty": _s(o.qty),
        "executedQty": _s(o.executed), "cumQty": _s(o.executed), "cumQuote": _s(o.cum_quote),
        "cummulativeQuoteQty": _s(o.cum_quote), "status": o.status, "timeInForce": "GTC",
        "type": o.type, "origType": o.type, "side": o.side, "stopPrice": _s(o.stop_price),
        "reduceOnly": o.reduce_only, "positionSide": "BOTH", "time": o.time_ms,
        "transactTime": o.update_ms, "updateTime": o.update_ms, "workingType": "CONTRACT_PRICE",
    }  # fmt: skip


def post_order(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    return order_json(ex.place(p, swap))


def get_order(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    order = ex.find(p)
    if order is None or order.swap != swap:
        raise Refusal(-2013, "Order does not exist.")
    return order_json(order)


def delete_order(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    return order_json(ex.cancel(p.get("symbol", ""), ex.find(p)))


def open_orders(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    symbol = p.get("symbol")
    return [
        order_json(o)
        for o in ex.orders.values()
        if o.open and o.swap == swap and not o.algo and symbol in (None, o.symbol)
    ]


def algo_json(o: FakeOrder) -> dict[str, Any]:
    return {
        "algoId": o.order_id, "clientAlgoId": o.client_id, "algoType": "CONDITIONAL",
        "orderType": o.type, "symbol": o.symbol, "side": o.side, "positionSide": "BOTH",
        "timeInForce": "GTC", "quantity": _s(o.qty), "algoStatus": o.status,
        "triggerPrice": _s(o.stop_price), "price": _s(o.price), "reduceOnly": o.reduce_only,
        "closePosition": False, "workingType": "CONTRACT_PRICE", "createTime": o.time_ms,
        "updateTime": o.update_ms, "triggerTime": o.update_ms if o.actual_id else 0,
        "actualOrderId": str(o.actual_id) if o.actual_id else "",
    }  # fmt: skip


def post_algo(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    if p.get("algoType") != "CONDITIONAL":
        raise Refusal(-1102, "Mandatory parameter 'algoType' was not sent.")
    return algo_json(ex.place(p, swap, algo=True))


def _algo(ex: FakeExchange, p: dict[str, str]) -> FakeOrder:
    order = ex.find(p)
    if order is None or not order.algo:
        raise Refusal(-2013, "Order does not exist.")
    return order


def get_algo(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    return algo_json(_algo(ex, p))


def delete_algo(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    order = ex.cancel(p.get("symbol") or _algo(ex, p).symbol, _algo(ex, p))
    return {"algoId": order.order_id, "clientAlgoId": order.client_id, "code": "200",
            "msg": "success"}  # fmt: skip


def open_algos(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    symbol = p.get("symbol")
    return [
        algo_json(o) for o in ex.orders.values() if o.open and o.algo and symbol in (None, o.symbol)
    ]


def cancel_all_algos(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    for order in list(ex.orders.values()):
        mine = order.open and order.algo and order.symbol == p.get("symbol")
        if mine and order.client_id not in ex.uncancelable:
            ex.cancel(order.symbol, order)
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


def cancel_all(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    """Binance cancels what it can; an order it cannot cancel simply stays open."""
    symbol = p.get("symbol", "")
    done = []
    for order in list(ex.orders.values()):
        mine = order.open and order.swap == swap and order.symbol == symbol and not order.algo
        if mine and order.client_id not in ex.uncancelable:
            done.append(order_json(ex.cancel(symbol, order)))
    if swap:
        return {"code": 200, "msg": "The operation of cancel all open order is done."}
    return done


def post_oco(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    """POST /api/v3/orderList/oco: an above and a below leg, one cancelling the other."""
    legs = ex.place_oco(p)
    return {
        "orderListId": legs[0].list_id, "contingencyType": "OCO",
        "listStatusType": "EXEC_STARTED", "listOrderStatus": "EXECUTING",
        "listClientOrderId": p.get("listClientOrderId") or f"list-{legs[0].list_id}",
        "transactionTime": _now(), "symbol": legs[0].symbol,
        "orders": [{"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_id}
                   for o in legs],
        "orderReports": [order_json(o) for o in legs],
    }  # fmt: skip


def my_trades(ex: FakeExchange, p: dict[str, str], swap: bool) -> Any:
    # Binance: a start time alone lists that start's window only (spot 24 h, futures 7 days).
    since = int(p.get("startTime") or 0)
    until = since + (7 if swap else 1) * 86_400_000 if since else ex.now_ms() + 1
    symbol = p.get("symbol")
    rows = []
    for t in ex.trades:
        outside = t["time"] < since or t["time"] >= until
        if t["swap"] != swap or outside or symbol not in (None, t["symbol"]):
            continue
        buyer = t["side"] == "BUY"
        rows.append(
            {"symbol": t["symbol"], "id": t["id"], "orderId": t["orderId"], "side": t["side"],
             "price": _s(t["price"]), "qty": _s(t["qty"]), "quoteQty": _s(t["qty"] * t["price"]),
             "commission": _s(t["fee"]), "commissionAsset": t["fee_asset"], "time": t["time"],
             "realizedPnl": _s(t["pnl"]), "buyer": buyer, "isBuyer": buyer,
             "maker": t["maker"], "isMaker": t["maker"], "positionSide": "BOTH"}
        )  # fmt: skip
    return rows


def _now() -> int:
    return int(time.time() * 1000)


Handler = Callable[[FakeExchange, dict[str, str], bool], Any]
ROUTES: dict[tuple[str, str], Handler] = {}
for prefix in ("/api/v3", "/fapi/v1"):
    ROUTES |= {
        ("GET", f"{prefix}/exchangeInfo"): exchange_info,
        ("GET", f"{prefix}/time"): server_time,
        ("GET", f"{prefix}/depth"): depth,
        ("GET", f"{prefix}/aggTrades"): agg_trades,
        ("GET", f"{prefix}/trades"): recent_trades,
        ("GET", f"{prefix}/klines"): klines,
        ("GET", f"{prefix}/ticker/24hr"): ticker_24hr,
        ("POST", f"{prefix}/order"): post_order,
        ("GET", f"{prefix}/order"): get_order,
        ("DELETE", f"{prefix}/order"): delete_order,
        ("GET", f"{prefix}/openOrders"): open_orders,
    }
ROUTES |= {
    ("GET", "/api/v3/account"): spot_account,
    ("DELETE", "/api/v3/openOrders"): cancel_all,
    ("GET", "/api/v3/myTrades"): my_trades,
    ("POST", "/api/v3/orderList/oco"): post_oco,
    ("GET", "/fapi/v1/premiumIndex"): premium_index,
    ("GET", "/fapi/v2/account"): futures_account,
    ("GET", "/fapi/v3/account"): futures_account,
    ("GET", "/fapi/v2/positionRisk"): position_risk,
    ("GET", "/fapi/v3/positionRisk"): position_risk,
    ("GET", "/fapi/v1/leverageBracket"): leverage_bracket,
    ("DELETE", "/fapi/v1/allOpenOrders"): cancel_all,
    ("GET", "/fapi/v1/userTrades"): my_trades,
    ("POST", "/fapi/v1/algoOrder"): post_algo,
    ("GET", "/fapi/v1/algoOrder"): get_algo,
    ("DELETE", "/fapi/v1/algoOrder"): delete_algo,
    ("GET", "/fapi/v1/openAlgoOrders"): open_algos,
    ("DELETE", "/fapi/v1/algoOpenOrders"): cancel_all_algos,
}
PRIVATE = {
    f.__name__
    for f in (
        spot_account, futures_account, position_risk, leverage_bracket, post_order, get_order,
        delete_order, open_orders, cancel_all, my_trades, post_algo, post_oco, get_algo,
        delete_algo, open_algos, cancel_all_algos,
    )
}  # fmt: skip
