"""The compiled engine: the order flow as numba ``nogil`` kernels over columnar tables.

* ``layout``: the tables' columns; ``tables``: ``Tables``, the columnar mirror of the hot
  state and the two ways across between it and the key-value state (``route``, ``flush``);
  ``mirror``: whether the tables an engine carries from block to block still equal those
  the state loads into (``CompiledEngine.check_tables``, ``paraclear replay --check-tables``).
* ``margin``: standard and portfolio margin, reservations and fees in compiled code.
* ``rows``: what every kernel shares (begin's nonce and fee, cash, open orders, marking the
  rows it changed); ``orders``: PlaceOrder, CancelOrder, AmendOrder, CloseOrder; ``fills``:
  SettleFill and Trade; ``funds``: Deposit, Withdraw, Transfer; ``run``: ``run_orders``,
  which runs a table of them in order.
* ``codes``: the transaction and result columns the glue and the kernels exchange.
* ``glue``: transactions as rows of the transaction table, results as receipts;
  ``failures``: a failed result row as the handler's typed error.
* ``engine``: ``CompiledEngine``, the batch runner of ``ClearingMachine(engine="compiled")``.
  ``timings``: ``EngineTimings``, where its time goes.

The readable handlers in ``clearing.handlers`` are the specification; every kernel checks
and changes what its handler does, in the same order, and hands anything it cannot do
exactly back to the handler (``tests/clearing/test_kernels.py`` compares them block by
block).
"""
