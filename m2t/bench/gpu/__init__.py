"""The real-size benchmark on one GPU (``jobs/benchmark.py all --scale real``): the full ESM3-open and Llama-3.1-8B
architectures with random weights, in one process without Ray or DeepSpeed (the lent GPU machine has neither).

``run.py`` runs them and records the machine, ``scale.py`` holds the sizes (and the CPU dry run's), ``models.py``
writes the random models, ``inputs.py`` makes MutaDescribe-shaped records; one module per benchmark: ``embed.py``,
``train.py``, ``generate.py``.
"""
