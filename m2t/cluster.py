"""Joining Ray from a job: the cluster it would join must answer within seconds, or the job stops with the fix.

``ray.init()`` joins the cluster in ``RAY_ADDRESS``; else the one whose address ``ray start`` wrote to
``ray_current_cluster`` in Ray's temp dir (``/tmp/ray``, or ``$RAY_TMPDIR/ray``); else it starts a local one. A
``ray start``ed head that died without ``ray stop`` leaves that file behind, and a plain ``ray.init()`` then waits
on the dead address with no end (a GCS time-out every 30 s, no message). :func:`ray_init_args` knocks on that
address first (a TCP connect to the head's GCS port, :data:`PROBE_TIMEOUT_S`) and, when nothing answers, raises
:class:`ClusterUnreachable` (exit code 4) naming the address, where it came from and the fix. It does not fall back
to a local cluster: a job meant for a cluster should not quietly run on one machine instead.

Only the jobs call ``ray.init`` (with these arguments); the library reads the running cluster.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from m2t.errors import M2TError

PROBE_TIMEOUT_S = 5.0


class ClusterUnreachable(M2TError):
    """The Ray cluster a job would join does not answer (exit code 4); the message names the address and the fix."""


def _target(address: str | None) -> tuple[str | None, str]:
    """``(address the job would join or None for a new local Ray, where it comes from)``, resolved as Ray does."""
    if address not in (None, "auto"):
        return (None if address == "local" else address), "the address argument"
    if os.environ.get("RAY_ADDRESS"):
        value = os.environ["RAY_ADDRESS"]
        return (None if value == "local" else value), "RAY_ADDRESS"
    from ray._common.utils import get_ray_address_file  # Ray's own lookup: RAY_TMPDIR, TMPDIR, /tmp
    from ray._private.utils import read_ray_address

    return read_ray_address(), f"{get_ray_address_file(None)}, which `ray start` wrote"


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a GCS (``host:port``) or Ray Client (``ray://host:port``) address; None for others."""
    if "://" in address:
        scheme, _, address = address.partition("://")
        if scheme != "ray":
            return None  # e.g. a dashboard URL: Ray itself says what is wrong with it
    host, _, port = address.rpartition(":")
    return (host.strip("[]"), int(port)) if host and port.isdigit() else None


def ray_init_args(**kwargs: Any) -> dict[str, Any]:
    """The keyword arguments for ``ray.init`` (``kwargs`` as given), once the cluster it would join has answered.

    Raises :class:`ClusterUnreachable` when that cluster does not accept a connection within
    :data:`PROBE_TIMEOUT_S`. The address is passed on as given, not resolved: a ``ray start``ed cluster found by Ray
    itself is one Ray lets turn on token authentication for (an explicit address never does).
    """
    address, source = _target(kwargs.get("address"))
    where = _host_port(address) if address else None
    if where is None:
        return dict(kwargs)
    try:
        socket.create_connection(where, timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        if source == "RAY_ADDRESS":
            fix = "start that cluster, or point RAY_ADDRESS at a live head (host:6379), or RAY_ADDRESS=local for a new local Ray"
        elif source.endswith("wrote"):
            fix = (
                "its head is gone; start it again (`ray start --head`), or remove that file (`ray stop` does) "
                "or set RAY_ADDRESS=local to run on a new local Ray"
            )
        else:
            fix = "start that cluster or pass the address of a live one"
        raise ClusterUnreachable(
            f"the Ray cluster at {address} (from {source}) does not answer within {PROBE_TIMEOUT_S:g} s "
            f"({exc.strerror or exc}); {fix}"
        ) from exc
    return dict(kwargs)
