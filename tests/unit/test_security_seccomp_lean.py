"""The seccomp policy reader without ``re``: its str-method matchers must agree with the
regular expressions that define the format, and loading a policy must not import re,
typing or ctypes.util (which forks ldconfig)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from lxcz.errors import ConfigError
from lxcz.security import seccomp_policy as sp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_pieces = st.sampled_from(list("[]#, \t\u00a0\u2003x_9aA0Xf7=<>&!-\u0661") + [
    "read", "errno", "kill", "SCMP_CMP_EQ", "0x1F", "017", "08", "[all]", "[ x86_64 ]",
    "reject_force_umount", "[0,1,SCMP_CMP_EQ]", "[1, 0x2, &=, 3]"])
_text = st.lists(_pieces, max_size=10).map("".join)


def _old_strip_comment(text):
    m = re.search(r"(^|\s)#", text)
    return text[:m.start()].strip() if m else text.strip()


def _old_int(text):
    t = text.strip()
    if re.fullmatch(r"0[0-7]+", t):
        return int(t, 8)
    if re.fullmatch(r"0[xX][0-9a-fA-F]+|\d+", t):
        return int(t, 0)
    raise ValueError(t)


def _outcome(fn, *a):
    try:
        return ("ok", fn(*a))
    except ValueError:
        return ("ValueError",)


@settings(max_examples=2000, deadline=None)
@given(_text)
def test_matchers_agree_with_the_regexes(text):
    assert sp._strip_comment(text) == _old_strip_comment(text)
    assert _outcome(sp._int, text) == _outcome(_old_int, text)
    assert sp._decimal(text) == bool(re.fullmatch(r"\d+", text))
    m = re.compile(r"\s*\[([^\[\]]*)\]\s*").match(text)
    assert sp._bracketed(text, 0) == ((m.group(1), m.end()) if m else None)


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(["2\ndenylist\n", "2\nallowlist errno 1\n", "1\nwhitelist\n"]),
       st.lists(_text, max_size=5))
def test_sections_names_and_rules_like_the_regexes(head, lines):
    """Whatever the new reader accepts, the regex-defined grammar accepts the same way."""
    text = head + "\n".join(lines)
    try:
        pol = sp.parse_policy(text, "p")
    except ConfigError:
        return
    for rule in pol.rules:
        raw = text.splitlines()[rule.line - 1]
        body = _old_strip_comment(raw)
        if pol.version == 1:
            assert re.fullmatch(r"\d+", body)
            continue
        m = re.match(r"([^\s\[]+)\s*(.*)$", body)
        assert m is not None
        if m.group(1) != "reject_force_umount":
            assert m.group(1) == rule.name
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule.name)


def test_section_words():
    pol = sp.parse_policy("2\ndenylist\n[ X86_64 ]\nread\n[mips]\nwrite\n[all]\nopen\n")
    assert [(r.section, r.name) for r in pol.rules] == [("x86_64", "read"), ("all", "open")]
    for bad in ("[x86_64", "[]", "[x 86]", "[x86]]", "[nope]", "[x-86]"):
        try:
            sp.parse_policy(f"2\ndenylist\n{bad}\nread\n")
        except ConfigError as err:
            assert "unsupported architecture section" in str(err)
        else:
            raise AssertionError(bad)


def test_tuples_keep_their_shape():
    a = sp.ArgCmp(1, "eq", 2)
    assert a.mask == 0 and a == (1, "eq", 2, 0) and a._replace(mask=3).mask == 3
    r = sp.Rule("all", "read", None, 0, (a,), 3)
    assert r.args[0].index == 1 and r._fields[0] == "section"


def test_loading_a_policy_is_lean():
    code = (f"import sys; sys.path.insert(0, {ROOT!r})\n"
            "from lxcz.security import seccomp_bpf, seccomp_policy\n"
            "from lxcz.sys import seccomp\n"
            "seccomp_bpf.compile_policy(seccomp_policy.parse_policy("
            "'2\\ndenylist\\nreject_force_umount\\n[all]\\nkexec_load errno 1\\n'))\n"
            "seccomp.prepare()\n"
            "print(sorted({'re', 'typing', 'enum', 'ctypes', 'subprocess'}"
            " & set(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


def _reference_assemble(items):
    """The fixpoint formulation: add trampolines until no jump needs a new one."""
    from lxcz.security.seccomp_bpf import BPF_JA

    far = {}
    while True:
        labels, pos, p = {}, {}, 0
        for i, item in enumerate(items):
            if item[0] == "L":
                labels[item[1]] = p
                continue
            pos[i] = p
            p += 1 + sum(far.get(i, ()))
        changed = False
        for i, item in enumerate(items):
            if item[0] != "J":
                continue
            flags = far.setdefault(i, [False, False])
            base = pos[i] + 1 + sum(flags)
            for n, target in enumerate(item[3:5]):
                if target is not None and not flags[n] and labels[target] - base > 255:
                    flags[n] = changed = True
        if not changed:
            break
    out = []
    for i, item in enumerate(items):
        if item[0] == "L":
            continue
        if item[0] == "S":
            out.append((item[1], 0, 0, item[2]))
            continue
        here, flags = pos[i], far[i]
        after, slot, offs, tramps = here + 1 + sum(flags), here + 1, [], []
        for n, target in enumerate(item[3:5]):
            dest = after if target is None else labels[target]
            if flags[n]:
                offs.append(slot - (here + 1))
                tramps.append((BPF_JA, 0, 0, dest - (slot + 1)))
                slot += 1
            else:
                offs.append(dest - (here + 1))
        out.append((item[1], offs[0], offs[1], item[2]))
        out.extend(tramps)
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("SJL"), st.integers(0, 400), st.integers(0, 400),
                          st.booleans()), min_size=1, max_size=60))
def test_one_pass_assembler_equals_the_fixpoint(ops):
    """Random programs of forward jumps over runs of up to 400 instructions, so that
    many need trampolines (and trampolines push other jumps over the limit)."""
    from lxcz.security.seccomp_bpf import BPF_JEQ, _Asm

    asm = _Asm()
    pending = []  # labels still to place
    for kind, a, b, flag in ops:
        if kind == "S":
            for _ in range(a):
                asm.ret(b)
        elif kind == "J":
            jt, jf = asm.label(), (asm.label() if flag else None)
            asm.jmp(BPF_JEQ, a, jt, jf)
            pending += [x for x in (jt, jf) if x is not None]
        elif pending:
            asm.place(pending.pop(b % len(pending)))
    for lab in pending:
        asm.ret(0)
        asm.place(lab)
    asm.ret(1)
    assert asm.assemble() == _reference_assemble(asm.items)


def test_backward_jump_is_refused():
    from lxcz.security.seccomp_bpf import BPF_JEQ, _Asm

    asm = _Asm()
    lab = asm.label()
    asm.place(lab)
    asm.jmp(BPF_JEQ, 1, lab, None)
    asm.ret(0)
    try:
        asm.assemble()
    except AssertionError as err:
        assert "backward" in str(err)
    else:
        raise AssertionError("no error")
