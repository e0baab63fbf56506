from paraclear.client import errors


def _leaves(cls: type[errors.NodeError]) -> list[type[errors.NodeError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _leaves(sub)
    return found


def test_every_error_has_a_distinct_code():
    codes = [cls.code for cls in _leaves(errors.NodeError)]
    assert len(codes) == len(set(codes)) >= 15


def test_data_carries_the_typed_fields_and_the_message_names_them():
    error = errors.NonceTooFar("acct", next=4, got=90, max_gap=64)
    assert error.data() == {"account": "acct", "next": 4, "got": 90, "max_gap": 64}
    assert "90" in error.message and "64" in str(error)
    replaced = errors.ReplacementUnderpriced("acct", 3, 5, pending_fee=10)
    assert isinstance(replaced, errors.NonceReplayed)
    assert replaced.data() == {"account": "acct", "expected": 3, "got": 5, "pending_fee": 10}
    assert errors.BadSignature().data() == {}
    assert errors.MempoolFull(7).data() == {"limit": 7}
