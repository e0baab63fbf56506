"""Session setup: compile (or load from cache) the state tree's kernels once, up front, so
that no test's deadline includes numba's compile time."""

from paraclear.state.compiled import warm

warm()
