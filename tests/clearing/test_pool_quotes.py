"""The pool's quotes: written by the oracle transaction, consistent with SVI and Black-76."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from paraclear.clearing.errors import Rejected
from paraclear.clearing.events import PoolQuoted
from paraclear.clearing.marks import SECONDS_PER_YEAR
from paraclear.clearing.records import SVI_SCALE, PoolQuote
from paraclear.clearing.transactions import OracleUpdate, validate
from paraclear.risk.greeks import black76_greeks
from paraclear.risk.reference import black76_price_scalar
from paraclear.state import keys as k

from .harness import CALL, EXPIRY, OTM_CALL, PUT, Exchange, usd
from .pool_setup import PoolExchange, svi

OPTIONS = (CALL, PUT, OTM_CALL)


def hand_svi_vol(strike: float, forward: float, years: float) -> float:
    """Raw SVI written out by hand (a=0.02, b=0.05, rho=-0.3, m=0, sigma=0.1)."""
    x = math.log(strike / forward)
    w = 0.02 + 0.05 * (-0.3 * x + math.sqrt(x * x + 0.1 * 0.1))
    return math.sqrt(w / years)


@pytest.mark.parametrize("index", [52_000, 60_000, 67_500])
def test_quotes_match_hand_written_svi_and_black76(index):
    ex = PoolExchange().market()
    receipt = ex.surface(index=index)
    assert receipt.events[-1] == PoolQuoted(underlying="BTC", quotes=3)
    years = (EXPIRY - ex.time) / SECONDS_PER_YEAR
    for option in OPTIONS:
        quote: PoolQuote = ex.get(k.quote(option.name))
        strike = option.strike / 1e6
        vol = hand_svi_vol(strike, index, years)
        assert quote.vol_ppm == pytest.approx(vol * 1e6, abs=1)
        theo = black76_price_scalar(index, strike, years, 0.0, vol, option.is_call) * 1e6
        assert abs(quote.theo - theo) <= 1
        greeks = black76_greeks(index, strike, years, 0.0, vol, option.is_call)
        assert quote.delta == round(float(greeks.delta) * 1e6)
        assert quote.vega == round(float(greeks.vega) * 0.01 * 1e6)
        assert quote.gamma == round(float(greeks.gamma) * index * 0.01 * 1e6)


def test_put_call_parity_holds_in_the_quotes():
    ex = PoolExchange().market()
    ex.surface(index=61_000)
    call, put = ex.get(k.quote(CALL.name)), ex.get(k.quote(PUT.name))
    assert abs((call.theo - put.theo) - usd(61_000 - 60_000)) <= 2
    assert abs((call.delta - put.delta) - 1_000_000) <= 1


def test_surface_persists_and_later_updates_requote_at_the_new_index():
    ex = PoolExchange().market()
    ex.surface(index=60_000)
    before = ex.get(k.quote(CALL.name))
    ex.oracle(62_000)  # no surface in this update: the stored one is used
    after = ex.get(k.quote(CALL.name))
    assert after.theo > before.theo and after.delta > before.delta
    assert ex.get(k.surface("BTC")) == (svi(),)


def test_without_a_surface_the_oracle_writes_no_quotes():
    ex = Exchange().market()
    assert all(ex.get(k.quote(o.name)) is None for o in OPTIONS)
    assert not any(isinstance(e, PoolQuoted) for e in ex.results[-1].receipts[0].events)


def test_expired_surface_removes_the_quotes():
    ex = PoolExchange().market()
    ex.surface()
    ex.block(time=EXPIRY - 120)  # the next block, 60 s later, is still before expiry
    ex.oracle(60_000)
    assert ex.get(k.quote(CALL.name)) is not None
    ex.block(time=EXPIRY + 60)
    ex.oracle(60_000)
    assert all(ex.get(k.quote(o.name)) is None for o in OPTIONS)


def test_surface_with_butterfly_arbitrage_fails_the_oracle_update():
    ex = PoolExchange().market()
    receipt = ex.run(
        OracleUpdate,
        "oracle",
        underlying="BTC",
        index_price=usd(60_000),
        atm_vol_ppm=600_000,
        surface=(svi(a=0.02, b=1.9, rho=0.05, sigma=0.001),),
    )
    assert not receipt.ok and receipt.error.code == "InvalidOracle"
    assert ex.get(k.surface("BTC")) is None


def test_surface_with_negative_variance_fails_the_oracle_update():
    ex = PoolExchange().market()
    receipt = ex.surface(surface=(svi(a=-0.5),))
    assert not receipt.ok and receipt.error.code == "InvalidOracle"


def test_surface_slices_out_of_order_or_out_of_range_are_rejected():
    later = replace(svi(), expiry=EXPIRY + 86_400)
    fields = dict(sender="oracle", nonce=0, underlying="BTC", index_price=1, atm_vol_ppm=1)
    with pytest.raises(Rejected, match="increasing expiry"):
        validate(OracleUpdate(**fields, surface=(later, svi())))
    with pytest.raises(Rejected):
        validate(OracleUpdate(**fields, surface=(replace(svi(), rho=SVI_SCALE),)))
    validate(OracleUpdate(**fields, surface=(svi(), later)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.floats(-0.05, 0.2),
    st.floats(0.0, 1.0),
    st.floats(-0.95, 0.95),
    st.floats(-0.5, 0.5),
    st.floats(0.001, 1.0),
    st.floats(1_000, 1_000_000),
)
def test_any_surface_either_quotes_sane_integers_or_fails_as_invalid_oracle(
    a, b, rho, m, sigma, index
):
    ex = PoolExchange().market()
    receipt = ex.surface(index=index, surface=(svi(a, b, rho, m, sigma),))
    if not receipt.ok:
        assert receipt.error.code == "InvalidOracle"
        assert ex.get(k.quote(CALL.name)) is None
        return
    call, put = ex.get(k.quote(CALL.name)), ex.get(k.quote(PUT.name))
    for quote in (call, put):
        assert quote.theo >= 0 and quote.vol_ppm > 0 and quote.vega >= 0 and quote.gamma >= 0
    assert 0 <= call.delta <= 1_000_000 and -1_000_000 <= put.delta <= 0
    forward_value = round(index * 1e6) - CALL.strike  # parity: C - P = F - K
    assert abs((call.theo - put.theo) - forward_value) <= 2 + abs(forward_value) * 1e-12
