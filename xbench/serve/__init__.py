"""``xbench serve``: the suite's inference rows behind MLPerf LoadGen (SingleStream, Offline, Server, accuracy).

One role per module: ``sut`` (systems under test over the factory's prepared callables, a dynamic batcher, a
no-op), ``loadgen`` (LoadGen's settings, one run, its logs parsed), ``search`` (the Server QPS search, pure
logic), ``rows`` (one row prepared and served through every scenario asked), ``records`` (serve records in the
results schema, task ``serve``), ``worker`` (one process per row) and ``launch`` (the run: rows, processes, the
results file and LoadGen's logs beside it). ``mlperf_loadgen`` is imported only inside functions.
"""
