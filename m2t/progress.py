"""A progress line a person can follow in a long job's log: done/total, rate, elapsed and ETA, at most every N s.

    progress = Progress(what="pretrain", total=40, unit="step", every_s=10, done=resumed_step)
    if line := progress.update(step, loss=3.41, samples_per_s=45.1):
        log.info(line)   # pretrain 12/40 steps (30%) | loss 3.41 | samples_per_s 45.1 | 1.3 s/step | ...

Lines, not a redrawn bar: they read the same in a terminal, in `ray job logs` and in a Ray worker's forwarded
output (interactive loops over local work use tqdm instead).
"""

from __future__ import annotations

import time

from tqdm import tqdm


def _value(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e-2 or abs(v) >= 1e4 else f"{v:.4g}"
    return str(v)


class Progress:
    """Rate-limited progress of ``total`` units, counted from ``done`` (a resumed job counts from where it is)."""

    def __init__(self, *, what: str, total: int, unit: str, every_s: float, done: int = 0):
        self.what, self.total, self.unit, self.every_s = what, total, unit, every_s
        self.first = done
        self.started = self.last = time.monotonic()
        self.printed = False

    def update(self, done: int, *, force: bool = False, **fields: object) -> str | None:
        """The line for ``done`` units (``fields`` shown as ``name value``), or None when one was given less than
        ``every_s`` ago; the first and the last update (``done >= total``) and ``force`` always give one."""
        now = time.monotonic()
        if self.printed and not force and done < self.total and now - self.last < self.every_s:
            return None
        self.last, self.printed = now, True
        elapsed = now - self.started
        rate = (done - self.first) / elapsed if elapsed > 0 else 0.0
        if rate <= 0:
            speed, eta = f"- {self.unit}/s", "?"
        else:
            speed = f"{rate:.3g} {self.unit}/s" if rate >= 1 else f"{1 / rate:.3g} s/{self.unit}"
            eta = tqdm.format_interval(max(self.total - done, 0) / rate)
        share = f"{100 * done / self.total:.0f}%" if self.total else "-"
        parts = [f"{self.what} {done}/{self.total} {self.unit}s ({share})"]
        parts += [f"{name} {_value(v)}" for name, v in fields.items() if v is not None]
        parts += [speed, f"elapsed {tqdm.format_interval(elapsed)}, ETA {eta}"]
        return " | ".join(parts)
