from paraclear.bench.pool import critical_path
from paraclear.clearing import ClearingMachine
from paraclear.clearing.transactions import Deposit, PoolDeposit, PoolTrade, Side
from paraclear.cli import main
from paraclear.execution import Block


def block(*txs):
    return Block(1, 0, tuple(txs))


def test_critical_path_chains_writers_of_one_lock_and_lets_deltas_commute():
    machine = ClearingMachine()
    deposits = [Deposit(sender=f"a{i}", nonce=0, amount=1) for i in range(5)]
    assert critical_path(block(*deposits), machine) == 1  # own locks; net deposits is a delta
    pool = [PoolDeposit(sender=f"a{i}", nonce=0, amount=1) for i in range(5)]
    assert critical_path(block(*pool), machine) == 5  # all write the pool's lock
    trade = PoolTrade(sender="a0", nonce=1, instrument="X", side=Side.BUY, size=1, limit_price=1)
    assert critical_path(block(*deposits, trade), machine) == 2  # a0's lock


def test_bench_pool_reports_cost_and_contention_as_json(capsys):
    import json

    argv = ["bench", "pool", "--shares", "0,0.2", "--txs", "60", "--repeats", "1", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pool_positions"] > 0 and result["pool_trade_cpu_us"] > 0
    rows = result["contention"]
    assert [row["pool_share"] for row in rows] == [0.0, 0.2]
    assert rows[0]["pool_lock_writers"] == 0 < rows[1]["pool_lock_writers"]
    assert rows[1]["critical_path"] >= rows[1]["pool_lock_writers"]
