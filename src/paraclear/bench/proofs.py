"""How long ``public/get_proof`` takes to answer, and a client to verify its answer.

    python -m paraclear.bench.proofs --accounts 10000 --requests 2000

Builds a state of ``accounts`` accounts, each with collateral, a nonce, two positions (a
perpetual and an option), a portfolio and ``orders`` open orders (compiled tree, as the
node runs), then times the method's handler (the records and proofs of a random account,
under the state lock, as the API thread runs it; JSON encoding and the socket not included;
wall and thread CPU time) and ``verify_account_proof`` of its answer. Prints a JSON line:
p50 and p99 in ms, and the size of the last answer as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
from statistics import quantiles
from time import perf_counter, thread_time
from typing import Any

from paraclear.api.proofs import ProofMethods, ProofParams
from paraclear.api.rpc import Context
from paraclear.clearing.records import OpenOrder, Position
from paraclear.client.proof_check import verify_account_proof
from paraclear.state import State
from paraclear.state import keys as k

PERP = "BTC-PERP"
OPTION = "BTC-20270101-60000-C"


class _Node:
    """The parts of a node ``ProofMethods`` reads."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.height = 1
        self.store: Any = None
        self.state_lock = threading.Lock()


def account_state(accounts: int, orders: int) -> State:
    """A state of ``accounts`` accounts as described in the module docstring."""
    data: dict[tuple[str, ...], object] = {}
    for index in range(accounts):
        name = f"{index:064x}"
        data[k.collateral(name)] = 1_000_000_000 + index
        data[k.nonce(name)] = 1 + index % 50
        data[k.position(name, PERP)] = Position(1_000 + index, -60_000 * (1_000 + index), 5)
        data[k.position(name, OPTION)] = Position(-(1 + index % 7))
        data[k.portfolio(name)] = (PERP, OPTION)
        nonces = tuple(range(100, 100 + orders))
        for nonce in nonces:
            data[k.order(name, nonce)] = OpenOrder(PERP, True, "limit", 59_000_000_000, 10, 0, 1)
        if nonces:
            data[k.open_orders(name)] = nonces
            data[k.reserved(name)] = len(nonces)
    return State(data)


def _ms(samples: list[float]) -> dict[str, float]:
    cuts = quantiles(samples, n=100)
    return {"p50_ms": round(cuts[49] * 1e3, 3), "p99_ms": round(cuts[98] * 1e3, 3)}


def run(accounts: int, requests: int, orders: int, seed: int = 1) -> dict[str, Any]:
    state = account_state(accounts, orders)
    root = state.root()
    methods = ProofMethods(_Node(state))
    context = Context()
    rng = random.Random(seed)
    answer_s: list[float] = []
    answer_cpu: list[float] = []
    verify_s: list[float] = []
    verify_cpu: list[float] = []
    for _ in range(requests):
        params = ProofParams(account=f"{rng.randrange(accounts):064x}")
        started, cpu = perf_counter(), thread_time()
        answer = methods.get_proof(context, params)
        answered = perf_counter()
        answer_cpu.append(thread_time() - cpu)
        cpu = thread_time()
        ok = verify_account_proof(root, answer)
        verify_s.append(perf_counter() - answered)
        verify_cpu.append(thread_time() - cpu)
        answer_s.append(answered - started)
        if not ok:
            raise RuntimeError(f"the proof of {params.account} does not verify")
    return {
        "accounts": accounts,
        "keys": len(state),
        "records_per_answer": len(answer["records"]),
        "requests": requests,
        "answer_bytes": len(json.dumps(answer)),
        "get_proof": _ms(answer_s),
        "get_proof_cpu": _ms(answer_cpu),
        "verify": _ms(verify_s),
        "verify_cpu": _ms(verify_cpu),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--orders", type=int, default=2, help="open orders per account")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.accounts, args.requests, args.orders)))


if __name__ == "__main__":
    main()
