"""results.csv: its columns, and the markdown tables and gnuplot data made
from it.

COLUMNS is the CSV schema, the one list the run's writer (append_row) and
the table's reader (read_rows) use; ftpbench prints the same header
(src/bench/report.c, checked by tests/scripts/test_benchlib.py).

A row's run is its scenario, except two that ftpbench runs as login and
idle: "login-account" (a login as a user other than anonymous/ftp) and
"idle-logins" (idle with background logins), and the FTPS runs
(ftpbench --tls, the "tls" column): "tls-" and the run's name, e.g.
"tls-login"; see run_name().

render() makes results.md: one table per scenario family (rows: ftpd
back-ends, then the other servers; columns: scenario@concurrency), then
"Ratios": the targets below computed from this one run, each with ✓ or ✗,
then what was not run. write_plot_data() writes the files
scripts/bench-plot.gp draws (login.dat, idle.dat, big.dat;
whitespace-separated, NaN = not run).
"""

import argparse
import csv
import math
import os
import sys

from .servers import SERVERS

# ftpbench --csv: one row per run.
COLUMNS = [
    "label", "scenario", "concurrency", "duration_s", "ops", "errors", "ops_per_s",
    "mb_per_s", "p50_ms", "p99_ms", "max_ms", "sessions_held", "noop_p50_ms",
    "noop_p99_ms", "mem_before_kib", "mem_held_kib", "bytes_per_session",
    "slow_clients", "slow_ops", "user", "bg_logins", "bg_login_p99_ms",
    "procs", "slab_delta_kib", "sunreclaim_delta_kib", "tcp_mem_delta_kib",
    "kernel_bytes_per_session", "tls",
]
# The headers of older results.csv files, which still read with the new
# fields empty: before user/bg_logins/bg_login_p99_ms (docs/bench-results.csv),
# before procs and the kernel's memory, and before tls.
OLD_COLUMNS = (COLUMNS[:19], COLUMNS[:22], COLUMNS[:27])


class SchemaError(ValueError):
    """A CSV header that is not COLUMNS."""


def check_header(header, old_ok=False):
    if list(header) == COLUMNS or (old_ok and list(header) in OLD_COLUMNS):
        return
    raise SchemaError("CSV header is not benchlib.table.COLUMNS: got %s" % ",".join(header))


def parse_ftpbench_csv(text):
    """ftpbench --csv --csv-header's stdout (a summary for people, then the
    header and one row): the row as a dict of COLUMNS, or None."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("label,scenario,"):
            if i + 1 >= len(lines) or not lines[i + 1]:
                return None
            header, row = list(csv.reader([line, lines[i + 1]]))
            check_header(header)
            return dict(zip(COLUMNS, row + [""] * (len(COLUMNS) - len(row))))
    return None


def append_row(path, row):
    """Append a row (a dict of COLUMNS) to the CSV at path, writing the
    header first when the file is empty."""
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n", extrasaction="raise")
        if new:
            w.writeheader()
        w.writerow(row)


def read_rows(path):
    """Every row of a results.csv, as dicts of COLUMNS."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        check_header(reader.fieldnames or [], old_ok=True)
        return [dict({c: "" for c in COLUMNS}, **row) for row in reader]


