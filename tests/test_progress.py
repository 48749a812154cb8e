"""The progress line of long jobs: what it shows, and how often."""

from __future__ import annotations

import re
import time

from m2t.progress import Progress


def test_the_line_shows_count_share_fields_rate_and_eta():
    progress = Progress(what="pretrain", total=40, unit="step", every_s=0, done=10)  # resumed at step 10
    time.sleep(0.2)
    line = progress.update(12, loss=3.4123, val_loss=None, samples_per_s=45.06)
    m = re.fullmatch(
        r"pretrain 12/40 steps \(30%\) \| loss 3\.412 \| samples_per_s 45\.06 \| ([\d.]+) step/s \| "
        r"elapsed 00:00, ETA 00:(\d\d)",
        line,
    )
    assert m, line  # val_loss None is left out
    rate, eta = float(m.group(1)), int(m.group(2))
    assert rate <= 2 / 0.2 and abs(eta - 28 / rate) <= 1  # 2 steps since the resume; 28 to go


def test_a_slow_rate_reads_as_seconds_per_unit():
    progress = Progress(what="finetune", total=10, unit="step", every_s=0)
    time.sleep(1.1)
    assert re.search(r"\| 1\.\d+ s/step \| elapsed 00:01, ETA 00:(09|1\d)$", progress.update(1))


def test_lines_are_rate_limited_but_the_first_last_and_forced_always_show():
    progress = Progress(what="embed", total=100, unit="seq", every_s=3600)
    shown = [n for n in range(1, 101) if progress.update(n, force=n == 50)]
    assert shown == [1, 50, 100]
