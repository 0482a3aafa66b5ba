"""Raw HAProxy lines are split as HAProxy's parse_line() splits them, then judged.

Refusals in an inventory, with their place, are data/inventory_errors/raw_option_*.yaml.
"""

from __future__ import annotations

import sys

import pytest

from lbdeploy.inventory.haproxy import LINE_BREAKS, check_line, judge_line, split_words

# line as written → the words HAProxy passes to its keyword parsers
WORDS = [
    ("option httplog", ["option", "httplog"]),
    ("  timeout\tclient  5s  ", ["timeout", "client", "5s"]),
    ('"back"end x', ["backend", "x"]),
    ("'back'\"end\" x", ["backend", "x"]),
    (r"\x62ackend x", ["backend", "x"]),
    (r"back\ end x", ["back end", "x"]),
    (r"a\\b \#c \"d \'e", ["a\\b", "#c", '"d', "'e"]),
    (r"\1 \q", ["\\1", "\\q"]),
    ("'no \\x41 escape in single quotes'", ["no \\x41 escape in single quotes"]),
    ('"\\x41 and \\$ in double quotes"', ["A and $ in double quotes"]),
    (r"\$HOME $HOME", ["\\$HOME", "$HOME"]),
    ('"${HOME}" x', ["$", "x"]),
    ("acl a path_beg /x # a comment", ["acl", "a", "path_beg", "/x"]),
    ('set-header X "a # b"', ["set-header", "X", "a # b"]),
    ("x \\# y", ["x", "#", "y"]),
    ('""', [""]),
    ("", []),
]


@pytest.mark.parametrize(("line", "words"), WORDS, ids=[w[0] or "empty" for w in WORDS])
def test_words_are_decoded_as_haproxy_decodes_them(line: str, words: list[str]) -> None:
    assert [w.text for w in split_words(line)] == words


# line → why it may not go into a section (None: it stays inside)
VERDICTS = [
    ("backend evil", "starts a new 'backend' section"),
    ('"backend" evil', "starts a new 'backend' section"),
    (r"\x62ackend evil", "starts a new 'backend' section"),
    (r"\x42\x41\x43\x4bEND evil", "starts a new 'backend' section"),
    ("b'ack'end evil", "starts a new 'backend' section"),
    ("Listen evil", "starts a new 'listen' section"),
    ("no listen x", "starts a new 'listen' section"),
    ("default frontend x", "starts a new 'frontend' section"),
    ("log-forward x", "starts a new 'log-forward' section"),
    ("GLOBAL", "starts a new 'global' section"),
    ("defaults", "starts a new 'defaults' section"),
    ("userlist u", "starts a new 'userlist' section"),
    ("peers p", "starts a new 'peers' section"),
    ("resolvers dns", "starts a new 'resolvers' section"),
    ("crt-store s", "starts a new 'crt-store' section"),
    (".if defined(X)", "is the '.if' directive"),
    (".elif 1", "is the '.elif' directive"),
    (".else", "is the '.else' directive"),
    (".endif", "is the '.endif' directive"),
    (".diag x", "is the '.diag' directive"),
    (".notice x", "is the '.notice' directive"),
    (".warning x", "is the '.warning' directive"),
    (".alert x", "is the '.alert' directive"),
    (r"\x2eif 1", "is the '.if' directive"),
    ("[scope]", "starts with '[', which HAProxy reads as a new scope"),
    ('"$KEYWORD" x', "takes its keyword from an environment variable"),
    ('"opt"ion httplog', "writes its keyword '\"opt\"ion' with quotes or escapes"),
    ('option "unterminated', 'has an unmatched " quote'),
    (r"option \x4", "has a truncated or invalid \\x hexadecimal escape"),
    ('set-var "$1"', "has a '$' that starts no environment variable name"),
    ('set-var "${X"', "has an unmatched '{' in an environment variable"),
    ('option "" x', "has an empty quoted word"),
    (" ".join(["w"] * 65), "has more than 64 words"),
    ("option httplog", None),
    ("http-request deny if { path_beg /admin }", None),
    ("stick-table type ip size 1m peers mypeers", None),
    ("use_backend api if { path_beg /api }", None),
    ("option httpchk GET /backend", None),
    ("no option httplog", None),
    ("# only a comment", None),
    ('http-request set-header X "${HOSTNAME}"', None),
]


@pytest.mark.parametrize(("line", "verdict"), VERDICTS, ids=[v[0][:40] for v in VERDICTS])
def test_first_word_is_judged_as_haproxy_reads_it(line: str, verdict: str | None) -> None:
    found = judge_line(line)
    if verdict is None:
        assert found is None
    else:
        assert found is not None and found.startswith(verdict), found


@pytest.mark.parametrize("breaker", sorted(LINE_BREAKS), ids=lambda c: f"U+{ord(c):04X}")
def test_every_line_break_is_refused_anywhere_in_a_line(breaker: str) -> None:
    with pytest.raises(ValueError, match="give one option per item"):
        check_line(f"option httplog{breaker}backend evil")


def test_line_breaks_are_all_that_splitlines_splits_on() -> None:
    found = {chr(c) for c in range(sys.maxunicode + 1) if len(f"a{chr(c)}b".splitlines()) > 1}
    assert found == LINE_BREAKS


@pytest.mark.parametrize("char", ["\u200b", "\u202e", "\ufeff", "\xa0", "\u2060", "\ue000"])
def test_invisible_characters_are_refused(char: str) -> None:
    with pytest.raises(ValueError, match=f"non-printing character \\(U\\+{ord(char):04X}\\)"):
        check_line(f"option{char}httplog")
