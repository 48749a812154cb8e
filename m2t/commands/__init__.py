"""One module per subcommand of the ``m2t`` command (:mod:`m2t.cli`); each job's is also run by its script in ``jobs/``.

A command module's docstring is its documentation (the first line is its ``--help`` summary) and its ``main()``
parses ``sys.argv`` and runs the job, raising :mod:`m2t.errors` exceptions that :func:`m2t.cli.run` turns into exit
codes. The shared options (``--config``, ``key=value`` overrides) are in :mod:`m2t.commands.args`.
"""
