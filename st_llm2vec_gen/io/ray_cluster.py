"""The Ray cluster both Ray paths run on (encoding a corpus, generating answers): importing Ray, connecting, and
sizing an actor pool to what the cluster has, so that a job never waits forever for CPUs or GPUs it cannot get.

Needs the ``ray`` extra (``pip install 'st-llm2vec-gen[ray]'``); Ray is imported on first use only.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

logger = logging.getLogger(__name__)

IO_CPUS = 0.25
"""CPUs Ray reserves for each read, filter and write task: a fraction, so that they fit beside the actors on a small
machine (Ray's default of 1 CPU each waits forever for a CPU the pool holds)."""
READ_RESERVE = 1.0
"""CPUs a pool leaves free: the file-listing task that starts every Ray read takes a whole CPU, whatever the read's
``num_cpus``."""


def import_ray() -> Any:
    """``ray`` with ``ray.data``, or an ImportError that names the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        raise ImportError("Ray Data is not installed: pip install 'st-llm2vec-gen[ray]' (ray[data] >= 2.50)") from error
    return ray


def connect(address: str | None = None, **init_kwargs: Any) -> None:
    """Connects to a Ray cluster unless this process already is: ``address``, else ``$RAY_ADDRESS``, else a new
    local cluster on this machine (Ray's own rule for ``ray.init()``)."""
    ray = import_ray()
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    logger.info("Connecting to Ray at %s", address or "a new local cluster")
    ray.init(address=address, **init_kwargs)


def actor_pool(ray: Any, actors: int | tuple[int, int]) -> Any:
    """Ray Data's actor pool of ``actors`` actors, or of ``(min, max)`` (an autoscaling pool)."""
    if isinstance(actors, tuple):
        return ray.data.ActorPoolStrategy(min_size=actors[0], max_size=actors[1])
    return ray.data.ActorPoolStrategy(size=actors)


def actor_threads(threads: int | None, num_cpus: float, num_gpus: float) -> int | None:
    """Torch threads per actor: ``threads`` if given, else ``max(1, int(num_cpus))`` on CPU and Ray's default
    (None) on GPU."""
    return threads or (None if num_gpus > 0 else max(1, int(num_cpus)))


def check_room(actors: int | tuple[int, int], num_cpus: float, cluster_cpus: float) -> str | None:
    """A warning if the pool's actors leave less than :data:`READ_RESERVE` of the cluster to Ray's read and write
    tasks: they would then wait for a free CPU forever (the job stalls); None if there is room."""
    smallest = actors[0] if isinstance(actors, tuple) else actors
    if num_cpus > 0 and smallest * num_cpus > cluster_cpus - READ_RESERVE:
        return (f"{smallest} actor(s) x {num_cpus} CPU leave no CPU of the cluster's {cluster_cpus:g} for Ray's read "
                "and write tasks: the job may stall. Give fewer CPUs per actor (--cpus-per-actor / num_cpus, e.g. "
                f"{fitting_cpus(actors, cluster_cpus):g}) or fewer actors")  # fmt: skip
    return None


def fitting_cpus(actors: int | tuple[int, int], cluster_cpus: float) -> float:
    """CPUs per actor that leave a whole CPU of the cluster to Ray's read, filter and write tasks: at most 1, in
    quarters, at least a quarter (2 actors on 2 CPUs: 0.5 each; 1 actor: 1)."""
    smallest = actors[0] if isinstance(actors, tuple) else actors
    return max(0.25, min(1.0, int((cluster_cpus - READ_RESERVE) / smallest * 4) / 4))


def actor_cpus(ray: Any, actors: int | tuple[int, int], num_cpus: float | None) -> float:
    """``num_cpus`` as given (with :func:`check_room`'s warning if it leaves no room), or for ``None`` the
    :func:`fitting_cpus` of the connected cluster as it is now (an autoscaler may still grow it)."""
    cluster_cpus = float(ray.cluster_resources().get("CPU", 0))
    if num_cpus is None:
        return fitting_cpus(actors, cluster_cpus)
    if warning := check_room(actors, num_cpus, cluster_cpus):
        logger.warning(warning)
    return num_cpus


def check_free(
    ray: Any, actors: int | tuple[int, int], num_cpus: float, num_gpus: float, patience_s: float = 20.0
) -> None:
    """Refuses to start a pool whose smallest size, with a read beside it, does not fit in the CPUs and GPUs free on
    the cluster: Ray would wait for them forever. Resources that free up within ``patience_s`` (the actors of a job
    that just ended are released asynchronously) count as free. A cluster that grows on demand (an autoscaler)
    counts only what it has: give ``MIN-MAX`` actors with a minimum that fits now.

    Raises:
        ValueError: Naming what the pool needs, what is free and how to fix it.
    """
    smallest = actors[0] if isinstance(actors, tuple) else actors
    needs = {"CPU": smallest * num_cpus + READ_RESERVE, "GPU": smallest * num_gpus}
    deadline = time.monotonic() + patience_s
    while True:
        free = ray.available_resources()
        short = [kind for kind, need in needs.items() if need > 0 and need > float(free.get(kind, 0)) + 1e-9]
        if not short:
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    kind, total = short[0], float(ray.cluster_resources().get(short[0], 0))
    have = float(free.get(kind, 0))
    taken = "" if have >= total else " (other jobs hold the rest)"
    raise ValueError(
        f"The Ray cluster has {have:g} of its {total:g} {kind}(s) free{taken}, and {smallest} actor(s) need "
        f"{needs[kind]:g} with Ray's read: free them, or pass fewer --actors or a smaller --{kind.lower()}s-per-actor"
    )
