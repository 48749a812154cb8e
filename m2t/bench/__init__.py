"""Benchmarks with the baseline in the same run (``jobs/benchmark.py``), and the load test of the Serve app.

The harness: ``run.py`` runs a selection, ``report.py`` writes the JSON and the table, ``machine.py`` records the
machine and measures its matmul FLOP/s, ``flops.py`` counts the FLOPs of the work done, ``scales.py`` holds the
sizes, ``inputs.py`` builds the MutaDescribe-shaped records.

Against the seed's way, on tiny random models (``all``), one module each: ``embed.py``, ``train.py`` (with
``prefetch.py``; ``s3.py`` is the local S3 server), ``serve.py`` and ``scan.py`` (``apps.py`` deploys the Serve app
variants, ``load.py`` is the bounded HTTP load client). Against plain transformers + PEFT (``plain.py``) on the
study's real SmolLM2 weights and rows (``smollm2.py``): ``cpu_train.py`` (``train_real_cpu``) and
``cpu_generate.py`` (``generate_real_cpu``). The full-size models on one GPU: the ``gpu`` package (``--scale real``).

``loadtest.py`` is the load test of the Serve app (``jobs/loadtest.py``), on the same load client and apps.
"""
