"""The compiled exact arithmetic against its Python references, over the whole int64 range
and biased to the extremes; also called from inside another compiled loop."""

import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear import int128, int128_reference
from paraclear.int128_reference import INT64_MAX, INT64_MIN, acc_value

EDGES = [0, 1, -1, 2, -2, 2**31, -(2**31), 2**32, -(2**32), 2**32 + 1, -(2**32) - 1]
EDGES += [2**62, -(2**62), 2**62 - 1, 2**63 - 1, 2**63 - 2, -(2**63), -(2**63) + 1]
EDGES += [3_037_000_499, 3_037_000_500, -3_037_000_500, 10**6, 10**12, -(10**12)]
DIVISORS = [1, 2, 3, 7, 10**6, 10**12, 2**31, 2**32, 2**32 + 1, 2**62, 2**63 - 1, 2**63 - 2]

int64s = st.one_of(
    st.integers(INT64_MIN, INT64_MAX),
    st.sampled_from(EDGES),
    st.integers(-(2**40), 2**40),
    st.builds(
        lambda e, k: max(INT64_MIN, min(INT64_MAX, e + k)),
        st.sampled_from(EDGES),
        st.integers(-3, 3),
    ),
)
divisors = st.one_of(
    st.sampled_from(DIVISORS),
    st.integers(1, INT64_MAX),
    st.integers(1, 2**33),
    st.sampled_from([0, -1, -(10**6), INT64_MIN]),
)


def clip(value: int) -> int:
    return max(INT64_MIN, min(INT64_MAX, value))


