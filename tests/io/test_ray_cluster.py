"""The Ray pool's CPU arithmetic (io/ray_cluster.py): pure functions, no cluster needed."""

from __future__ import annotations

from st_llm2vec_gen.io.ray_cluster import check_room, fitting_cpus


def test_a_pool_that_takes_every_cpu_is_named_with_the_fix():
    assert "--cpus-per-actor" in check_room(2, 1.0, 2.0)  # the read tasks would wait forever
    assert check_room(2, 0.5, 2.0) is None and check_room((1, 8), 1.0, 4.0) is None


def test_the_default_cpus_per_actor_leave_room_for_reading():
    """The default pool (2 actors) must not stall a 2-CPU machine, as 1 CPU per actor did."""
    for actors, cluster in ((2, 2.0), (1, 2.0), (4, 2.0), ((2, 8), 16.0), (3, 64.0)):
        cpus = fitting_cpus(actors, cluster)
        assert 0.25 <= cpus <= 1.0 and (check_room(actors, cpus, cluster) is None or cpus == 0.25), (actors, cluster)
    assert fitting_cpus(2, 2.0) == 0.5 and fitting_cpus(1, 64.0) == 1.0
