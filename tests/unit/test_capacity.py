"""Admission on a cluster with live nodes (Ray): how many nodes of a VM size fit, and where."""

from amlite.compute.backends.base import Capacity

D1 = (1, 3.5, 0)  # Standard_D1: 1 vCPU, 3.5 GiB
NC6 = (6, 56, 1)


def test_slots_count_nodes_of_a_size_on_each_live_node():
    capacity = Capacity(nodes=[(2, 8, 0), (1, 4, 0)])
    assert capacity.slots(D1) == 3
    assert capacity.slots((2, 2, 0)) == 1
    assert capacity.slots(NC6) == 0, "no GPU anywhere"


def test_a_run_fits_what_amlite_holds_leaves_free():
    capacity = Capacity(nodes=[(2, 8, 0), (2, 8, 0)])
    assert capacity.fits(2, D1)
    capacity.take(3, D1)
    assert capacity.fits(1, D1) and not capacity.fits(2, D1)
    capacity.take(1, D1)
    assert not capacity.fits(1, D1)


def test_multi_node_runs_need_as_many_hosts():
    one_big_node = Capacity(nodes=[(8, 64, 0)])
    assert one_big_node.fits(1, D1) and not one_big_node.fits(2, D1), "one rank per node"
    assert Capacity(nodes=[(2, 8, 0), (1, 4, 0)]).fits(2, D1)
    assert not Capacity().fits(1, D1), "a silent cluster takes nothing"
