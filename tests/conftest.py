"""Session setup: compile (or load from numba's cache) every kernel of the package once, up
front, so that no test's deadline, nor a node a test starts in another process, includes
numba's compile time (on an empty cache: a minute or more of CPU, shared between processes)."""

from paraclear.warmup import warm

warm("all")
