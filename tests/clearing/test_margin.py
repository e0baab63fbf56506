from paraclear.clearing.margin import Holding, StandardMargin
from paraclear.clearing.records import MarkData, Position

from .harness import CALL, ONE, OTM_CALL, PERP, PUT, usd


def holding(inst, size, mark, index=60_000):
    return Holding(Position(size), MarkData(inst, usd(mark), usd(index)))


def test_short_option_margin_follows_the_deribit_formula():
    model = StandardMargin()
    # OTM call, strike 70,000, index 60,000: max(0.15 − 10,000/60,000, 0.10) = 0.10.
    req = model.requirement([holding(OTM_CALL, -ONE, 1_000)])
    assert req.initial == usd(0.10 * 60_000 + 1_000)
    assert req.maintenance == usd(0.075 * 60_000 + 1_000)
    # ATM put: max(0.15 − 0, 0.10) = 0.15.
    req = model.requirement([holding(PUT, -2 * ONE, 3_000)])
    assert req.initial == 2 * usd(0.15 * 60_000 + 3_000)


def test_long_options_need_their_premium_and_perps_their_fractions():
    model = StandardMargin()
    req = model.requirement([holding(CALL, ONE // 2, 3_000), holding(PERP, -ONE, 60_000)])
    assert req.initial == usd(1_500 + 1_200)
    assert req.maintenance == usd(1_500 + 600)


def test_requirements_round_up():
    model = StandardMargin()
    req = model.requirement([holding(PERP, ONE // 1000, 60_000.000001)])
    assert req.initial == -(-60_000_000_001 * 1_000 * 20_000 // (10**6 * 10**6))


def test_portfolio_margin_offsets_a_hedge_that_standard_margin_charges_twice():
    from paraclear.clearing.margin import PortfolioMargin
    from paraclear.clearing.transactions import Side

    from .harness import Exchange

    ex = Exchange(PortfolioMargin()).market().fund(alice=20_000, bob=1_000_000)
    call_mark = ex.mark(CALL).price
    # Short one ATM call and hedge it with a long perp: the scenario losses largely cancel.
    ex.trade("alice", "bob", CALL, Side.SELL, ONE, call_mark - call_mark % CALL.tick_size)
    ex.trade("alice", "bob", PERP, Side.BUY, ONE // 2, usd(60_000))
    holdings = [
        Holding(ex.position("alice", CALL), ex.mark(CALL)),
        Holding(ex.position("alice", PERP), ex.mark(PERP)),
    ]
    portfolio = PortfolioMargin().requirement(holdings)
    standard = StandardMargin().requirement(holdings)
    assert 0 < portfolio.maintenance < portfolio.initial < standard.initial
    naked = PortfolioMargin().requirement(holdings[:1])
    assert portfolio.maintenance < naked.maintenance


def test_portfolio_margin_of_a_short_call_is_its_worst_up_move_loss():
    from paraclear.clearing.margin import PortfolioMargin

    from .harness import Exchange

    ex = Exchange().market()
    mark = ex.mark(CALL)
    worst_single = max(-min(mark.short_pnl[:27]), 0)
    req = PortfolioMargin().requirement([Holding(Position(-ONE), mark)])
    assert req.maintenance >= worst_single > 0
    assert req.initial == -(-req.maintenance * 5 // 4)
