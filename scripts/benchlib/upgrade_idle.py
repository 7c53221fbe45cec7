"""The upgrade-idle run (issue 12, "idle sessions move"): reactor and hybrid
hold SESSIONS idle logged-in sessions (ftpbench idle) across a live upgrade.

Once every session is logged in, the server gets SIGUSR2; its new
generation takes the sessions over the handover socket and the old one,
empty, exits. The hold goes on for at least TAIL_S seconds after that, and
ftpbench sends each held session a NOOP about once a second, so every
session answers NOOPs from a process of the new generation (the only one
left). The run passes when all SESSIONS sessions are still held at the end
with no error, the server log says each one moved in, and the old
generation was gone TAIL_S seconds before the hold ended.

Output: one line on the console, one in upgrade-idle.txt of the results
directory (the numbers, or why it failed; notes.txt too when it failed),
the server log in logs/."""
import os
import re
import signal
import subprocess
import time

from . import matrix, servers, table

SESSIONS = 1000
HOLD_S = 10  # the whole hold: the upgrade plus TAIL_S of NOOPs
TAIL_S = 3  # seconds of NOOPs at least after the old generation exits
RAMP_S = 60  # the most the logins may take
TAG = f"upgrade-idle@{SESSIONS}"
ARCHS = ("reactor", "hybrid")


def count(path, needle):
    with open(path, errors="replace") as f:
        return sum(1 for line in f if needle in line)


def wait_for(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def run(b, arch):
    """One upgrade-idle run of arch on b (run.Bench), when it applies."""
    if arch.split("+")[0] not in ARCHS or not matrix.selected(TAG, b.only):
        return
    label = f"ftpd-{arch}"
    conf = b.path("conf", f"{label}.upgrade-idle.conf")
    with open(conf, "w") as f:
        f.write(servers.ftpd_conf(arch, matrix.variant_keys(arch, b.variants), b.prefork_workers,
                                  b.pool_threads))
    port = free_port()
    log = b.path("logs", f"{label}.{TAG}.server.log")
    # The info level: each session's login and move in are log lines.
    cmd = servers.ftpd_cmd(b.ftpd, conf, arch, port, b.fix)
    cmd[cmd.index("--log-level") + 1] = "info"
    if not b.start_server(label, port, log, cmd):
        return
    old = b.server
    bench_log = b.path("logs", f"{label}.{TAG}.log")
    bcmd = [b.ftpbench, "--scenario", "idle", "--host", "127.0.0.1", "--port", str(port),
            "--sources", str(b.m.sources), "--timeout", str(b.m.op_timeout), "--label", label,
            "--csv", "--csv-header", "--sessions", str(SESSIONS), "--hold", str(HOLD_S)]
    why, row, moved, gone_s = "", None, 0, None
    with open(bench_log, "w") as err:
        p = subprocess.Popen(bcmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                             text=True, errors="replace")
        try:
            if not wait_for(lambda: count(log, " login anonymous") >= SESSIONS
                            or p.poll() is not None, RAMP_S):
                why = f"{count(log, ' login anonymous')} of {SESSIONS} logged in within {RAMP_S} s"
            elif p.poll() is not None:
                why = "ftpbench ended before the upgrade"
            else:
                t0 = time.monotonic()
                old.send_signal(signal.SIGUSR2)
                if wait_for(lambda: old.poll() is not None, HOLD_S - TAIL_S):
                    gone_s = time.monotonic() - t0
                else:
                    why = f"the old generation did not exit within {HOLD_S - TAIL_S} s"
            stdout, _ = p.communicate(timeout=HOLD_S + RAMP_S + 30)
        except BaseException:
            p.kill()
            p.wait()
            raise
    row = table.parse_ftpbench_csv(stdout)
    moved = count(log, "moved in from the old generation")
    with open(bench_log, "a") as f:
        f.write(stdout)
    held = int(table.num(row["sessions_held"]) or 0) if row else 0
    errors = int(table.num(row["errors"]) or 0) if row else -1
    if not why and row is None:
        why = "no result from ftpbench"
    if not why and (held != SESSIONS or errors != 0 or moved != SESSIONS):
        why = f"held {held} of {SESSIONS}, {errors} errors, {moved} moved in"
    # The old generation exited; stop_server ends the new one (same group).
    b.server = old
    b.stop_server()
    if why:
        b.note(label, TAG, why)
        line = f"{label:<16} {TAG:<22} failed: {why}"
    else:
        line = (f"{label:<16} {TAG:<22} {held} held, {moved} moved, 0 errors; old generation gone "
                f"{gone_s:.2f} s after SIGUSR2; NOOP p99 {row['noop_p99_ms']} ms")
    print("  " + line, flush=True)
    with open(b.path("upgrade-idle.txt"), "a") as f:
        f.write(line + "\n")


def free_port():
    from .run import free_port as free  # run.py imports this module: import late
    return free()