@st.composite
def near_boundary(draw, factors: int):
    """Operands whose exact a * b (* c) / d lands within a few units of ±2^63."""
    d = draw(st.one_of(st.sampled_from(DIVISORS), st.integers(1, INT64_MAX)))
    ops = [draw(int64s.filter(bool)) for _ in range(factors - 1)]
    partial = 1
    for op in ops:
        partial *= op
    target = draw(st.sampled_from([2**63, -(2**63), 2**63 - 1, -(2**63) - 1]))
    last = clip(target * d // partial + draw(st.integers(-2, 2)))
    return [*ops, last, d]


def agree(name: str, *args: int) -> None:
    got = getattr(int128, name)(*args)
    want = getattr(int128_reference, name)(*args)
    assert (int(got[0]), bool(got[1])) == want, (name, args)


MUL_DIV = ["mul_div_floor", "mul_div_ceil"]
MUL3_DIV = ["mul3_div_floor", "mul3_div_ceil"]
CHECKED = ["add_checked", "sub_checked", "mul_checked"]


@pytest.mark.parametrize("name", MUL_DIV)
@settings(max_examples=1500, deadline=None)
@given(a=int64s, b=int64s, d=divisors)
def test_mul_div_is_pythons_floor_or_ceil_or_refused(name, a, b, d):
    agree(name, a, b, d)


@pytest.mark.parametrize("name", MUL_DIV)
@settings(max_examples=800, deadline=None)
@given(args=near_boundary(2))
def test_mul_div_at_the_int64_boundary(name, args):
    agree(name, *args)


@pytest.mark.parametrize("name", MUL3_DIV)
@settings(max_examples=1500, deadline=None)
@given(a=int64s, b=int64s, c=int64s, d=divisors)
def test_mul3_div_is_pythons_floor_or_ceil_or_refused(name, a, b, c, d):
    agree(name, a, b, c, d)


@pytest.mark.parametrize("name", MUL3_DIV)
@settings(max_examples=800, deadline=None)
@given(args=near_boundary(3))
def test_mul3_div_at_the_int64_boundary(name, args):
    agree(name, *args)


@pytest.mark.parametrize("name", CHECKED)
@settings(max_examples=1000, deadline=None)
@given(a=int64s, b=int64s)
def test_checked_ops_are_exact_or_refused(name, a, b):
    agree(name, a, b)


@pytest.mark.parametrize("name", CHECKED)
@settings(max_examples=500, deadline=None)
@given(args=near_boundary(2))
def test_checked_ops_at_the_int64_boundary(name, args):
    agree(name, args[0], args[1])


@settings(max_examples=300, deadline=None)
@given(a=int64s)
def test_abs_checked_refuses_only_int64_min(a):
    agree("abs_checked", a)


def test_every_edge_operand_combination():
    for a in EDGES:
        agree("abs_checked", a)
        for b in EDGES:
            for name in CHECKED:
                agree(name, a, b)
            for d in [*DIVISORS, 0, -1, INT64_MIN]:
                for name in MUL_DIV:
                    agree(name, a, b, d)
                for name in MUL3_DIV:
                    agree(name, a, b, -(2**63), d)
                    agree(name, a, b, 10**6, d)


def test_standard_margin_sized_products_fit_when_the_result_does():
    mark, size, rate, scale = 2**62 - 1, -(2**62), 999_999, 10**12
    want = mark * abs(size) * rate // scale  # ~2^104: refused
    assert int128.mul3_div_floor(mark, -size, rate, scale) == (0, False) and want > INT64_MAX
    mark, size = 2**40, 2**45  # product 2^85, times the rate ~2^105, result ~2^65: refused
    assert int128.mul3_div_floor(mark, size, rate, scale) == (0, False)
    mark, size = 2**40, 2**40  # result ~2^60: exact
    assert int128.mul3_div_ceil(mark, -size, rate, scale) == (
        -(mark * size * rate // scale),
        True,
    )


@settings(max_examples=300, deadline=None)
@given(
    terms=st.lists(
        st.tuples(st.sampled_from(["add", "sub", "add_mul", "sub_mul"]), int64s, int64s),
        max_size=12,
    ),
    d=divisors,
)
def test_accumulator_holds_sums_of_products_exactly(terms, d):
    acc, total = int128.acc_zero(), 0
    for kind, a, b in terms:
        if kind == "add":
            acc, total = int128.acc_add(acc, a), total + a
        elif kind == "sub":
            acc, total = int128.acc_sub(acc, a), total - a
        elif kind == "add_mul":
            acc, total = int128.acc_add_mul(acc, a, b), total + a * b
        else:
            acc, total = int128.acc_sub_mul(acc, a, b), total - a * b
        assert acc_value(acc) == total
    assert tuple(int128.acc_div_floor(acc, d)) == int128_reference.div_floor(total, d)
    assert tuple(int128.acc_div_ceil(acc, d)) == int128_reference.div_ceil(total, d)
    assert tuple(int128.acc_to_int64(acc)) == int128_reference.fit_int64(total)


def test_accumulator_reaches_far_beyond_128_bits_and_back():
    acc, total = int128.acc_zero(), 0
    for _ in range(40):  # 40 * 2^126 > 2^131
        acc, total = int128.acc_add_mul(acc, INT64_MIN, INT64_MIN), total + 2**126
    assert acc_value(acc) == total
    assert int128.acc_div_floor(acc, INT64_MAX) == (0, False)
    for _ in range(40):
        acc = int128.acc_sub_mul(acc, INT64_MIN, INT64_MIN)
    acc = int128.acc_add(acc, INT64_MIN)
    assert int128.acc_to_int64(acc) == (INT64_MIN, True)
    assert int128.acc_to_int64(int128.acc_sub(acc, 1)) == (0, False)


@numba.njit(cache=True, nogil=True)
def _batch(a, b, c, d, out):
    """Every function inlined in one compiled loop; columns as in ``BATCH_COLUMNS``."""
    acc = int128.acc_zero()
    for i in range(a.shape[0]):
        results = (
            int128.mul_div_floor(a[i], b[i], d[i]),
            int128.mul_div_ceil(a[i], b[i], d[i]),
            int128.mul3_div_floor(a[i], b[i], c[i], d[i]),
            int128.mul3_div_ceil(a[i], b[i], c[i], d[i]),
            int128.add_checked(a[i], b[i]),
            int128.sub_checked(a[i], b[i]),
            int128.mul_checked(a[i], b[i]),
            int128.abs_checked(a[i]),
        )
        for j in range(len(results)):
            out[i, 2 * j] = results[j][0]
            out[i, 2 * j + 1] = results[j][1]
        acc = int128.acc_add_mul(acc, a[i], b[i])
        acc = int128.acc_sub(acc, c[i])
    return int128.acc_div_floor(acc, 10**6)


BATCH_COLUMNS = [*MUL_DIV, *MUL3_DIV, *CHECKED, "abs_checked"]


def _draw_column(rng: np.random.Generator, n: int, low: int = INT64_MIN) -> np.ndarray:
    """Uniform int64s, small ones, edges and edges ± a few, mixed."""
    full = rng.integers(low, INT64_MAX, n, dtype=np.int64, endpoint=True)
    small = rng.integers(max(low, -(2**40)), 2**40, n, dtype=np.int64)
    edges = np.array([e for e in EDGES if e >= low], dtype=object)
    near = [
        clip(int(e) + int(k))
        for e, k in zip(rng.choice(edges, n), rng.integers(-2, 3, n), strict=True)
    ]
    near_arr = np.array([max(v, low) for v in near], dtype=np.int64)
    pick = rng.integers(0, 3, n)
    return np.where(pick == 0, full, np.where(pick == 1, small, near_arr))


def test_batch_in_a_compiled_loop_matches_the_references():
    rng = np.random.default_rng(13)
    n = 20_000
    a, b, c = (_draw_column(rng, n) for _ in range(3))
    d = _draw_column(rng, n, low=1)
    out = np.zeros((n, 2 * len(BATCH_COLUMNS)), dtype=np.int64)
    q, ok = _batch(a, b, c, d, out)
    for i in range(n):
        args = int(a[i]), int(b[i]), int(c[i]), int(d[i])
        for j, name in enumerate(BATCH_COLUMNS):
            want = getattr(int128_reference, name)(*pick_args(name, args))
            assert (int(out[i, 2 * j]), bool(out[i, 2 * j + 1])) == want, (name, args)
    total = sum(int(x) * int(y) - int(z) for x, y, z in zip(a, b, c, strict=True))
    assert (int(q), bool(ok)) == int128_reference.div_floor(total, 10**6)


def pick_args(name: str, args: tuple[int, int, int, int]) -> tuple[int, ...]:
    a, b, c, d = args
    if name in MUL_DIV:
        return a, b, d
    if name in MUL3_DIV:
        return a, b, c, d
    if name == "abs_checked":
        return (a,)
    return a, b


uint64s = st.one_of(
    st.integers(0, 2**64 - 1),
    st.sampled_from([0, 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1]),
)


@st.composite
def wide_divisions(draw):
    """(hi, lo, d) with hi < d, biased to hi = d - 1 and top digits equal to d's, where the
    first quotient-digit estimate is at least 2^32."""
    d = draw(uint64s.filter(bool))
    hi = draw(
        st.one_of(st.integers(0, d - 1), st.just(d - 1), st.integers(max(0, d - 2**33), d - 1))
    )
    return hi, draw(uint64s), d


@settings(max_examples=3000, deadline=None)
@given(args=wide_divisions())
def test_128_by_64_division_is_exact(args):
    hi, lo, d = args
    q, r = int128._div_u128(np.uint64(hi), np.uint64(lo), np.uint64(d))
    assert (int(q), int(r)) == divmod(hi * 2**64 + lo, d)


@settings(max_examples=1000, deadline=None)
@given(x=uint64s, y=uint64s)
def test_64_by_64_multiplication_is_exact(x, y):
    hi, lo = int128._mul_u64(np.uint64(x), np.uint64(y))
    assert int(hi) * 2**64 + int(lo) == x * y


NO_FLOAT_SCRIPT = """
import re
from paraclear import int128 as m
calls = {
    m.mul_div_floor: (1, 2, 3), m.mul_div_ceil: (1, 2, 3), m.mul3_div_floor: (1, 2, 3, 4),
    m.mul3_div_ceil: (1, 2, 3, 4), m.add_checked: (1, 2), m.sub_checked: (1, 2),
    m.mul_checked: (1, 2), m.abs_checked: (-1,), m.acc_add: (m.acc_zero(), 1),
    m.acc_sub: (m.acc_zero(), 1),
    m.acc_add_mul: (m.acc_zero(), 1, 2), m.acc_sub_mul: (m.acc_zero(), 1, 2),
    m.acc_div_floor: (m.acc_zero(), 3), m.acc_div_ceil: (m.acc_zero(), 3),
    m.acc_to_int64: (m.acc_zero(),),
}
float_ops = re.compile(r"\\b(fadd|fsub|fmul|fdiv|fcmp|sitofp|uitofp|fptosi|fptoui|double)\\b")
for function, args in calls.items():
    function(*args)
    for ir in function.inspect_llvm().values():
        assert "udiv" in ir or "div" not in function.__name__, function.__name__
        found = float_ops.findall(ir)
        print(function.__name__, sorted(set(found)) or "ok")
"""


def test_compiled_code_has_no_floating_point(tmp_path):
    """Mixing uint64 with int64 makes numba compute in float64: no float may appear in the
    LLVM IR of any public function or what it calls (compiled afresh: cached code has none)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", NO_FLOAT_SCRIPT], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert len([line for line in lines if line.endswith(" ok")]) == 15, done.stdout
