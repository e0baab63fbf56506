"""Running many independent tasks at once: on local worker processes or on a Ray cluster.

``run_tasks(fn, items, ...)`` applies a picklable, importable function to every item and
yields an ``Outcome`` per item as it finishes (in completion order, each tagged with its
item's index). Two backends, one interface:

* ``pool.run_local``: forked worker processes on this machine (all cores by default). The
  workers inherit the parent's imported modules and compiled kernels, so they start warm.
  If a worker dies, the pool is restarted and the unfinished items are run again.
* ``ray_backend.run_ray``: Ray tasks, on an embedded local Ray instance or a cluster at an
  address (``auto``: the one started on this machine with ``ray start``). A task whose worker
  dies is retried by Ray (``max_retries``). Ray is an optional extra:
  ``pip install 'paraclear[cluster]'``.

Tasks must be deterministic functions of their item for results to be the same on every
backend; the callers (``paraclear stress``, parallel replay) test that they are.
"""

from paraclear.cluster.outcome import MissingRay, Outcome, WorkerLost
from paraclear.cluster.run import Backend, run_tasks

__all__ = ["Backend", "MissingRay", "Outcome", "WorkerLost", "run_tasks"]
