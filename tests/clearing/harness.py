"""A small exchange for tests: genesis, auto nonces, one block per call, invariants checked."""

from __future__ import annotations

from collections import Counter
from typing import Any

from paraclear.clearing import ClearingMachine
from paraclear.clearing.genesis import genesis_state
from paraclear.clearing.instruments import Instrument, Option, Perpetual, Right, expiry_time
from paraclear.clearing.invariants import check_invariants
from paraclear.clearing.margin import MarginModel
from paraclear.clearing.records import HouseConfig, MarkData, Position
from paraclear.clearing.transactions import (
    Deposit,
    ListInstrument,
    OracleUpdate,
    Side,
    Trade,
    Transaction,
)
from paraclear.execution import Block, BlockResult, Receipt, execute_block
from paraclear.numbers import PRICE_SCALE, SIZE_SCALE, USDC_SCALE
from paraclear.state import StateView
from paraclear.state import keys as k

T0 = expiry_time(1, 6, 2026)
EXPIRY = expiry_time(26, 6, 2026)
CALL = Option(underlying="BTC", expiry=EXPIRY, strike=60_000 * PRICE_SCALE, right=Right.CALL)
PUT = Option(underlying="BTC", expiry=EXPIRY, strike=60_000 * PRICE_SCALE, right=Right.PUT)
OTM_CALL = Option(underlying="BTC", expiry=EXPIRY, strike=70_000 * PRICE_SCALE, right=Right.CALL)
PERP = Perpetual(underlying="BTC")
USDC = USDC_SCALE
ONE = SIZE_SCALE


def usd(amount: float) -> int:
    return round(amount * USDC_SCALE)


class Exchange:
    def __init__(
        self, margin_model: MarginModel | None = None, config: HouseConfig | None = None
    ) -> None:
        self.state = genesis_state(config or HouseConfig(admin="admin", oracle="oracle"))
        self.machine = ClearingMachine(margin_model)
        self.nonces: Counter[str] = Counter()
        self.height = 0
        self.time = T0
        self.results: list[BlockResult] = []

    def tx(self, cls: type[Any], sender: str, **fields: Any) -> Transaction:
        nonce = fields.pop("nonce", self.nonces[sender])
        self.nonces[sender] = nonce + 1
        tx: Transaction = cls(sender=sender, nonce=nonce, **fields)
        return tx

    def block(self, *txs: Transaction, time: int | None = None) -> BlockResult:
        self.time = time if time is not None else self.time + 60
        self.height += 1
        result = execute_block(self.state, Block(self.height, self.time, tuple(txs)), self.machine)
        assert check_invariants(self.state) == []
        self.results.append(result)
        return result

    def run(self, cls: type[Any], sender: str, **fields: Any) -> Receipt:
        return self.block(self.tx(cls, sender, **fields)).receipts[0]

    def ok(self, cls: type[Any], sender: str, **fields: Any) -> Receipt:
        receipt = self.run(cls, sender, **fields)
        assert receipt.ok, receipt.error
        return receipt

    def trade(
        self, taker: str, maker: str, inst: Instrument, side: Side, size: int, price: int
    ) -> Receipt:
        """A successful fill: ``taker`` takes ``side`` of ``size`` at ``price`` from ``maker``."""
        return self.ok(
            Trade, taker, maker=maker, instrument=inst.name, side=side, size=size, price=price
        )

    def fails(self, cls: type[Any], sender: str, code: str, **fields: Any) -> Receipt:
        before = dict(self.state.data)
        receipt = self.run(cls, sender, **fields)
        assert not receipt.ok and receipt.error is not None
        assert receipt.error.code == code, receipt.error
        changed = {
            key
            for key in set(before) | set(self.state.data)
            if before.get(key) != self.state.data.get(key)
        }
        assert changed <= {k.nonce(sender)}, changed
        return receipt

    # --- reading -------------------------------------------------------------------------

    def collateral(self, account: str) -> int:
        return self.state.data.get(k.collateral(account), 0)  # type: ignore[return-value]

    def position(self, account: str, instrument: Instrument) -> Position | None:
        return self.state.data.get(k.position(account, instrument.name))  # type: ignore[return-value]

    def size(self, account: str, instrument: Instrument) -> int:
        position = self.position(account, instrument)
        return position.size if position else 0

    def mark(self, instrument: Instrument) -> MarkData:
        return self.state.data[k.mark(instrument.name)]  # type: ignore[return-value]

    def get(self, key: tuple[str, ...]) -> Any:
        return self.state.data.get(key)

    def state_view(self) -> StateView:
        """A read view of the committed state."""
        return StateView(self.state.data)

    # --- set-ups -------------------------------------------------------------------------

    def market(self, index: float = 60_000, vol_ppm: int = 600_000) -> Exchange:
        """List BTC-PERP and three BTC options, publish the oracle."""
        self.block(
            *(self.tx(ListInstrument, "admin", instrument=i) for i in (PERP, CALL, PUT, OTM_CALL))
        )
        self.oracle(index, vol_ppm)
        return self

    def oracle(
        self, index: float, vol_ppm: int = 600_000, *, time: int | None = None, **fields: Any
    ) -> BlockResult:
        """Publish the BTC index (USDC) in a block of its own, at ``time`` if given."""
        return self.block(
            self.tx(
                OracleUpdate,
                "oracle",
                underlying="BTC",
                index_price=usd(index),
                atm_vol_ppm=vol_ppm,
                **fields,
            ),
            time=time,
        )

    def fund(self, **amounts: float) -> Exchange:
        self.block(*(self.tx(Deposit, a, amount=usd(x)) for a, x in amounts.items()))
        return self
