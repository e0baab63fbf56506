"""Check what the house owes you against the state root, without trusting the node.

    paraclear serve --market --data-dir "$(mktemp -d)"      # in one terminal
    PYTHONPATH=src python examples/verify_balance.py ws://127.0.0.1:8000/ws/api/v2 ACCOUNT

Asks the node for the account's records with their proofs (``public/get_proof``) and for the
header of the same block (``public/get_block_header``), then checks on this side that every
record hashes up to the header's state root (``verify_account_proof``): collateral,
positions, open orders and the rest, each decoded back to its exact value, and that the
header hashes to its ``block_hash`` (``verify_header``). Then checks the house's totals
(``public/get_totals``) the same way. Prints the balance and what was proven; exits 1 if any
proof fails. Compare the header's ``block_hash`` with one published elsewhere (another
node, a checkpoint) to know the root itself is the chain's.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from paraclear.client.block_check import verify_header
from paraclear.client.connection import Client
from paraclear.client.proof_check import record_values, verify_account_proof, verify_records
from paraclear.numbers import PPM
from paraclear.state import keys as k


def run(url: str, account: str) -> dict[str, Any]:
    with Client.connect(url, timeout=60) as client:
        answer = client.call("public/get_proof", {"account": account})
        header = client.call("public/get_block_header", {"height": answer["height"]})
        totals = client.call("public/get_totals")
        totals_header = client.call("public/get_block_header", {"height": totals["height"]})
    values = record_values(answer)
    collateral = values.get(k.collateral(account)) or 0
    assert isinstance(collateral, int)
    return {
        "height": header["height"],
        "block_hash": header["block_hash"],
        "state_root": header["state_root"],
        "verified": verify_header(header) and verify_account_proof(header, answer),
        "totals_verified": verify_header(totals_header)
        and verify_records(bytes.fromhex(totals_header["state_root"]), totals),
        "collateral_usdc": collateral / PPM,
        "records": len(values),
        "positions": sorted(key[3] for key, value in values.items() if key[2] == "pos" and value),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("account")
    args = parser.parse_args()
    report = run(args.url, args.account)
    for name, value in report.items():
        print(f"{name:>16}: {value}")
    if not (report["verified"] and report["totals_verified"]):
        print("a proof FAILED: do not trust this node's answer")
        sys.exit(1)


if __name__ == "__main__":
    main()
