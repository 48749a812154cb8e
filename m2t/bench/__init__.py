"""Benchmarks with the baseline in the same run: embedding, training step, serving, saturation scan.

    python jobs/benchmark.py all                 # prints the table, writes outputs/benchmark/benchmark.json

One file per benchmark (``embed.py``, ``train.py``, ``serve.py``, ``scan.py``), ``machine.py`` for the
machine record and its measured matmul FLOP/s, ``inputs.py`` for the MutaDescribe-shaped records,
``load.py`` for the bounded HTTP load client, ``report.py`` for the JSON and the table.
"""
