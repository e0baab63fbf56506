"""Apply functions of the clearing transactions, one module per family.

Each module pairs, per transaction type, an ``access_*`` function (the declared access set,
from the transaction alone) with an ``apply_*`` function (checks, then changes, then events).
``paraclear.clearing.machine`` dispatches to them in one table.
"""
