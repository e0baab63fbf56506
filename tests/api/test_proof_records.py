"""Captured records (the totals' proofs of each block): their proofs are made when the answer
is asked for, and are those of the state at the height they were captured."""

from paraclear.api.proof_records import capture, proof_json, record_json
from paraclear.client.proof_check import verify_records
from paraclear.state import State
from paraclear.state import keys as k


def totals_state(listed: int) -> State:
    data: dict[k.Key, object] = {k.NET_DEPOSITS: 5_000_000, k.FEE_POOL: 1_234}
    data |= {k.open_interest(f"BTC-{n}"): 10 + n for n in range(0, listed, 2)}  # odd: absent
    data |= {k.collateral(f"trader{n}"): 1_000 + n for n in range(300)}
    return State(data)


def test_an_answer_is_the_records_and_proofs_of_the_state_captured():
    state = totals_state(40)
    keys = [k.NET_DEPOSITS, k.FEE_POOL, k.INSURANCE_FUND]
    keys += [k.open_interest(f"BTC-{n}") for n in range(40)]
    root = state.root()
    expected = [record_json(key, state.get(key), state.prove(key)) for key in keys]
    captured = capture(state, 7, keys)
    state.apply({k.FEE_POOL: 99, k.open_interest("BTC-1"): 3, k.collateral("trader5"): 0})
    assert state.root() != root
    answer = captured.answer()
    assert answer == {"height": 7, "state_root": root.hex(), "records": expected}
    assert verify_records(root, answer)
    assert not verify_records(state.root(), answer)
    assert answer["records"][4]["proof"] == proof_json(captured.proofs[4])
    assert answer["records"][4]["value"] is None  # BTC-1's open interest, absent then
