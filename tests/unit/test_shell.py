"""Remote commands quote every argument and never show a secret."""

from __future__ import annotations

from lbdeploy.scripts.shell import Raw, Secret, join, sh


def test_every_argument_is_quoted() -> None:
    cmd = sh("echo", "a b", "$(reboot)", "it's", 5)
    assert cmd.text() == "echo 'a b' '$(reboot)' 'it'\"'\"'s' 5"


def test_secret_is_revealed_only_in_the_text_that_runs() -> None:
    cmd = sh("chpasswd", Secret("p@ss word"))
    assert cmd.text() == "chpasswd 'p@ss word'"
    assert str(cmd) == "chpasswd ***"
    assert "p@ss" not in repr(Secret("p@ss"))


def test_join_uses_fixed_operators() -> None:
    cmd = join([sh("test", "-f", "/x y"), sh("cat", "/x y")])
    assert cmd.text() == "test -f '/x y' && cat '/x y'"
    assert sh("cat", "f", Raw("2>&1")).text() == "cat f 2>&1"
