"""Benchmarks with the baseline in the same run: embedding, training step, serving, saturation scan.

    python jobs/benchmark.py all                 # prints the table, writes outputs/benchmark/benchmark.json

One file per benchmark (``embed.py``, ``train.py``, ``serve.py``, ``scan.py``); ``run.py`` runs a selection;
``machine.py`` records the machine and measures its matmul FLOP/s, ``flops.py`` counts model FLOPs,
``inputs.py`` builds the MutaDescribe-shaped records, ``scales.py`` holds the sizes, ``apps.py`` deploys the
Serve app variants, ``load.py`` is the bounded HTTP load client, ``loadtest.py`` the load test of the Serve app
(``jobs/loadtest.py``), ``report.py`` writes the JSON and the table.
"""
