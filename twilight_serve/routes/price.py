"""The price of one stock now, from whichever source the market state calls for."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, status

from twilight_serve.deps import ComposerDep, NowDep, require_bearer
from twilight_serve.models import PROBLEMS, PriceQuote
from twilight_serve.quotes import QuoteUnavailableError
from twilight_serve.validation import TsCode

router = APIRouter(tags=["price"], dependencies=[Depends(require_bearer)], responses=PROBLEMS)


@router.get("/price", response_model=PriceQuote)
def price(composer: ComposerDep, now: NowDep, ts_code: TsCode) -> PriceQuote:
    """While trading, AKShare's live quote (cached a few seconds); otherwise, or when it
    fails, the warehouse's last close.

    ``source`` names the provider that answered, ``as_of`` when its price was the market's,
    ``stale`` whether a newer price exists (always true for a last close served during
    trading), and ``note`` why a preferred source did not answer.
    """
    try:
        composed = composer.quote(ts_code, now)
    except QuoteUnavailableError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    quote = composed.quote
    return PriceQuote(
        ts_code=quote.ts_code,
        price=quote.price,
        trade_date=quote.trade_date,
        source=quote.source,
        as_of=quote.as_of,
        fetched_at=composed.fetched_at,
        expires_at=composed.expires_at,
        stale=composed.stale,
        cached=composed.cached,
        market_phase=composed.state.phase.value,
        note=composed.note,
    )
