"""The clearing house: instruments, accounts, transactions and their apply functions.

* ``instruments``: options and perpetuals, Deribit names.
* ``records``: values kept in state (``Position``, ``OracleData``, ``HouseConfig``…).
* ``transactions``: the tagged union of transactions and their validation.
* ``accounts``: cash, positions, equity and margin status through a ``StateView``.
* ``margin``: the ``MarginModel`` seam and standard margin.
* ``marks``: marks from oracle data, the one door for floats into state.
* ``quotes``: the options pool's quotes from the SVI surface, computed by the oracle update.
* ``pool``: the options pool (an account under its own lock): NAV, net Greeks, limits, prices;
  ``pool_shares``: its ERC-4626 share math.
* ``handlers``: one access and one apply function per transaction type.
* ``machine``: ``ClearingMachine``, where dispatch on the transaction type happens.
* ``genesis``: the initial state; ``invariants``: checks that hold after every block.
"""

from paraclear.clearing.machine import ENGINES, ClearingMachine, Engine

__all__ = ["ENGINES", "ClearingMachine", "Engine"]