# The targets, all measured within one run. Edit them here.
# (numerator label, denominator label, scenario, concurrency, minimum ratio),
# compared on ops/s (MB/s for retr-big).
# The targets of the benchmark issue, measured as ratios in one run.
RATE_TARGETS = [
    ("ftpd-hybrid", "pyftpdlib", "login", 128, 2.0),
    ("ftpd-hybrid", "vsftpd", "login", 128, 25.0),
    ("ftpd-reactor", "pyftpdlib", "login", 128, 1.5),
    ("ftpd-prefork", "vsftpd", "login", 128, 10.0),
    ("ftpd-threadpool", "vsftpd", "login", 128, 10.0),
    ("ftpd-process", "vsftpd", "login", 128, 1.5),
    ("ftpd-hybrid", "pyftpdlib", "retr-small", 16, 3.0),
    ("ftpd-hybrid", "pure-ftpd", "retr-small", 16, 8.0),
    ("ftpd-hybrid", "pure-ftpd", "retr-persistent", 16, 1.3),
    ("ftpd-hybrid", "pure-ftpd", "list", 16, 2.0),
    ("ftpd-hybrid", "vsftpd", "stor-small", 16, 5.0),
    # Adaptive pools (matrix.pool_plan): the defaults keep up with a pool
    # sized by hand to the load.
    ("ftpd-prefork+defaults", "ftpd-prefork+sized", "login", 1024, 0.8),
    ("ftpd-prefork+defaults", "ftpd-prefork+sized", "retr-small", 128, 0.8),
    ("ftpd-threadpool+defaults", "ftpd-threadpool+sized", "login", 1024, 0.8),
    ("ftpd-threadpool+defaults", "ftpd-threadpool+sized", "retr-small", 128, 0.8),
]
# FTPS (ftpbench --tls), the targets of issue 11, against vsftpd with TLS.
TLS_TARGETS = [
    ("ftpd-hybrid", "vsftpd", "tls-login", 128, 10.0),
    ("ftpd-hybrid", "vsftpd", "tls-retr-small", 16, 5.0),
]
# Every back-end against vsftpd (which uses sendfile) on a large file, sent
# (retr-big) and received (stor-big), and sent over TLS (tls-retr-big: both
# encrypt in user space, no kernel TLS here).
BIG_TARGET = 0.95
BIG_SCENARIOS = ("retr-big", "stor-big", "tls-retr-big")
TLS_PREFIX = "tls-"
# Idle sessions while logins with the yescrypt account run: (label,
# sessions, logins/s asked, max NOOP p99 ms). The logins must have run at
# LOGIN_RATE_SHARE of the rate asked at least, or the p99 proves nothing.
IDLE_LOGINS_TARGETS = [
    ("ftpd-reactor", 1000, 20, 5.0),
    ("ftpd-hybrid", 1000, 20, 5.0),
]
LOGIN_RATE_SHARE = 0.9
ANONYMOUS = ("", "anonymous", "ftp")
# Idle sessions: (label, sessions, max bytes per session, max NOOP p99 ms).
IDLE_TARGETS = [
    ("ftpd-reactor", 10000, 1024, 1.0),
    ("ftpd-hybrid", 10000, 1024, 1.0),
    ("ftpd-thread", 5000, 16 * 1024, 1.0),
    ("ftpd-threadpool", 10000, 2048, 1.0),
    # The scale run (matrix.SCALE_SESSIONS): hybrid with a worker per 15,000.
    ("ftpd-hybrid", 100000, 1024, 2.0),
]
# The rows of the pool phase (matrix.pool_plan) run only its two scenarios.
POOL_SUFFIXES = ("+defaults", "+sized")
# The rows of the HAProxy phase (matrix.haproxy_plan): two scenarios too.
HAPROXY_SUFFIXES = ("+haproxy1", "+haproxy2")
# Slow clients: fast clients' rate with the trickling ones / retr-small@16.
SLOW_TARGETS = [("ftpd-reactor", 0.8), ("ftpd-hybrid", 0.8)]


