"""lxc-usernet rules and the /run/lxc/nics accounting: parsing, counting, choosing."""

from __future__ import annotations

from lxcz.net.usernet_conf import (
    Entry,
    Rule,
    allotments,
    format_nics,
    parse_nics,
    parse_usernet,
    pick_rule,
    prune,
    used,
)

CONF = """\
# users and groups
alice veth lxcbr0 2
@lxc  veth lxcbr0 1

bob veth br1 3 trailing words are ignored like upstream's sscanf
carol veth
dave veth br0 many
@ veth br0 1
erin veth br0 -4
"""


def test_parse_usernet_rules_and_problems():
    rules, problems = parse_usernet(CONF)
    assert rules == [Rule("alice", "veth", "lxcbr0", 2, 2), Rule("@lxc", "veth", "lxcbr0", 1, 3),
                     Rule("bob", "veth", "br1", 3, 5), Rule("erin", "veth", "br0", 0, 9)]
    assert rules[1].is_group and not rules[0].is_group
    assert problems == ["line 6: expected 'user type bridge count', ignored",
                        "line 7: count 'many' is not a number, ignored",
                        "line 8: empty group name, ignored"]


def test_parse_usernet_empty():
    assert parse_usernet("") == ([], [])
    assert parse_usernet("# nothing\n\n") == ([], [])


def test_allotments_user_and_groups_in_file_order():
    rules, _ = parse_usernet(CONF)
    assert [r.name for r in allotments(rules, "alice", ["lxc"], "veth", "lxcbr0")] == \
        ["alice", "@lxc"]
    assert [r.name for r in allotments(rules, "zed", ["lxc", "x"], "veth", "lxcbr0")] == ["@lxc"]
    assert allotments(rules, "zed", ["other"], "veth", "lxcbr0") == []
    assert allotments(rules, "alice", [], "veth", "br1") == []
    assert allotments(rules, "alice", [], "macvlan", "lxcbr0") == []
    # a user literally named "@lxc" is not the group
    assert allotments(rules, "lxc", [], "veth", "lxcbr0") == []


NICS = """\
alice veth lxcbr0 veth1000_aaaa
# a comment someone left
@lxc veth lxcbr0 veth1000_bbbb
alice veth br1 veth1000_cccc
not an entry
alice veth lxcbr0 aninterfacenamewaytoolong
"""


def test_parse_nics_keeps_unknown_lines_verbatim():
    lines = parse_nics(NICS)
    entries = [e for _, e in lines]
    assert entries[0] == Entry("alice", "veth", "lxcbr0", "veth1000_aaaa")
    assert entries[1] is None and entries[4] is None and entries[5] is None
    assert format_nics(lines) == NICS
    assert Entry("a", "veth", "b", "c").line() == "a veth b c\n"


def test_prune_drops_vanished_interfaces_only():
    lines = prune(parse_nics(NICS), lambda nic: nic != "veth1000_aaaa")
    assert format_nics(lines) == NICS.replace("alice veth lxcbr0 veth1000_aaaa\n", "")


def test_used_counts_per_owner_type_and_bridge():
    entries = [e for _, e in parse_nics(NICS)]
    assert used(entries, "alice", "veth", "lxcbr0") == ["veth1000_aaaa"]
    assert used(entries, "alice", "veth", "br1") == ["veth1000_cccc"]
    assert used(entries, "@lxc", "veth", "lxcbr0") == ["veth1000_bbbb"]
    assert used(entries, "bob", "veth", "lxcbr0") == []


def test_pick_rule_first_with_room():
    user = Rule("alice", "veth", "br0", 1)
    group = Rule("@lxc", "veth", "br0", 2)
    assert pick_rule([], [user, group]) == user
    one = [Entry("alice", "veth", "br0", "v1")]
    assert pick_rule(one, [user, group]) == group
    full = one + [Entry("@lxc", "veth", "br0", "v2"), Entry("@lxc", "veth", "br0", "v3")]
    assert pick_rule(full, [user, group]) is None
    # interfaces on another bridge do not count against this one
    assert pick_rule([Entry("alice", "veth", "br9", "v1")], [user]) == user
    assert pick_rule([], [Rule("alice", "veth", "br0", 0)]) is None
    assert pick_rule([], []) is None
