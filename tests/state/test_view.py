import pytest

from paraclear.state import AccessSet, AccessViolation, StateView


def test_view_reads_through_pending_to_data_and_records_first_reads():
    data = {("a", "x"): 1, ("a", "y"): 2}
    pending = {("a", "y"): 20}
    view = StateView(data, pending)
    assert view.get(("a", "x")) == 1
    assert view.get(("a", "y")) == 20
    assert view.get(("a", "z")) is None
    assert view.reads == {("a", "x"): 1, ("a", "y"): 20, ("a", "z"): None}
    view.set(("a", "x"), 5)
    assert view.get(("a", "x")) == 5
    assert view.reads[("a", "x")] == 1


def test_deltas_accumulate_without_reading_and_a_later_set_overrides_them():
    view = StateView({("f", "fees"): 10})
    view.add(("f", "fees"), 3)
    view.add(("f", "fees"), 4)
    assert view.deltas == {("f", "fees"): 7}
    assert view.reads == {}
    assert view.get(("f", "fees")) == 17
    view.set(("f", "fees"), 1)
    assert view.deltas == {}
    view.add(("f", "fees"), 2)
    assert view.writes == {("f", "fees"): 3}


def test_declared_access_is_enforced_by_lock():
    access = AccessSet(reads=[("m", "d")], writes=[("acct", "a")], deltas=[("f", "fees")])
    view = StateView({}, None, access)
    view.get(("m", "d", "anything"))
    view.get(("acct", "a", "collateral"))
    view.set(("acct", "a", "pos", "BTC-PERP"), 1)
    view.add(("f", "fees"), 1)
    view.add(("acct", "a", "collateral"), 1)  # a write lock allows deltas
    with pytest.raises(AccessViolation) as info:
        view.get(("acct", "b", "collateral"))
    assert info.value.details == (("key", "acct/b/collateral"), ("access", "read"))
    with pytest.raises(AccessViolation):
        view.set(("m", "d", "x"), 1)
    with pytest.raises(AccessViolation):
        view.get(("f", "fees"))  # a delta lock does not allow reading
    with pytest.raises(AccessViolation):
        view.add(("m", "d", "x"), 1)


def test_rollback_to_a_savepoint_discards_later_writes_and_deltas():
    view = StateView({})
    view.set(("n", "a"), 1)
    savepoint = view.savepoint()
    view.set(("n", "a"), 2)
    view.set(("n", "b"), 3)
    view.add(("f", "c"), 4)
    view.rollback(savepoint)
    assert view.writes == {("n", "a"): 1}
    assert view.deltas == {}


def test_get_many_equals_get_one_by_one_including_access_checks():
    data = {("a", "x", "1"): 1, ("a", "x", "2"): 2}
    access = AccessSet(reads=[("a", "x")], deltas=[("f", "c")], writes=[("w", "w")])
    view = StateView(data, {("a", "x", "2"): 5}, access)
    view.set(("w", "w", "k"), 9)
    assert view.get_many([("a", "x", "1"), ("a", "x", "2"), ("a", "x", "3"), ("w", "w", "k")]) == [
        1,
        5,
        None,
        9,
    ]
    assert view.reads == {("a", "x", "1"): 1, ("a", "x", "2"): 5, ("a", "x", "3"): None}
    with pytest.raises(AccessViolation):
        view.get_many([("a", "x", "1"), ("f", "c")])


def test_a_predicted_set_raises_mispredicted_not_a_transaction_failure():
    from paraclear.state import TxFailure
    from paraclear.state.errors import AccessMispredicted

    view = StateView({}, None, AccessSet(reads=[("a", "b")], predicted=True))
    for action in (
        lambda: view.get(("x", "y", "z")),
        lambda: view.set(("a", "b", "c"), 1),
        lambda: view.add(("x", "y"), 1),
    ):
        with pytest.raises(AccessMispredicted) as caught:
            action()
        assert not isinstance(caught.value, TxFailure)
