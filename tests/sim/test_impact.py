from paraclear.market import OrderBook, OrderKind
from paraclear.numbers import SIZE_SCALE
from paraclear.sim.impact import impact_price, impact_prices

ONE = SIZE_SCALE


def test_impact_price_averages_the_levels_walked_best_first():
    bids = [(100_000_000, ONE), (99_000_000, 2 * ONE)]  # 100 and 99 USDC a contract
    # 150 USDC: all of the first level (100), then 50 of the second: 0.505051 contract
    # (rounded up) at 99, worth 50.000049; the average rounds down for a seller.
    assert impact_price(bids, 150_000_000, is_bid=True) == 150_000_049 * ONE // 1_505_051
    assert impact_price(bids, 90_000_000, is_bid=True) == 100_000_000
    assert impact_price(bids, 10**12, is_bid=True) == 0  # the side cannot absorb it


def test_impact_prices_of_a_book_and_of_a_one_sided_book():
    book = OrderBook(tick=100_000, lot=1_000)
    book.place("b1", "mm", True, OrderKind.LIMIT, 59_900_000_000, ONE)
    assert impact_prices(book, 20_000_000_000) == (0, 0)
    book.place("a1", "mm", False, OrderKind.LIMIT, 60_100_000_000, ONE)
    assert impact_prices(book, 20_000_000_000) == (59_900_000_000, 60_100_000_000)
