"""Random transaction sequences keep every invariant, and failures change only nonce and fee."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paraclear.clearing.margin import PortfolioMargin, StandardMargin
from paraclear.clearing.transactions import (
    Backstop,
    Deleverage,
    Deposit,
    Funding,
    Liquidate,
    SettleExpiry,
    Side,
    Trade,
    Transfer,
    Withdraw,
)
from paraclear.state import keys as k

from .harness import CALL, ONE, OTM_CALL, PERP, PUT, Exchange, usd

ACCOUNTS = ["a", "b", "c", "d"]
INSTRUMENTS = [PERP, CALL, PUT, OTM_CALL]
account = st.sampled_from(ACCOUNTS)

op = st.one_of(
    st.tuples(st.just("deposit"), account, st.integers(1, 200_000)),
    st.tuples(st.just("withdraw"), account, st.integers(1, 200_000)),
    st.tuples(st.just("transfer"), account, account, st.integers(1, 50_000)),
    st.tuples(
        st.just("trade"),
        account,
        account,
        st.sampled_from(INSTRUMENTS),
        st.booleans(),
        st.integers(1, 30),
        st.floats(0.5, 1.5),
    ),
    st.tuples(st.just("oracle"), st.floats(0.7, 1.3), st.integers(200_000, 2_000_000)),
    st.tuples(st.just("funding"), st.integers(0, 5_000)),
    st.tuples(
        st.just("liquidate"), account, account, st.sampled_from(INSTRUMENTS), st.integers(1, 30)
    ),
    st.tuples(st.just("expire")),
    st.tuples(st.just("fee"), account, st.integers(0, 20)),
    st.tuples(st.just("backstop"), account, account),
    st.tuples(
        st.just("deleverage"),
        account,
        account,
        st.sampled_from(INSTRUMENTS),
        st.integers(1, 30),
        st.lists(account, min_size=1, max_size=3, unique=True),
    ),
)


def make(ex: Exchange, operation):
    kind = operation[0]
    if kind == "deposit":
        return ex.tx(Deposit, operation[1], amount=usd(operation[2]))
    if kind == "withdraw":
        return ex.tx(Withdraw, operation[1], amount=usd(operation[2]))
    if kind == "transfer":
        return ex.tx(Transfer, operation[1], to=operation[2], amount=usd(operation[3]))
    if kind == "trade":
        _, taker, maker, inst, buy, lots, price_factor = operation
        mark = ex.get(k.mark(inst.name))
        base = mark.price if mark else usd(1_000)
        price = max(inst.tick_size, round(base * price_factor / inst.tick_size) * inst.tick_size)
        return ex.tx(
            Trade,
            taker,
            maker=maker,
            instrument=inst.name,
            side=Side.BUY if buy else Side.SELL,
            size=lots * (ONE // 10 if inst is not PERP else ONE // 100),
            price=price,
        )
    if kind == "oracle":
        from paraclear.clearing.transactions import OracleUpdate

        return ex.tx(
            OracleUpdate,
            "oracle",
            underlying="BTC",
            index_price=usd(60_000 * operation[1]),
            atm_vol_ppm=operation[2],
        )
    if kind == "funding":
        ex.time += operation[1]  # funding is due an hour after the last payment
        return ex.tx(Funding, "oracle", instrument=PERP.name)
    if kind == "liquidate":
        _, liquidator, target, inst, lots = operation
        return ex.tx(
            Liquidate,
            liquidator,
            account=target,
            instrument=inst.name,
            size=lots * (ONE // 10 if inst is not PERP else ONE // 100),
        )
    if kind == "expire":
        holders = tuple(sorted(a for a in ACCOUNTS if ex.size(a, PUT)))
        return ex.tx(
            SettleExpiry,
            "oracle",
            instrument=PUT.name,
            accounts=holders,
        )
    if kind == "backstop":
        return ex.tx(Backstop, operation[1], account=operation[2])
    if kind == "deleverage":
        _, keeper, target, inst, lots, counterparties = operation
        return ex.tx(
            Deleverage,
            keeper,
            account=target,
            instrument=inst.name,
            size=lots * (ONE // 10 if inst is not PERP else ONE // 100),
            counterparties=tuple(counterparties),
        )
    _, sender, fee = operation
    return ex.tx(Deposit, sender, amount=usd(1), fee=usd(fee))


def fresh_exchange(model=None) -> Exchange:
    return Exchange(model).market().fund(a=50_000, b=50_000, c=5_000, d=200_000)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=40), st.sampled_from([StandardMargin, PortfolioMargin]))
def test_invariants_hold_after_every_block_of_random_transactions(operations, model):
    ex = fresh_exchange(model())
    for start in range(0, len(operations), 5):
        chunk = operations[start : start + 5]
        ex.block(*(make(ex, o) for o in chunk))  # the harness checks every invariant


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=25))
def test_a_failed_transaction_changes_only_its_nonce_and_fee(operations):
    ex = fresh_exchange()
    for operation in operations:
        tx = make(ex, operation)
        before = dict(ex.state.data)
        if operation[0] == "expire":
            ex.time = PUT.expiry - 60
        receipt = ex.block(tx).receipts[0]
        if receipt.ok:
            continue
        changed = {
            key
            for key in set(before) | set(ex.state.data)
            if before.get(key) != ex.state.data.get(key)
        }
        allowed = {k.nonce(tx.sender)}
        if tx.fee:
            allowed |= {k.collateral(tx.sender), k.FEE_POOL}
        assert changed <= allowed, (receipt.error, changed - allowed)


@settings(max_examples=40, deadline=None)
@given(st.permutations(range(8)), st.integers(1, 8))
def test_equal_states_reached_by_different_histories_have_equal_roots(order, block_size):
    """Deposits by different accounts commute: any order and any split into blocks
    reaches the same state, hence the same root."""
    amounts = [usd(100 + 7 * i) for i in range(8)]
    reference = Exchange()
    reference.block(*(reference.tx(Deposit, f"u{i}", amount=amounts[i]) for i in range(8)))
    shuffled = Exchange()
    txs = [shuffled.tx(Deposit, f"u{i}", amount=amounts[i]) for i in order]
    for start in range(0, len(txs), block_size):
        shuffled.block(*txs[start : start + block_size])
    assert shuffled.state.root() == reference.state.root()
