"""NodeList host lists: every documented form, edge cases, garbage, and the never-raises property."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ehpc_rerun.nodes import MAX_HOSTS, SEPARATORS, ParsedNodes, parse_node_list


def hosts(text: object) -> set[str]:
    parsed = parse_node_list(text)
    assert parsed.problems == (), parsed.problems
    return set(parsed.hosts)


# --- plain lists ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "compute0,compute1",
        "compute0 compute1",
        "compute0, compute1",
        " compute0\tcompute1\n",
        "compute0,,compute1,",
    ],
)
def test_comma_and_white_space_separated_lists(text: str) -> None:
    # given a list separated by commas and/or white space, when parsed, then both hosts and no problem
    assert hosts(text) == {"compute0", "compute1"}


@pytest.mark.parametrize("text", [None, "", "   ", "(null)", "None", "N/A"])
def test_no_nodes_is_an_empty_set_without_problems(text: str | None) -> None:
    # given what a scheduler writes for a job that has no nodes yet
    parsed = parse_node_list(text)
    # then nothing is read and nothing is wrong
    assert parsed == ParsedNodes(frozenset(), ())
    assert parsed.complete


def test_fully_qualified_names_and_underscores_are_kept_as_written() -> None:
    assert hosts("compute0.ehpc.local,Rack_1-Node2") == {"compute0.ehpc.local", "Rack_1-Node2"}


# --- Slurm hostlist expressions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("compute[0-3,7]", {"compute0", "compute1", "compute2", "compute3", "compute7"}),
        ("node[01-03]", {"node01", "node02", "node03"}),
        ("node[008-011]", {"node008", "node009", "node010", "node011"}),
        ("node[8-11]", {"node8", "node9", "node10", "node11"}),
        ("node[007]", {"node007"}),
        ("rack[1-2]-node[1-2]", {"rack1-node1", "rack1-node2", "rack2-node1", "rack2-node2"}),
        ("a[1-2],b3", {"a1", "a2", "b3"}),
        ("tux[0-1,12] login", {"tux0", "tux1", "tux12", "login"}),
        ("n[1-2]-ib", {"n1-ib", "n2-ib"}),
        ("[1-2]", {"1", "2"}),
        ("tux[2,1-2]", {"tux1", "tux2"}),
    ],
)
def test_slurm_ranges_expand(text: str, expected: set[str]) -> None:
    # given a Slurm hostlist expression, when parsed, then exactly the hosts it names
    assert hosts(text) == expected


def test_two_groups_of_a_hundred_expand_to_ten_thousand_hosts_exactly() -> None:
    # given rack[00-99]-n[00-99]: 10 000 hosts, the cap itself
    parsed = parse_node_list("rack[00-99]-n[00-99]")
    # then all are read and nothing is reported
    assert len(parsed.hosts) == MAX_HOSTS
    assert parsed.problems == ()
    assert {"rack00-n00", "rack99-n99", "rack42-n07"} <= parsed.hosts


# --- PBS exec_host and exec_vnode ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("compute0/0*4+compute1/0*4", {"compute0", "compute1"}),
        ("compute0/0+compute0/1", {"compute0"}),
        ("compute0/0", {"compute0"}),
        ("compute0/0*2+compute1/0*2+compute2/1", {"compute0", "compute1", "compute2"}),
        ("(vnodeA:ncpus=2:mem=1gb)+(vnodeB:ncpus=1:mem=2gb+vnodeC:mem=4gb)", {"vnodeA", "vnodeB", "vnodeC"}),
        ("(vnodeA:ncpus=4)+(vnodeB)", {"vnodeA", "vnodeB"}),
        ("(host1[0]:ncpus=4)+(host1[1]:ncpus=4)", {"host1"}),
    ],
)
def test_pbs_exec_host_and_exec_vnode(text: str, expected: set[str]) -> None:
    # given PBS's exec_host (host/slot*cpus joined by +) or exec_vnode chunks, then the hosts
    assert hosts(text) == expected


# --- garbage: what can be read, plus the reasons --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "readable", "problem"),
    [
        ("a[1-2", set(), "unbalanced ["),
        ("ok1,a[1-2", {"ok1"}, "unbalanced ["),
        ("a]b,c", {"c"}, "unbalanced or nested brackets"),
        ("n[[1-2]],m1", {"m1"}, "unbalanced or nested brackets"),
        ("n[5-3],m1", {"m1"}, "reversed range 5-3"),
        ("n[1,5-3,7]", {"n1", "n7"}, "reversed range 5-3"),
        ("n[],m1", {"m1"}, "not a range"),
        ("n[1-],m1", {"m1"}, "not a range"),
        ("n[a-b],m1", {"m1"}, "not a range"),
        ("n[1-2:2]", set(), "not a range"),
        ("bgl[123x456]", set(), "3-D ranges"),
        ("n[99999999999999999999],m1", {"m1"}, "not a range"),
        ("ok,nodé1", {"ok"}, "not a host name"),
        ("ok,ncpus=4", {"ok"}, "not a host name"),
        ("ok,/0*4", {"ok"}, "no host name"),
        ("(a:ncpus=1)(b:ncpus=1),c", {"c"}, "not a PBS chunk"),
        ("(a:ncpus=1", set(), "unbalanced ("),
        ("a)b,c", {"c"}, "not a host name"),
        ("x" * 300 + ",ok", {"ok"}, "not a host name"),
        ("n" * 250 + "[1-1000]", set(), "longer than 253"),
        ("a[1][2][3][4][5][6][7][8][9]", set(), "more than 8 bracket groups"),
    ],
)
def test_garbage_is_reported_and_the_rest_is_read(text: str, readable: set[str], problem: str) -> None:
    # given a node list with something no scheduler writes
    parsed = parse_node_list(text)
    # then the readable hosts are returned and the reason is given, never an exception
    assert set(parsed.hosts) == readable
    assert not parsed.complete
    assert any(problem in p for p in parsed.problems), parsed.problems


def test_an_absurd_range_stops_at_the_cap_quickly_and_says_so() -> None:
    # given a range of a billion hosts
    started = time.monotonic()
    parsed = parse_node_list("n[0-999999999],last1")
    # then exactly MAX_HOSTS are read, the rest is reported as not read, in well under a second
    assert len(parsed.hosts) == MAX_HOSTS
    assert parsed.problems == (f"more than {MAX_HOSTS} hosts: the rest of the node list was not read",)
    assert "last1" not in parsed.hosts
    assert time.monotonic() - started < 2


def test_a_smaller_cap_can_be_asked_for() -> None:
    parsed = parse_node_list("n[1-5]", max_hosts=3)
    assert len(parsed.hosts) == 3
    assert "more than 3 hosts" in parsed.problems[0]


def test_endless_duplicates_stop() -> None:
    # given a name whose groups spell the same hosts over and over
    parsed = parse_node_list("a" + "[1-1,1-1,1-1,1-1,1-1]" * 7)  # 5**7 spellings of one host
    # then the one host is read, and the endless repetition is reported
    assert parsed.hosts == frozenset({"a1111111"})
    assert any("repeats hosts" in p for p in parsed.problems)


def test_problems_are_capped_with_a_count_of_the_rest() -> None:
    parsed = parse_node_list(",".join(f"bad{i}é" for i in range(50)))
    assert parsed.hosts == frozenset()
    assert len(parsed.problems) == 21
    assert parsed.problems[-1] == "... and 30 more problems"


@pytest.mark.parametrize("value", [42, ["a", "b"], {"a": 1}, b"compute0"])
def test_a_node_list_that_is_not_text_is_a_problem_not_an_exception(value: object) -> None:
    parsed = parse_node_list(value)
    assert parsed.hosts == frozenset()
    assert parsed.problems == (f"the node list is a {type(value).__name__}, not text",)


def test_problem_messages_are_short_and_encodable() -> None:
    # given a lone surrogate and a huge token
    parsed = parse_node_list("\ud800[1-2]," + "y" * 100_000 + "é")
    # then each message is short and can be written to a UTF-8 log line
    assert len(parsed.problems) == 2
    for problem in parsed.problems:
        assert len(problem) < 200
        problem.encode("utf-8")


# --- properties -----------------------------------------------------------------------------------

PROPERTY = settings(max_examples=400, deadline=None)
# text built from the characters the forms use, so that hypothesis reaches the interesting paths
node_list_alphabet = st.sampled_from([*"abn0123456789-_.,+[]()/*:= \t\nx", "\ud800", "é", "\x00"])


def check(parsed: ParsedNodes) -> None:
    assert isinstance(parsed.hosts, frozenset)
    assert len(parsed.hosts) <= MAX_HOSTS
    for host in parsed.hosts:
        assert host, "a host is never empty"
        assert not (set(host) & SEPARATORS), host
        assert not any(ch.isspace() for ch in host), host
        assert len(host) <= 253
        host.encode("ascii")
    for problem in parsed.problems:
        problem.encode("utf-8")


@PROPERTY
@given(text=st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    check(parse_node_list(text))


@PROPERTY
@given(text=st.text(alphabet=node_list_alphabet, max_size=120))
def test_text_made_of_hostlist_characters_never_raises(text: str) -> None:
    check(parse_node_list(text))


@PROPERTY
@given(
    names=st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), min_size=1, max_size=20),
    separator=st.sampled_from([",", " ", ", ", "+", "\n"]),
)
def test_a_plain_list_of_valid_names_reads_back_exactly(names: list[str], separator: str) -> None:
    # given valid host names joined by any accepted separator, then exactly those names, no problem
    parsed = parse_node_list(separator.join(names))
    assert parsed.hosts == frozenset(names)
    assert parsed.problems == ()


@PROPERTY
@given(
    prefix=st.from_regex(r"[a-z]{1,6}", fullmatch=True),
    low=st.integers(0, 500),
    span=st.integers(0, 50),
    width=st.integers(1, 4),
)
def test_a_slurm_range_matches_its_definition(prefix: str, low: int, span: int, width: int) -> None:
    # given prefix[LOW-HIGH] with LOW zero padded to WIDTH digits
    low_text = f"{low:0{width}d}"
    parsed = parse_node_list(f"{prefix}[{low_text}-{low + span}]")
    # then each number from LOW to HIGH, padded to the width LOW was written with
    assert parsed.hosts == frozenset(f"{prefix}{n:0{len(low_text)}d}" for n in range(low, low + span + 1))
    assert parsed.problems == ()
