"""The benchmark suite: one pytest module per task, parametrised by xbench.bench.plugin (run it with `xbench bench`)."""
