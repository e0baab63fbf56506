"""The pool's share math: no value created, rounding for the pool, no dilution, no inflation."""

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.clearing.pool_shares import (
    VIRTUAL_ASSETS,
    VIRTUAL_SHARES,
    assets_for_redeem,
    shares_for_deposit,
)

amounts = st.integers(1, 10**15)
totals = st.integers(0, 10**18)
navs = st.integers(0, 10**15)


def share_value(nav: Fraction | int, total: int) -> Fraction:
    """What one share is worth, virtual shares and assets included."""
    return Fraction(nav + VIRTUAL_ASSETS) / (total + VIRTUAL_SHARES)


@given(amounts, totals, navs, st.integers(0, 999_999))
@settings(max_examples=300)
def test_deposit_then_redeem_returns_at_most_the_deposit(amount, total, nav, fraction):
    exact_nav = nav + Fraction(fraction, 1_000_000)  # NAV between its floor and ceiling
    shares = shares_for_deposit(amount, total, nav + (fraction > 0))  # priced at the ceiling
    after = exact_nav + amount
    back = assets_for_redeem(shares, total + shares, int(after))
    assert back <= amount


@given(amounts, totals, navs, st.integers(0, 999_999))
@settings(max_examples=300)
def test_a_deposit_never_lowers_the_value_of_a_share(amount, total, nav, fraction):
    exact_nav = nav + Fraction(fraction, 1_000_000)
    shares = shares_for_deposit(amount, total, nav + (fraction > 0))
    assert share_value(exact_nav + amount, total + shares) >= share_value(exact_nav, total)


@given(totals, navs, st.integers(0, 999_999), st.data())
@settings(max_examples=300)
def test_a_redemption_never_lowers_the_value_of_a_share(total, nav, fraction, data):
    exact_nav = nav + Fraction(fraction, 1_000_000)
    shares = data.draw(st.integers(0, total))
    paid = assets_for_redeem(shares, total, nav)
    assert paid <= exact_nav
    assert share_value(exact_nav - paid, total - shares) >= share_value(exact_nav, total)


@given(amounts, totals, navs)
def test_rounding_is_in_the_pools_favour(amount, total, nav):
    shares = shares_for_deposit(amount, total, nav)
    assert Fraction(shares) <= Fraction(amount) / share_value(nav, total)
    paid = assets_for_redeem(shares, total, nav)
    assert Fraction(paid) <= shares * share_value(nav, total)


def test_first_depositor_gets_a_thousand_shares_per_micro_usdc():
    assert shares_for_deposit(5_000_000, 0, 0) == 5_000_000_000
    assert assets_for_redeem(5_000_000_000, 5_000_000_000, 5_000_000) == 5_000_000


@given(st.integers(1, 10**13), st.integers(10**6, 10**13))
@settings(max_examples=200)
def test_inflation_attack_costs_the_attacker_far_more_than_the_victim_loses(donation, victim):
    # The attacker deposits 1 micro-USDC first, then raises the NAV by ``donation`` (e.g. by
    # selling to the pool below its mark) before the victim's deposit. A deposit that would
    # mint no share fails (PoolDepositTooSmall), so the victim then loses nothing.
    attacker_shares = shares_for_deposit(1, 0, 0)
    nav = 1 + donation
    victim_shares = shares_for_deposit(victim, attacker_shares, nav)
    if victim_shares == 0:
        return
    nav += victim
    total = attacker_shares + victim_shares
    victim_back = assets_for_redeem(victim_shares, total, nav)
    attacker_back = assets_for_redeem(attacker_shares, total, nav)
    victim_loss = victim - victim_back
    attacker_loss = 1 + donation - attacker_back
    assert attacker_loss > 0
    assert victim_loss <= attacker_loss // 100 + 1
