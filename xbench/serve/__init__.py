"""``xbench serve``: the suite's inference rows behind MLPerf LoadGen (SingleStream, Offline, Server, accuracy).

One role per module: ``sut`` (systems under test over the factory's prepared callables, a dynamic batcher, a
no-op), ``loadgen`` (LoadGen's settings, one run, its logs parsed), ``search`` (the Server QPS search, pure
logic), ``rows`` (one row prepared and served through every scenario asked), ``records`` (serve records in the
results schema, task ``serve``). ``mlperf_loadgen`` is imported only inside ``loadgen``'s functions.
"""
