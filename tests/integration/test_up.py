"""`lbdeploy up` on fresh lab nodes: converges, re-runs change nothing, edits reload only
what they must, bad configs never replace good ones, failover really moves the VIP.

The tests of this module share one converged pair and run in file order.
"""

from __future__ import annotations

import base64
import getpass
import re
import socket
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from lab import lab as labmod
from lbdeploy.remote.locks import machine_identity
from tests.integration.helpers import (
    VIP,
    lbdeploy,
    pids,
    run_in_pty,
    sh,
    sha,
    up_json,
    vip_holders,
    wait_for_holders,
    write_inventory,
)

HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"


def get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


@pytest.fixture(scope="module")
def inventory(lab: labmod.Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_inventory(tmp_path_factory.mktemp("up"), lab)


def test_check_on_fresh_nodes_changes_nothing(lab: labmod.Lab, inventory: Path) -> None:
    """Check mode works where the packages are not even installed yet."""
    labmod.reset_nodes(lab)
    result = lbdeploy("up", str(inventory), "--check", "--diff")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "install haproxy socat keepalived;" in result.stdout
    # Piped, as into a log: no colour codes, each step's sentence on one line.
    assert "\x1b[" not in result.stdout
    assert "install haproxy socat keepalived; add system user keepalived_script for" in (
        result.stdout
    )
    assert "+        auth_pass ***" in result.stdout
    assert "lab-vrrp" not in result.stdout and "lab-stats" not in result.stdout
    for node in ("hera", "afrodita"):
        assert sh(node, "ls /etc/haproxy /etc/keepalived 2>/dev/null; echo end") == "end\n"
        assert "lbdeploy.lock" not in sh(node, "ls /run")


@pytest.fixture(scope="module")
def first_run(lab: labmod.Lab, inventory: Path) -> dict:
    """Fresh nodes (nothing installed, new host keys), converged once."""
    labmod.reset_nodes(lab)
    code, report = up_json(inventory)
    assert code == 0, report
    return report


def test_up_converges_fresh_nodes_and_the_vip_serves_both_backends(first_run: dict) -> None:
    assert first_run["ok"]
    for node in ("hera", "afrodita"):
        steps = {s["step"]: s["status"] for s in first_run["nodes"][node]["steps"]}
        assert steps["packages"] == "changed" and steps["configs"] == "changed"
        assert steps["services"] == "changed"
    assert first_run["converged_after"] is not None and first_run["converged_after"] < 120
    assert vip_holders() == ["hera"]
    # A cold pair rolls its preferred master first: the VIP landed on hera and never
    # passed through afrodita (which, started first, would have taken it for a moment).
    assert "state=MASTER" not in sh("afrodita", "journalctl -t lbdeploy-vrrp -o cat --no-pager")
    seen = Counter(get(f"http://{VIP}/")[1].strip() for _ in range(10))
    assert set(seen) == {"web1", "web2"}, seen


def test_stats_page_needs_its_credentials(first_run: dict) -> None:
    url = f"http://{labmod.NODES[0].public_address}:8404/stats"
    assert get(url, ("admin", "lab-stats"))[0] == 200
    assert get(url)[0] == 401
    assert get(url, ("admin", "wrong"))[0] == 401


def test_configs_are_tight_and_secrets_are_not_printed(first_run: dict) -> None:
    for node in ("hera", "afrodita"):
        assert sh(node, f"stat -c '%a %U %G' {KEEPALIVED_CONF}").strip() == "640 root root"
        assert sh(node, f"stat -c '%a %U %G' {HAPROXY_CFG}").strip() == "640 root haproxy"
        assert sh(node, "stat -c '%a' /var/lib/lbdeploy /var/lib/lbdeploy/applied").split() == [
            "700",
            "600",
        ]
    text = str(first_run)
    assert "lab-vrrp" not in text and "lab-stats" not in text


def test_rerun_without_edits_changes_nothing(first_run: dict, inventory: Path) -> None:
    before = {n.name: pids(n.name) for n in labmod.NODES}
    code, report = up_json(inventory, "--stats")
    assert code == 0
    for node in ("hera", "afrodita"):
        assert report["nodes"][node]["changed"] == 0
        stats = report["nodes"][node]["stats"]
        assert stats["connections"] == 1 and stats["round_trips"] <= 2
    assert {n.name: pids(n.name) for n in labmod.NODES} == before


def test_backend_edit_reloads_haproxy_only(
    first_run: dict, lab: labmod.Lab, tmp_path: Path
) -> None:
    before = {n.name: pids(n.name) for n in labmod.NODES}
    keepalived_before = {n.name: sha(n.name, KEEPALIVED_CONF) for n in labmod.NODES}
    edited = write_inventory(tmp_path, lab, ("port: 8080}\n", "port: 8080, weight: 20}\n"))
    code, report = up_json(edited)
    assert code == 0, report
    for node in ("hera", "afrodita"):
        changed = [s for s in report["nodes"][node]["steps"] if s["status"] != "ok"]
        assert [(s["step"], s["status"]) for s in changed] == [
            ("configs", "changed"),
            ("services", "changed"),
        ]
        ok = [s["step"] for s in report["nodes"][node]["steps"] if s["status"] == "ok"]
        assert ok == ["platform", "network", "sysctl", "packages", "failsafe", "units"]
        detail = [s["detail"] for s in changed]
        assert detail[0] == f"update {HAPROXY_CFG}"
        assert detail[1].startswith("reload haproxy")
        assert "weight 20" in sh(node, f"cat {HAPROXY_CFG}")
        assert sha(node, KEEPALIVED_CONF) == keepalived_before[node]
        after = pids(node)
        # A reload keeps haproxy's master process; keepalived is not touched.
        assert after == before[node]
    assert "-rw-r-----" in sh("hera", f"ls -l {HAPROXY_CFG}.lbdeploy-bak")


def test_invalid_haproxy_config_keeps_running_one(
    first_run: dict, lab: labmod.Lab, tmp_path: Path
) -> None:
    live = {n.name: sha(n.name, HAPROXY_CFG) for n in labmod.NODES}
    before = {n.name: pids(n.name) for n in labmod.NODES}
    bad = write_inventory(
        tmp_path,
        lab,
        ("    health_check: /\n", "    health_check: /\n    options: [bogus-keyword 1]\n"),
    )
    result = lbdeploy("up", str(bad))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "failed validation" in output
    assert "unknown keyword 'bogus-keyword'" in output  # haproxy's own words
    for node in ("hera", "afrodita"):
        assert sha(node, HAPROXY_CFG) == live[node]
        assert pids(node) == before[node]
        assert sh(node, "ls -a /etc/haproxy").count("lbdeploy-new") == 0
    assert get(f"http://{VIP}/")[0] == 200


def test_config_that_fails_to_load_is_put_back_and_reported(
    first_run: dict, lab: labmod.Lab, tmp_path: Path
) -> None:
    """`haproxy -c` passes, but VIP:22 is taken by sshd: the reload fails at bind time.

    HAProxy keeps its old workers and systemd calls the reload a success; lbdeploy
    must notice, say so, and leave the live file matching what runs.
    """
    assert up_json(write_inventory(tmp_path, lab))[0] == 0  # the base inventory, converged
    live = {n.name: sha(n.name, HAPROXY_CFG) for n in labmod.NODES}
    ssh_service = (
        "  - name: ssh\n    port: 22\n    mode: tcp\n"
        "    servers:\n      - {name: web1, address: 172.29.150.21, port: 8080}\n"
    )
    path = write_inventory(tmp_path, lab)
    path.write_text(path.read_text() + ssh_service)
    result = lbdeploy("up", str(path))
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "Address already in use" in output  # haproxy's own words
    assert "haproxy kept running its previous config" in output
    for node in ("hera", "afrodita"):
        assert sha(node, HAPROXY_CFG) == live[node]
        assert "listen ssh" not in sh(node, f"cat {HAPROXY_CFG}")
    code, report = up_json(write_inventory(tmp_path, lab))
    assert code == 0, report
    for name, node in report["nodes"].items():
        assert node["changed"] == 0, (name, node["steps"])
    assert all(n["drift"] == [] for n in report["nodes"].values())
    assert get(f"http://{VIP}/")[0] == 200


def test_a_reload_that_fails_puts_back_nothing_this_run_did_not_write(
    first_run: dict, lab: labmod.Lab, tmp_path: Path
) -> None:
    """A graceful restart replaces no file: when the reload fails, the live file stays.

    Two runs leave `haproxy.cfg.lbdeploy-bak` holding the config of two runs ago; a hand
    edit that passes `haproxy -c` but cannot bind (VIP:22 is sshd's) then makes the
    reload of `restart` fail. Putting the backup back would silently roll the node back.
    """
    base = write_inventory(tmp_path, lab)
    assert up_json(base)[0] == 0
    edited = write_inventory(tmp_path, lab, ("port: 8080}\n", "port: 8080, weight: 30}\n"))
    assert up_json(edited)[0] == 0
    bad = "\nlisten handedit\n    mode tcp\n    bind " + VIP + ":22\n    server s 127.0.0.1:9\n"
    sh("hera", f"printf '%s' '{bad}' >> {HAPROXY_CFG}")
    hand_edited = sha("hera", HAPROXY_CFG)
    result = lbdeploy("restart", str(edited), "--node", "hera", "--service", "haproxy")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "the config on disk did not load" in output
    assert "left as it is" in output
    assert sha("hera", HAPROXY_CFG) == hand_edited  # not the backup of two runs ago
    assert "weight 30" in sh("hera", f"cat {HAPROXY_CFG}")
    # The next `up` sees the hand edit as drift and puts the inventory's config back.
    code, report = up_json(edited)
    assert code == 0, report
    assert "listen handedit" not in sh("hera", f"cat {HAPROXY_CFG}")
    assert get(f"http://{VIP}/")[0] == 200


def test_drift_is_reported_and_put_right(first_run: dict, inventory: Path) -> None:
    sh("hera", f"sed -i 's/timeout client 50s/timeout client 5s/' {HAPROXY_CFG}")
    code, report = up_json(inventory)
    assert code == 0
    assert report["nodes"]["hera"]["drift"] == [HAPROXY_CFG]
    assert "timeout client 50s" in sh("hera", f"cat {HAPROXY_CFG}")
    code, report = up_json(inventory)
    assert report["nodes"]["hera"]["drift"] == [] and report["nodes"]["hera"]["changed"] == 0


def test_older_priorities_are_raised_masters_first_and_no_vip_moves(
    first_run: dict, inventory: Path
) -> None:
    """A pair running lbdeploy's former priorities (101, 100): `up` reloads hera first,
    so afrodita's new 253 never outranks a running 101 and the VIP stays put."""
    for node, new, old in (("afrodita", 253, 100), ("hera", 254, 101)):  # never outranked
        sh(node, f"sed -i 's/priority {new}$/priority {old}/' {KEEPALIVED_CONF}")
        sh(node, "systemctl reload keepalived")
    assert vip_holders() == ["hera"]
    since = sh("hera", "date +%s").strip()  # whole seconds: the setup's reloads may share it
    code, report = up_json(inventory)
    assert code == 0, report
    for node, new in (("hera", 254), ("afrodita", 253)):
        assert report["nodes"][node]["drift"] == [KEEPALIVED_CONF]
        assert f"priority {new}\n" in sh(node, f"cat {KEEPALIVED_CONF}")
    reloaded = {
        node: float(
            sh(
                node,
                f"journalctl -u keepalived -o short-unix --no-pager --since @{since}"
                " | grep 'Reloading keepalived' | tail -1 | cut -d' ' -f1",  # up's, the last
            )
        )
        for node in ("hera", "afrodita")
    }
    assert reloaded["hera"] < reloaded["afrodita"], reloaded
    log = sh("afrodita", f"journalctl -t lbdeploy-vrrp -o cat --no-pager --since @{since}")
    assert "state=MASTER" not in log
    assert vip_holders() == ["hera"]


def test_check_diff_shows_masked_diff_and_changes_nothing(first_run: dict, lab, tmp_path) -> None:
    edited = write_inventory(
        tmp_path, lab, ("auth_pass: lab-vrrp", "auth_pass: new-pass\n  advert_int: 2")
    )
    live = sha("hera", KEEPALIVED_CONF)
    result = lbdeploy("up", str(edited), "--check", "--diff")
    assert result.returncode == 0, result.stderr
    assert "would change" in result.stdout
    assert "keepalived.conf (lbdeploy)" in result.stdout
    assert "-    advert_int 1\n+    advert_int 2" in result.stdout
    assert "new-pass" not in result.stdout and "lab-vrrp" not in result.stdout
    assert sha("hera", KEEPALIVED_CONF) == live


def test_unknown_host_key_stops_before_any_change(first_run: dict, lab, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(lab.known_hosts.read_text().splitlines()[0] + "\n")  # only hera's key
    edited = write_inventory(tmp_path, lab, ("port: 8080}\n", "port: 8080, weight: 30}\n"))
    edited.write_text(edited.read_text().replace(str(lab.known_hosts), str(known)))
    live = sha("hera", HAPROXY_CFG)
    result = lbdeploy("up", str(edited))
    assert result.returncode == 1
    assert "host key of [127.0.0.1]:2202 is not in" in result.stdout
    assert "nothing was changed" in result.stdout
    assert sha("hera", HAPROXY_CFG) == live
    assert "lbdeploy.lock" not in sh("hera", "ls /run")


def test_unreachable_node_stops_before_any_change(first_run: dict, lab, tmp_path: Path) -> None:
    edited = write_inventory(tmp_path, lab, ("port: 2202,", "port: 2299,"))
    result = lbdeploy("up", str(edited))
    assert result.returncode == 1
    assert "afrodita" in result.stdout and "cannot reach deploy@127.0.0.1:2299" in result.stdout


def test_second_run_is_refused_while_a_lock_is_held(first_run: dict, inventory: Path) -> None:
    sh(
        "afrodita",
        "mkdir /run/lbdeploy.lock && echo 'alice@ops pid 42' > /run/lbdeploy.lock/holder",
    )
    result = lbdeploy("up", str(inventory))
    assert result.returncode == 1
    assert "holds the node's lock (alice@ops pid 42)" in result.stdout
    unlocked = lbdeploy("unlock", str(inventory), "--node", "afrodita")
    assert unlocked.returncode == 0 and "removed the lock of alice@ops pid 42" in unlocked.stdout
    assert up_json(inventory)[0] == 0


def test_missing_interface_address_is_brought_up(first_run: dict, inventory: Path) -> None:
    """ifup runs only when the address is missing, and the result is judged by the interface."""
    sh("afrodita", "ip addr del 172.29.150.12/24 dev eth1")
    code, report = up_json(inventory, "--node", "afrodita")
    assert code == 0, report
    steps = {
        s["step"]: s["detail"] for s in report["nodes"]["afrodita"]["steps"] if s["status"] != "ok"
    }
    assert steps == {"network": "bring up eth1 with 172.29.150.12"}
    assert "inet 172.29.150.12/24" in sh("afrodita", "ip -4 -o addr show dev eth1")
    assert "hera" not in report["nodes"]


def test_lock_of_a_dead_run_from_this_machine_is_taken_over(first_run: dict, inventory) -> None:
    """A run killed mid-way (e.g. its connection dropped) must not block the next one."""
    pid = 2**22 + 7  # above the largest pid_max Linux allows: no process has it
    machine = machine_identity()
    assert machine is not None, "this machine has no machine-id: a killed run's lock needs unlock"
    holder = (
        f"{getpass.getuser()}@{socket.gethostname()} pid {pid} since 2026-01-01T00:00:00Z"
        f" machine {machine}"
    )
    sh("hera", f"mkdir /run/lbdeploy.lock && echo '{holder}' > /run/lbdeploy.lock/holder")
    code, report = up_json(inventory)
    assert code == 0, report
    lock_steps = [s for s in report["nodes"]["hera"]["steps"] if s["step"] == "lock"]
    assert lock_steps and "took over the lock of a dead run" in lock_steps[0]["detail"]
    assert "lbdeploy.lock" not in sh("hera", "ls /run")


def test_restart_touches_only_the_named_node(first_run: dict, inventory: Path) -> None:
    before = {n.name: pids(n.name) for n in labmod.NODES}
    refused = lbdeploy("restart", str(inventory))
    assert refused.returncode == 2 and "--all" in refused.stderr
    result = lbdeploy("restart", str(inventory), "--node", "afrodita", "--hard")
    assert result.returncode == 0, result.stdout + result.stderr
    after = {n.name: pids(n.name) for n in labmod.NODES}
    assert after["hera"] == before["hera"]
    assert after["afrodita"]["haproxy"] != before["afrodita"]["haproxy"]
    assert after["afrodita"]["keepalived"] != before["afrodita"]["keepalived"]
    wait_for_holders(["hera"], timeout=10)


def test_password_sudo_user_is_asked_once(first_run: dict, lab, tmp_path: Path) -> None:
    edited = write_inventory(tmp_path, lab, ("  user: deploy", "  user: ops"))
    refused = lbdeploy("up", str(edited))
    assert refused.returncode == 1 and "--ask-become-pass" in refused.stdout
    result = lbdeploy("up", str(edited), "-K", stdin=labmod.OPS_PASSWORD + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert labmod.OPS_PASSWORD not in result.stdout + result.stderr


def test_sudo_password_never_reaches_a_shell_on_a_nopasswd_node(first_run: dict, inventory) -> None:
    """deploy's sudo asks for nothing: the password must not be read by the root shell."""
    password = "hunter2$(touch /tmp/lbdeploy-pwned)"
    for node in ("hera", "afrodita"):
        sh(node, "rm -f /tmp/lbdeploy-pwned")
    result = lbdeploy("up", str(inventory), "-K", stdin=password + "\n")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "hunter2" not in output
    for node in ("hera", "afrodita"):
        assert sh(node, "ls /tmp/lbdeploy-pwned 2>/dev/null; echo end") == "end\n"


def test_a_wrong_sudo_password_is_one_clear_failure(first_run: dict, lab, tmp_path: Path) -> None:
    edited = write_inventory(tmp_path, lab, ("  user: deploy", "  user: ops"))
    live = sha("hera", HAPROXY_CFG)
    result = lbdeploy("up", str(edited), "-K", stdin="not-the-password\n")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert output.count("the sudo password was refused for user ops") == 2  # one per node
    assert "not-the-password" not in output
    assert "nothing was changed" in output
    assert sha("hera", HAPROXY_CFG) == live


@pytest.mark.destructive
def test_vip_moves_when_haproxy_dies_and_comes_back(first_run: dict) -> None:
    wait_for_holders(["hera"], timeout=10)
    sh("hera", "systemctl stop haproxy")
    try:
        moved = wait_for_holders(["afrodita"], timeout=5)
        assert get(f"http://{VIP}/")[0] == 200
    finally:
        sh("hera", "systemctl start haproxy")
    back = wait_for_holders(["hera"], timeout=15)
    print(f"failover {moved:.2f} s, failback {back:.2f} s")


@pytest.mark.destructive
def test_a_terminal_sees_the_package_step_run_live(lab: labmod.Lab, inventory: Path) -> None:
    """Under a pseudo-terminal, a cold `up` shows each node's running package step with its
    seconds counting up, then the finished line; nothing of it reaches a log (see above)."""
    labmod.reset_nodes(lab)
    code, text = run_in_pty(["up", str(inventory)], timeout=300)
    assert code == 0, text[-2000:]
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    seconds = {
        int(m.group(2)) for m in re.finditer(r"(hera|afrodita) +packages +running (\d+) s", plain)
    }
    assert len(seconds) >= 3 and max(seconds) >= 3, plain[-3000:]  # it counted up, live
    done = re.search(r"hera +packages +changed", plain)
    assert done is not None, plain[-3000:]
    running = [m.start() for m in re.finditer(r"hera +packages +running", plain)]
    assert running and running[0] < done.start(), plain[-3000:]
