"""lxcz.cgroups.enter over plain directories: which path is cgroup2, what a process
writes to join each hierarchy, and the error naming the path; lxcz.runtime.poller."""

from __future__ import annotations

import os

import pytest

from lxcz.cgroups import enter
from lxcz.errors import LxczError
from lxcz.runtime.poller import Poller


def layout(tmp_path):
    v1 = tmp_path / "memory" / "lxc.payload.c1"
    v2 = tmp_path / "unified" / "lxc.payload.c1"
    for d in (v1, v2):
        d.mkdir(parents=True)
    (v1 / "tasks").write_text("")
    (v1 / "cgroup.procs").write_text("")
    (v2 / "cgroup.procs").write_text("")
    return str(v1), str(v2)


def test_v2_path_is_the_one_without_tasks(tmp_path):
    v1, v2 = layout(tmp_path)
    assert enter.v2_path([v1, v2]) == v2
    assert enter.v2_path([v1]) is None


def test_join_self_writes_0_to_v1_tasks_and_the_pid_to_v2(tmp_path):
    v1, v2 = layout(tmp_path)
    enter.join_self([v1, v2])
    assert open(os.path.join(v1, "tasks")).read() == "0"
    assert open(os.path.join(v1, "cgroup.procs")).read() == ""
    assert open(os.path.join(v2, "cgroup.procs")).read() == str(os.getpid())


def test_join_self_skips_v2_when_created_there(tmp_path):
    v1, v2 = layout(tmp_path)
    enter.join_self([v1, v2], in_v2=True)
    assert open(os.path.join(v2, "cgroup.procs")).read() == ""
    assert open(os.path.join(v1, "tasks")).read() == "0"


def test_join_self_names_the_path_it_cannot_join(tmp_path):
    missing = str(tmp_path / "gone")
    with pytest.raises(LxczError, match="cannot join cgroup .*gone"):
        enter.join_self([missing])


def test_leaf_replaces_the_v2_path_with_its_lxc_leaf_made_on_first_use(tmp_path):
    v1, v2 = layout(tmp_path)
    leaf = os.path.join(v2, ".lxc")
    assert enter.leaf([v1, v2]) == [v1, leaf]
    assert os.path.isdir(leaf)
    assert enter.leaf([v1, v2]) == [v1, leaf]  # already there
    assert enter.leaf([v1]) == [v1]  # v1 only: nothing to do


def test_leaf_left_out_when_it_cannot_be_made(tmp_path):
    v1, _ = layout(tmp_path)
    gone = str(tmp_path / "unified" / "gone")  # mkdir fails: ENOENT
    assert enter.leaf([v1, gone]) == [v1, gone]


def test_join_self_falls_back_from_a_refusing_leaf_to_the_cgroup(tmp_path):
    v1, v2 = layout(tmp_path)
    leaf = os.path.join(v2, ".lxc")
    os.mkdir(leaf)  # no cgroup.procs in it: writing there fails
    enter.join_self([v1, leaf])
    assert open(os.path.join(v2, "cgroup.procs")).read() == str(os.getpid())


def test_join_self_names_the_cgroup_when_leaf_and_cgroup_refuse(tmp_path):
    v1, v2 = layout(tmp_path)
    os.remove(os.path.join(v2, "cgroup.procs"))
    os.mkdir(os.path.join(v2, ".lxc"))
    with pytest.raises(LxczError, match=f"cannot join cgroup {v2}:"):
        enter.join_self([os.path.join(v2, ".lxc")])


def test_fork_into_without_v2_is_a_plain_fork(tmp_path):
    v1, _ = layout(tmp_path)
    pid, in_v2 = enter.fork_into([v1])
    if pid == 0:
        os._exit(5)
    _, status = os.waitpid(pid, 0)
    assert in_v2 is False and os.WEXITSTATUS(status) == 5


def test_poller_reports_ready_descriptors_with_their_data():
    r, w = os.pipe()
    p = Poller()
    try:
        p.register(r, "pipe")
        assert p.select(0) == []
        os.write(w, b"x")
        [(key, _ev)] = p.select(0)
        assert key.data == "pipe" and key.fd == r
        with pytest.raises(KeyError):
            p.register(r, "again")
        p.unregister(r)
        assert p.select(0) == []
        with pytest.raises(KeyError):
            p.unregister(r)
    finally:
        p.close()
        os.close(r)
        os.close(w)
