"""The listed companies: codes, boards, names, listing history and static per-stock traits.

Metadata for even 10,000 stocks is a few hundred kilobytes, so it is built eagerly; everything
time-dependent (prices, statements) is derived lazily from it elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import numpy.typing as npt

from twilight_sim import names
from twilight_sim.calendar import is_open, to_date, to_int
from twilight_sim.hashrng import HashRng

MAX_STOCKS = 10_000


@dataclass(frozen=True)
class Board:
    market: str
    exchange: str
    suffix: str
    codes: tuple[range, ...]
    first_list: int
    limit_pct: int
    share: float


BOARDS = (
    Board("主板", "SSE", ".SH", (range(600000, 606000),), 19901219, 10, 0.33),
    Board(
        "主板",
        "SZSE",
        ".SZ",
        (range(1, 1000), range(1200, 1400), range(2001, 4000)),
        19910403,
        10,
        0.30,
    ),
    Board("创业板", "SZSE", ".SZ", (range(300001, 302000),), 20091030, 20, 0.25),
    Board("科创板", "SSE", ".SH", (range(688001, 689000),), 20190722, 20, 0.12),
)
CHINEXT_REFORM = 20200824  # ChiNext moved from +-10% to +-20% limits on this day

EXIT_NONE, EXIT_DELISTED, EXIT_PAUSED = 0, 1, 2


@dataclass
class Universe:
    """Column arrays, one entry per stock, sorted by ts_code."""

    ts_code: list[str]
    symbol: list[str]
    name: list[str]
    cnspell: list[str]
    area: list[str]
    industry: list[str]
    fullname: list[str]
    enname: list[str]
    act_name: list[str]
    act_ent_type: list[str]
    is_hs: list[str]
    board: npt.NDArray[np.int64]
    list_date: npt.NDArray[np.int64]
    exit_date: npt.NDArray[np.int64]  # 0 when still listed
    exit_kind: npt.NDArray[np.int64]
    is_st: npt.NDArray[np.bool_]
    total_share: npt.NDArray[np.float64]  # 10k shares
    float_share: npt.NDArray[np.float64]
    free_share: npt.NDArray[np.float64]
    init_price: npt.NDArray[np.int64]  # cents: first-day reference (range start or issue)
    sigma: npt.NDArray[np.float64]  # daily idiosyncratic volatility
    beta: npt.NDArray[np.float64]
    turnover: npt.NDArray[np.float64]  # typical daily turnover, % of float
    adj0: npt.NDArray[np.float64]  # adj_factor before the range (history of dividends)
    _rows: dict[str, int] = field(init=False, repr=False)

    @property
    def size(self) -> int:
        return len(self.ts_code)

    def __post_init__(self) -> None:
        self._rows = {code: i for i, code in enumerate(self.ts_code)}

    def index_of(self, ts_code: str) -> int:
        """Row of a code, or -1 if the market has no such stock."""
        return self._rows.get(ts_code, -1)


def _snap_open(day: int, last: int) -> int:
    d = to_date(min(day, last))
    while not is_open(d):
        d += timedelta(days=1)
    return to_int(d)


def _lerp_date(a: int, b: int, frac: float) -> int:
    da, db = to_date(a), to_date(b)
    return to_int(da + timedelta(days=int((db - da).days * frac)))


def _weighted_pick(u: npt.NDArray[np.float64], weights: list[float]) -> npt.NDArray[np.int64]:
    cum = np.cumsum(weights) / np.sum(weights)
    return np.searchsorted(cum, u, side="right").clip(0, len(weights) - 1)


def _codes(rng: HashRng, n: int, last_list: int) -> tuple[list[str], npt.NDArray[np.int64]]:
    """Random codes per board that exists by ``last_list``; each board's first code
    (000001.SZ, 600000.SH...) is always in."""
    shares = [b.share if b.first_list <= last_list else 0.0 for b in BOARDS]
    counts = [int(round(n * share / sum(shares))) for share in shares]
    counts[0] += n - sum(counts)
    codes: list[tuple[str, int]] = []
    for b_id, (board, count) in enumerate(zip(BOARDS, counts, strict=True)):
        pool = np.concatenate([np.arange(r.start, r.stop) for r in board.codes])
        score = np.where(pool == pool[0], -1.0, rng.uniform("code", b_id, pool))
        chosen = np.sort(pool[np.argsort(score, kind="stable")[:count]])
        codes += [(f"{c:06d}{board.suffix}", b_id) for c in chosen]
    codes.sort()
    return [c for c, _ in codes], np.array([b for _, b in codes], dtype=np.int64)


def _names(
    rng: HashRng, n: int, industry_idx: npt.NDArray[np.int64]
) -> tuple[list[str], list[str]]:
    industries = list(names.INDUSTRIES.values())
    grid = (np.arange(n)[:, None], np.arange(64)[None, :])
    pfx = rng.integers("pfx", 0, len(names.PREFIXES), *grid)
    mid = rng.integers("mid", 0, len(names.MIDDLES), *grid)
    sfx = rng.uniform("sfx", *grid)
    seen: set[str] = set()
    out_names, out_spell = [], []
    for i in range(n):
        suffixes = industries[int(industry_idx[i])]
        for a in range(64):
            p, m = names.PREFIXES[pfx[i, a]], names.MIDDLES[mid[i, a]]
            s = suffixes[int(sfx[i, a] * len(suffixes))]
            name = p[0] + m[0] + s[0]
            if name not in seen:
                break
        seen.add(name)
        out_names.append(name)
        out_spell.append(p[1] + m[1] + s[1])
    return out_names, out_spell


def build_universe(seed: int, n: int, start: int, end: int) -> Universe:
    """Draw ``n`` stocks whose listing dates spread from each board's opening up to ``end``."""
    if not 1 <= n <= MAX_STOCKS:
        raise ValueError(f"n_stocks must be between 1 and {MAX_STOCKS}")
    rng = HashRng(seed)
    last_list = to_int(to_date(end) - timedelta(days=10))
    ts_code, board = _codes(rng, n, last_list)
    idx = np.arange(n)
    industry_names = list(names.INDUSTRIES)
    industry_idx = rng.integers("industry", 0, len(industry_names), idx)
    stock_names, spell = _names(rng, n, industry_idx)
    area_idx = _weighted_pick(rng.uniform("area", idx), [w for _, w in names.AREAS])
    areas = [names.AREAS[int(a)][0] for a in area_idx]

    # Listing dates grow with the code's rank inside its board, as real codes are sequential.
    list_date = np.zeros(n, dtype=np.int64)
    for b_id, b in enumerate(BOARDS):
        members = np.flatnonzero(board == b_id)
        for rank, i in enumerate(members):
            frac = (rank + 0.5 * rng.scalar("listjit", int(i))) / max(len(members), 1)
            list_date[i] = _snap_open(_lerp_date(b.first_list, last_list, frac), last_list)

    # Some old stocks leave the market: delisted (mostly inside the range) or paused.
    seasoned = list_date < start - 20000
    order = np.argsort(np.where(seasoned, rng.uniform("exit", idx), 2.0), kind="stable")
    n_delist = max(1, round(0.04 * n)) if n >= 20 else 0
    n_pause = max(1, round(0.004 * n)) if n >= 50 else 0
    exit_kind = np.zeros(n, dtype=np.int64)
    exit_date = np.zeros(n, dtype=np.int64)
    before = to_int(to_date(start) - timedelta(days=400))
    for j, i in enumerate(order[: n_delist + n_pause]):
        if not seasoned[i]:
            break
        exit_kind[i] = EXIT_PAUSED if j >= n_delist else EXIT_DELISTED
        lo = before if j % 4 == 0 else start  # a quarter left before the range began
        exit_date[i] = _snap_open(_lerp_date(lo, last_list, rng.scalar("exitd", int(i))), end)
    main_board = np.isin(board, [0, 1])
    is_st = (exit_kind > 0) | (main_board & (rng.uniform("st", idx) < 0.03))
    st_prefix = np.where(rng.uniform("star", idx) < 0.5, "*ST", "ST")
    stock_names = [f"{st_prefix[i]}{nm}" if is_st[i] else nm for i, nm in enumerate(stock_names)]
    spell = [f"{st_prefix[i]}{sp}" if is_st[i] else sp for i, sp in enumerate(spell)]

    total = np.clip(np.exp(np.log(60000) + 1.0 * rng.normal("shares", idx)), 3000, 3_000_000)
    young = list_date > start - 10000
    float_ratio = np.where(
        young, 0.25 + 0.2 * rng.uniform("flt", idx), 0.6 + 0.4 * rng.uniform("flt", idx)
    )
    float_share = np.round(total * float_ratio, 4)
    free_share = np.round(float_share * (0.45 + 0.5 * rng.uniform("free", idx)), 4)
    ipo_in_range = list_date >= start
    price = np.where(
        ipo_in_range,
        np.exp(np.log(18.0) + 0.5 * rng.normal("ipo", idx)),
        np.exp(np.log(12.0) + 0.8 * rng.normal("px0", idx)),
    )
    init_price = np.round(np.clip(price, 2.0, 600.0) * 100).astype(np.int64)
    growth_board = np.isin(board, [2, 3])
    sigma = (0.012 + 0.012 * rng.uniform("sigma", idx)) * np.where(growth_board, 1.3, 1.0)
    beta = 0.6 + 0.8 * rng.uniform("beta", idx)
    turnover = np.exp(np.log(1.2) + 0.7 * rng.normal("turn", idx)) * np.where(young, 2.5, 1.0)
    adj0 = np.where(ipo_in_range, 1.0, np.round(1.0 + 9.0 * rng.uniform("adj0", idx) ** 2, 3))

    ctrl_idx = _weighted_pick(rng.uniform("ctrl", idx), [w for _, w in names.CONTROLLER_TYPES])
    act_type = [names.CONTROLLER_TYPES[int(c)][0] for c in ctrl_idx]
    act_name = [_controller(rng, i, act_type[i], areas[i]) for i in range(n)]
    mv_rank = np.argsort(np.argsort(-(total * init_price)))
    is_hs = [
        ("H" if BOARDS[int(board[i])].exchange == "SSE" else "S") if mv_rank[i] < 0.4 * n else "N"
        for i in range(n)
    ]
    base_names = [nm.removeprefix("*ST").removeprefix("ST") for nm in stock_names]
    return Universe(
        ts_code=ts_code,
        symbol=[c[:6] for c in ts_code],
        name=stock_names,
        cnspell=spell,
        area=areas,
        industry=[industry_names[int(k)] for k in industry_idx],
        fullname=[f"{areas[i]}{base_names[i]}股份有限公司" for i in range(n)],
        enname=[f"{spell[i].lstrip('*').removeprefix('ST')} Holdings Co.,Ltd." for i in range(n)],
        act_name=act_name,
        act_ent_type=act_type,
        is_hs=is_hs,
        board=board,
        list_date=list_date,
        exit_date=exit_date,
        exit_kind=exit_kind,
        is_st=is_st,
        total_share=np.round(total, 4),
        float_share=float_share,
        free_share=free_share,
        init_price=init_price,
        sigma=sigma,
        beta=beta,
        turnover=turnover,
        adj0=adj0,
    )


def _controller(rng: HashRng, i: int, kind: str, area: str) -> str:
    if kind in ("民营企业", "外资企业"):
        s = names.SURNAMES[int(rng.integers("sur", 0, len(names.SURNAMES), i)[0])]
        g = names.GIVEN[int(rng.integers("given", 0, len(names.GIVEN), i)[0])]
        return s + g
    if kind == "地方国有企业":
        return f"{area}省人民政府国有资产监督管理委员会"
    if kind == "中央国有企业":
        return "国务院国有资产监督管理委员会"
    return "无实际控制人"


def limit_pct(universe: Universe, trade_date: int) -> npt.NDArray[np.int64]:
    """Daily price limit in percent for every stock on ``trade_date``."""
    base = np.array([b.limit_pct for b in BOARDS], dtype=np.int64)[universe.board]
    if trade_date < CHINEXT_REFORM:
        base = np.where(universe.board == 2, 10, base)
    return np.where(universe.is_st, 5, base)