def num(value):
    """A CSV field as a float, None when empty or not a number."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def label_order(labels):
    """ftpd's back-ends in the order they ran (the order of ftpd
    --list-archs), then the other servers in SERVERS order, then the rest."""
    ftpd = [lab for lab in labels if lab.startswith("ftpd-")]
    others = [lab for lab in SERVERS if lab in labels]
    rest = [lab for lab in labels if lab not in ftpd and lab not in others]
    return ftpd + others + rest


def fmt(x, digits=0):
    if x is None:
        return "—"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def fmt_bytes(x):
    if x is None:
        return "—"
    if x >= 1024 * 1024:
        return f"{x / 1048576:.1f} MiB"
    if x >= 1024:
        return f"{x / 1024:.1f} KiB"
    return f"{x:.0f} B"


def headline_field(scen):
    """The column a run is judged by: MB/s for the large files, else ops/s."""
    return "mb_per_s" if scen in BIG_SCENARIOS else "ops_per_s"


def run_name(row):
    """The run a row belongs to: its scenario, or "login-account" for a login
    with an account, or "idle-logins" for idle with background logins;
    prefixed with "tls-" when it ran over TLS."""
    scen = row.get("scenario", "")
    if scen == "login" and (row.get("user") or "") not in ANONYMOUS:
        scen = "login-account"
    elif scen == "idle" and (row.get("bg_logins") or "") != "":
        scen = "idle-logins"
    if scen and (row.get("tls") or "") == "yes":
        return TLS_PREFIX + scen
    return scen


def median_row(rows, scen):
    """Of the repeats of one run, the median by its headline rate (the lower
    middle one for an even count): a whole row, so its other columns stay
    consistent with each other."""
    field = headline_field(scen)
    ordered = sorted(rows, key=lambda r: num(r.get(field)) or 0.0)
    return ordered[(len(ordered) - 1) // 2]


class Results:
    def __init__(self, rows):
        """rows: dicts of COLUMNS (read_rows), in the order they ran."""
        runs = {}  # (label, scenario, n) -> every row of that run
        self.rows = {}  # (label, scenario, n) -> the median row
        self.labels = []
        for row in rows:
            label = row.get("label", "")
            scen = run_name(row)
            n = self.group_n(row)
            if not label or not scen or n is None:
                continue
            runs.setdefault((label, scen, n), []).append(row)
            if label not in self.labels:
                self.labels.append(label)
        self.labels = label_order(self.labels)
        # The noisiest runs are repeated: keep the median one.
        for key, rows_of_run in runs.items():
            self.rows[key] = median_row(rows_of_run, key[1])

    @classmethod
    def from_csv(cls, path):
        return cls(read_rows(path))

    @staticmethod
    def group_n(row):
        """Concurrency, or for idle the number of sessions asked for."""
        n = num(row.get("concurrency"))
        if run_name(row) in ("idle", TLS_PREFIX + "idle"):
            held = num(row.get("sessions_held"))
            if (n is None or n <= 1) and held is not None:
                n = held
        return None if n is None else int(n)

    def get(self, label, scen, n):
        return self.rows.get((label, scen, n))

    def ns(self, scen):
        return sorted({n for (_, s, n) in self.rows if s == scen})

    def value(self, label, scen, n, field):
        row = self.get(label, scen, n)
        return None if row is None else num(row.get(field))

    def rate(self, label, scen, n):
        return self.value(label, scen, n, headline_field(scen))

    def failed(self, label, scen, n):
        """ftpbench's exit status 1: more than 1% of the attempts failed (the
        operations, the slow clients' sessions and, for idle, each login), or
        nothing was done at all."""
        row = self.get(label, scen, n)
        if row is None:
            return False
        ops = num(row.get("ops")) or 0
        slow_ops = num(row.get("slow_ops")) or 0
        errs = num(row.get("errors")) or 0
        idle = scen in ("idle", "idle-logins")
        bg = num(row.get("bg_logins")) or 0
        attempts = ops + slow_ops + ((num(row.get("concurrency")) or 0) + bg if idle else 0)
        done = ops + slow_ops + ((num(row.get("sessions_held")) or 0) + bg if idle else 0)
        return done == 0 or errs * 100 > attempts

    def error_mark(self, label, scen, n):
        return " ⚠" if self.failed(label, scen, n) else ""


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def rate_tables(res):
    out = []
    cols = [(s, n) for s in ("login", "login-account", "retr-small", "retr-persistent", "list",
                             "stor-small") for n in res.ns(s)]
    if cols:
        out.append("### Request rates (operations/s)\n")
        out.append(
            "login = connect, USER/PASS, QUIT (anonymous); login-account = the same with an "
            "account whose password is a yescrypt hash; retr-small = a session per 4 KiB RETR; "
            "retr-persistent = 4 KiB RETRs on one session; list = LIST of 1,000 files; "
            "stor-small = a session per 4 KiB STOR of a new file.\n"
        )
        rows = [
            [lab] + [fmt(res.rate(lab, s, n)) + res.error_mark(lab, s, n) for s, n in cols]
            for lab in res.labels
        ]
        out.append(table(["server"] + [f"{s}@{n}" for s, n in cols], rows))
        out.append("")
        if any(lab.endswith(HAPROXY_SUFFIXES) for lab in res.labels):
            out.append(
                "+haproxy1 / +haproxy2: the same runs through HAProxy (send-proxy-v2, one "
                "passive range per node) to one or two ftpd nodes on this same machine. "
                "HAProxy, the nodes and ftpbench share its cores, so these rows measure "
                "what HAProxy costs, not what a second machine would add.\n")
    big = [(s, n) for s in BIG_SCENARIOS if not s.startswith(TLS_PREFIX) for n in res.ns(s)]
    if big:
        out.append("### Large file (MB/s)\n")
        out.append("retr-big = RETR of a large file; stor-big = STOR of as many bytes "
                   "(made in memory by the client) into a new file on the same tmpfs.\n")
        rows = [
            [lab] + [fmt(res.rate(lab, s, n), 1) + res.error_mark(lab, s, n) for s, n in big]
            for lab in res.labels
        ]
        out.append(table(["server"] + [f"{s}@{n}" for s, n in big], rows))
        out.append("")
    tls = [(s, n) for s in ("tls-login", "tls-retr-small", "tls-retr-big") for n in res.ns(s)]
    if tls:
        out.append("### FTPS (operations/s; MB/s for tls-retr-big)\n")
        out.append("Explicit FTPS (AUTH TLS, PBSZ 0, PROT P), every data connection resuming "
                   "its control connection's TLS session; each server started again with TLS "
                   "offered and the same self-signed ECDSA P-256 certificate. tls-login = a "
                   "session with its handshake; tls-retr-small = a session per 4 KiB RETR "
                   "(two handshakes, the data one resumed); tls-retr-big = RETR of the large "
                   "file on one session.\n")
        rows = [
            [lab] + [fmt(res.rate(lab, s, n), 1 if s == "tls-retr-big" else 0)
                     + res.error_mark(lab, s, n) for s, n in tls]
            for lab in res.labels if any(res.get(lab, s, n) for s, n in tls)
        ]
        out.append(table(["server"] + [f"{s}@{n}" for s, n in tls], rows))
        out.append("")
    idle = res.ns("idle")
    if idle:
        out.append("### Idle sessions (memory per session, NOOP p99 while held)\n")
        header = ["server"]
        for n in idle:
            header += [f"idle@{n} held", "bytes/session", "NOOP p99 ms"]
        rows = []
        for lab in res.labels:
            r = [lab]
            for n in idle:
                row = res.get(lab, "idle", n)
                if row is None:
                    r += ["—", "—", "—"]
                    continue
                r += [
                    fmt(num(row.get("sessions_held"))) + res.error_mark(lab, "idle", n),
                    fmt_bytes(num(row.get("bytes_per_session"))),
                    fmt(num(row.get("noop_p99_ms")), 2),
                ]
            rows.append(r)
        out.append(table(header, rows))
        kernel = [(lab, n, res.get(lab, "idle", n)) for lab in res.labels for n in idle
                  if n >= 10000 and res.get(lab, "idle", n) is not None
                  and num(res.get(lab, "idle", n).get("kernel_bytes_per_session")) is not None]
        if kernel:
            out.append("")
            out.append("Kernel memory of the same runs (machine-wide /proc/meminfo Slab and "
                       "/proc/net/sockstat TCP buffers, before the first connection and while "
                       "held; both ends of each loopback connection):\n")
            out.append(table(
                ["server", "run", "client processes", "Slab Δ MiB", "SUnreclaim Δ MiB",
                 "kernel bytes/session"],
                [[lab, f"idle@{n}", fmt(num(row.get("procs"))),
                  fmt(_kib_to_mib(num(row.get("slab_delta_kib"))), 1),
                  fmt(_kib_to_mib(num(row.get("sunreclaim_delta_kib"))), 1),
                  fmt_bytes(num(row.get("kernel_bytes_per_session")))]
                 for lab, n, row in kernel]))
        out.append("")
    il = res.ns("idle-logins")
    if il:
        out.append("### Idle sessions while logins run\n")
        out.append("NOOP round trips of the idle sessions while background clients log in "
                   "with the yescrypt account at a fixed rate.\n")
        rows = []
        for lab in res.labels:
            for n in il:
                row = res.get(lab, "idle-logins", n)
                if row is None:
                    continue
                rows.append([lab, fmt(num(row.get("sessions_held"))) + res.error_mark(lab, "idle-logins", n),
                             fmt(bg_login_rate(row), 1), fmt(num(row.get("bg_login_p99_ms")), 2),
                             fmt(num(row.get("noop_p50_ms")), 2), fmt(num(row.get("noop_p99_ms")), 2)])
        out.append(table(["server", "sessions held", "logins/s", "login p99 ms", "NOOP p50 ms",
                          "NOOP p99 ms"], rows))
        out.append("")
    slow = res.ns("slow")
    if slow:
        out.append("### Slow clients (fast clients' rate while others trickle)\n")
        rows = []
        for lab in res.labels:
            for n in slow:
                row = res.get(lab, "slow", n)
                if row is None:
                    continue
                fast = num(row.get("ops_per_s"))
                base = res.rate(lab, "retr-small", n)
                ratio = fast / base if fast is not None and base else None
                rows.append([
                    lab,
                    fmt(num(row.get("slow_clients"))),
                    fmt(fast) + res.error_mark(lab, "slow", n),
                    fmt(base),
                    fmt(ratio, 2),
                ])
        out.append(table(["server", "trickling clients", f"fast ops/s (×{slow[0]})",
                          f"retr-small@{slow[0]} ops/s", "ratio"], rows))
        out.append("")
    return "\n".join(out)


def _kib_to_mib(v):
    return None if v is None else v / 1024


def bg_login_rate(row):
    """Background logins per second over the hold, or None."""
    done, dur = num(row.get("bg_logins")), num(row.get("duration_s"))
    return done / dur if done is not None and dur else None


def verdict(ok):
    return "—" if ok is None else ("✓" if ok else "✗")


def ratio_section(res):
    rows = []
    for num_lab, den_lab, scen, n, target in RATE_TARGETS + TLS_TARGETS:
        a, b = res.rate(num_lab, scen, n), res.rate(den_lab, scen, n)
        r = a / b if a is not None and b else None
        mark = res.error_mark(num_lab, scen, n) or res.error_mark(den_lab, scen, n)
        rows.append([f"{num_lab} / {den_lab}", f"{scen}@{n}",
                     fmt(r, 2) + ("×" if r is not None else "") + mark,
                     f"≥ {target:g}×", verdict(None if r is None else r >= target)])
    for scen in BIG_SCENARIOS:
        for n in res.ns(scen):
            den = res.rate("vsftpd", scen, n)
            for lab in res.labels:
                if not lab.startswith("ftpd-") or lab.endswith(POOL_SUFFIXES + HAPROXY_SUFFIXES):
                    continue
                a = res.rate(lab, scen, n)
                r = a / den if a is not None and den else None
                mark = res.error_mark(lab, scen, n) or res.error_mark("vsftpd", scen, n)
                rows.append([f"{lab} / vsftpd", f"{scen}@{n}",
                             fmt(r, 2) + ("×" if r is not None else "") + mark,
                             f"≥ {BIG_TARGET:g}×", verdict(None if r is None else r >= BIG_TARGET)])
    for lab, n, rate, max_p99 in IDLE_LOGINS_TARGETS:
        row = res.get(lab, "idle-logins", n)
        p = None if row is None else num(row.get("noop_p99_ms"))
        got = None if row is None else bg_login_rate(row)
        mark = res.error_mark(lab, "idle-logins", n)
        ok = None
        if p is not None:
            ok = p < max_p99 and got is not None and got >= LOGIN_RATE_SHARE * rate
        shown = "—" if p is None else f"{fmt(p, 2)} ms at {fmt(got, 1)} logins/s"
        rows.append([lab, f"idle@{n} NOOP p99 while {rate} logins/s (yescrypt)", shown + mark,
                     f"< {max_p99:g} ms", verdict(ok)])
    for lab, n, max_bytes, max_p99 in IDLE_TARGETS:
        b = res.value(lab, "idle", n, "bytes_per_session")
        p = res.value(lab, "idle", n, "noop_p99_ms")
        mark = res.error_mark(lab, "idle", n)
        rows.append([lab, f"idle@{n} bytes/session", fmt_bytes(b) + mark, f"≤ {fmt_bytes(max_bytes)}",
                     verdict(None if b is None else b <= max_bytes)])
        rows.append([lab, f"idle@{n} NOOP p99", fmt(p, 2) + (" ms" if p is not None else "") + mark,
                     f"≤ {max_p99:g} ms", verdict(None if p is None else p <= max_p99)])
    for lab, target in SLOW_TARGETS:
        for n in res.ns("slow") or [16]:
            fast = res.value(lab, "slow", n, "ops_per_s")
            base = res.rate(lab, "retr-small", n)
            r = fast / base if fast is not None and base else None
            mark = res.error_mark(lab, "slow", n) or res.error_mark(lab, "retr-small", n)
            rows.append([lab, f"slow@{n} / retr-small@{n}",
                         fmt(r, 2) + ("×" if r is not None else "") + mark,
                         f"≥ {target:g}×", verdict(None if r is None else r >= target)])
    met = sum(1 for r in rows if r[-1] == "✓")
    missed = sum(1 for r in rows if r[-1] == "✗")
    head = (f"## Ratios\n\nFrom this one run: {met} met, {missed} missed, "
            f"{len(rows) - met - missed} not measured (—). The targets are set at the "
            "top of scripts/benchlib/table.py.\n")
    return head + "\n" + table(["ratio", "scenario", "measured", "target", ""], rows) + "\n"


def notes_section(path):
    if not path or not os.path.exists(path):
        return ""
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3:
                rows.append([p.replace("|", "\\|") for p in parts])
    if not rows:
        return ""
    return "## Not run or failed\n\n" + table(["server", "run", "why"], rows) + "\n"


def write_plot_data(res, outdir):
    os.makedirs(outdir, exist_ok=True)

    def write(name, cols, getter):
        labels = [lab for lab in res.labels if any(getter(lab, c) is not None for c in cols)]
        path = os.path.join(outdir, name)
        if not labels or not cols:
            if os.path.exists(path):
                os.remove(path)
            return
        with open(path, "w") as f:
            f.write("server " + " ".join(f'"{c}"' for c in cols) + "\n")
            for lab in labels:
                vals = [getter(lab, c) for c in cols]
                f.write(lab + " " + " ".join("NaN" if v is None else f"{v:.6g}" for v in vals) + "\n")

    def first_int(c):
        return int(c.split()[0])

    write("login.dat", [f"{n} concurrent" for n in res.ns("login")],
          lambda lab, c: res.rate(lab, "login", first_int(c)))
    write("idle.dat", [f"{n:,} sessions" for n in res.ns("idle")],
          lambda lab, c: (lambda b: None if b is None else b / 1024)(
              res.value(lab, "idle", int(c.split()[0].replace(",", "")), "bytes_per_session")))
    write("big.dat", [f"{n} client{'s' if n > 1 else ''}" for n in res.ns("retr-big")],
          lambda lab, c: res.rate(lab, "retr-big", first_int(c)))


def render(res, machine=None, notes=None, chart=None):
    """results.md's text. machine, notes: paths (machine.txt is quoted at
    the top, notes.txt becomes "Not run or failed"); chart: the PNG to link."""
    parts = ["# ftpd benchmark\n"]
    if machine and os.path.exists(machine):
        with open(machine) as f:
            parts.append("```\n" + f.read().rstrip("\n") + "\n```\n")
    parts.append(
        "Every figure comes from one run on one machine: compare rows with each "
        "other (the ratios), not with another machine's. ⚠ = more than 1% of "
        "operations failed; — = not run.\n"
    )
    if chart:
        parts.append(f"![sessions/s, memory per idle session, large-file MB/s]({chart})\n")
    if not res.rows:
        parts.append("No results.\n")
    else:
        parts.append("## Results\n")
        parts.append(rate_tables(res))
        parts.append(ratio_section(res))
    notes_text = notes_section(notes)
    if notes_text:
        parts.append(notes_text)
    return "\n".join(parts)


def main(argv, prog="benchlib table"):
    """The table alone, from an existing results.csv (to stdout)."""
    ap = argparse.ArgumentParser(prog=prog, description="Turn a results.csv into markdown.")
    ap.add_argument("csv")
    ap.add_argument("--notes", help="notes.txt: label<TAB>run<TAB>why, one a line")
    ap.add_argument("--machine", help="machine.txt, quoted at the top")
    ap.add_argument("--plot-data", metavar="DIR", help="write gnuplot data files here")
    ap.add_argument("--chart", metavar="PNG", help="link this chart (path relative to the markdown)")
    args = ap.parse_args(argv)
    try:
        res = Results.from_csv(args.csv)
    except (OSError, SchemaError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(render(res, args.machine, args.notes, args.chart))
    if args.plot_data:
        write_plot_data(res, args.plot_data)
    return 0
