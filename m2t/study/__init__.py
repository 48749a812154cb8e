"""The quality study of ``jobs/study.py``: does the protein path help, on real MutaDescribe data?

``splits`` builds leak-free train/val/test sets from MutaDescribe files, ``retrieval`` is the nearest-protein
baseline, ``variants`` trains and loads the models compared, ``run`` runs the whole study and ``report`` writes
``report.md``.
"""
