"""The jobs' shared exit-code plumbing, in a real child process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from m2t.cli import EXIT_INTERRUPTED

CHILD = "from m2t.cli import run; import time; print('ready', flush=True); run(lambda: time.sleep(120))"


def test_ctrl_c_exits_130_with_one_line_and_no_traceback():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == EXIT_INTERRUPTED == 130
    assert err.strip() == "interrupted" and "Traceback" not in err
