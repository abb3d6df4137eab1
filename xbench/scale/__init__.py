"""Data-parallel training past one process (``xbench scale``, docs/scaling.md).

One role per module: ``plan`` (which launches, bad options), ``launch`` (torchrun or the TensorFlow worker, one
process group a timeout ends), ``torch_ddp`` / ``tf_mirrored`` (the workers, on the suite's factory), ``equivalence``
(the data-parallel step against the single-process step), ``records`` (results records) and ``efficiency``
(scaling efficiency, the all-reduce share, the on-paper prediction). Nothing here imports an ML framework except
the two workers, which run in their own processes.
"""
