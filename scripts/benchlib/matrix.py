"""What a benchmark runs: the back-ends (from ftpd --list-archs, plus their
config variants), the scenario matrix (full or --quick) and, for each
server, the list of ftpbench runs and of the runs it skips, and why.

Pure functions of their arguments: nothing here starts a process.
"""

import re
from dataclasses import dataclass, field
from typing import Optional

# A variant line of ftpd --list-archs (src/main.c, from the registry in
# src/arch/registry.c, the one list): "ARCH+NAME  ARCH with KEY = VALUE".
VARIANT_LINE = re.compile(r"^(\S+)\+(\S+)\s+\S+ with (\w+) = (\S+)$")


def parse_list_archs(text):
    """ftpd --list-archs as (names, variants): the back-ends ("NAME
    summary" a line, without those marked "(not yet available)") and the
    config keys of each variant ({"threadpool+accept": {"threadpool_dispatch":
    "accept"}})."""
    names, variants = [], {}
    for line in text.splitlines():
        m = VARIANT_LINE.match(line.strip())
        if m:
            variants[f"{m.group(1)}+{m.group(2)}"] = {m.group(3): m.group(4)}
            continue
        parts = line.split()
        if parts and not line.rstrip().endswith("(not yet available)"):
            names.append(parts[0])
    variants = {k: v for k, v in variants.items() if k.partition("+")[0] in names}
    return names, variants


def expand_archs(names, variants):
    """Every back-end and variant the bench knows, in --list-archs order,
    each back-end followed by its variants ("threadpool+accept")."""
    out = []
    for name in names:
        out.append(name)
        out += [v for v in variants if v.partition("+")[0] == name]
    return out


def variant_keys(arch, variants):
    """The config keys of "ARCH+VARIANT" ({} for a plain back-end)."""
    return dict(variants[arch]) if "+" in arch else {}


def default_archs(names, quick):
    """What runs without --archs: every back-end (not the variants; name
    them in --archs); --quick leaves out serial, the baseline."""
    return [a for a in names if not (quick and a == "serial")]


@dataclass(frozen=True)
class Matrix:
    name: str  # "quick" or "full"
    duration: str  # seconds of a rate run (ftpbench --duration), may be fractional
    login_conc: tuple
    small_conc: tuple
    big_mib: int
    big_runs: tuple  # (concurrency, files) pairs of retr-big
    idle_sessions: tuple
    idle_hold: int
    slow_clients: int
    op_timeout: int  # ftpbench --timeout: seconds without progress before an op fails
    reps: int  # how many times the noisy runs are made (results.md shows the median)
    stor_big_count: int = 5  # stor-big@1: uploads of big_mib MiB (each run's files are removed)
    account_conc: tuple = (16, 128)  # login with an account (ftpd only)
    idle_logins_hold: int = 3  # idle-logins: seconds of NOOPs while the logins run
    sources: int = 8  # --sources: 127.0.0.1..8, so TIME_WAIT does not exhaust ports
    small_size: int = 4096

    @property
    def big_size(self):
        return self.big_mib * 1024 * 1024

    def limit(self):
        """A hard bound (s) on one ftpbench run, on top of its own timeouts."""
        return (int(float(self.duration)) + 1 + max(self.idle_hold, self.idle_logins_hold)
                + 4 * self.op_timeout + 60)

    def big_duration(self):
        """--duration of a large-file run: a time bound on top of its --count."""
        return str(self.limit() - 20)


QUICK = Matrix("quick", duration="1.5", login_conc=(16, 128), small_conc=(16,), big_mib=64,
               big_runs=((1, 20),), idle_sessions=(1000,), idle_hold=1, slow_clients=200,
               op_timeout=4, reps=1, stor_big_count=5, idle_logins_hold=3)
# 40 files of 256 MiB: about 2 s a run at 5 GB/s. Fewer (12) made a run so
# short that a scheduling hiccup swung it by 20-50%. The runs behind the
# targets' ratios that swing most on a shared 2-core machine (retr-big,
# retr-small@16, retr-persistent, slow) are made 3 times.
FULL = Matrix("full", duration="5", login_conc=(1, 16, 128, 1024), small_conc=(1, 16, 128),
              big_mib=256, big_runs=((1, 40), (4, 80)), idle_sessions=(1000, 10000), idle_hold=5,
              slow_clients=1000, op_timeout=10, reps=3, stor_big_count=12, idle_logins_hold=10)
# The idle-logins run: NOOPs of this many idle sessions while LOGIN_RATE
# logins/s with the yescrypt account run, on the back-ends whose one loop
# (reactor) or few loops (hybrid) a password check could stall.
IDLE_LOGINS_SESSIONS = 1000
IDLE_LOGINS_RATE = 20
IDLE_LOGINS_CLIENTS = 4
IDLE_LOGINS_KINDS = ("reactor", "hybrid")


@dataclass(frozen=True)
class Run:
    """One ftpbench run. reps: None for a single run, else the number of
    times it is made (its logs then numbered .1, .2, ...; results.md keeps
    the median row). idle runs also get --server-pid once the server runs."""
    scenario: str
    n: int  # concurrency, or the sessions held for idle
    args: tuple = field(default=())
    reps: Optional[int] = None
    name: str = ""  # in the tag, when not the scenario ("login-account", "idle-logins")

    @property
    def tag(self):
        return f"{self.name or self.scenario}@{self.n}"

    @property
    def stor(self):
        """Uploads: run.py gives it a scratch directory (--dir) of its own."""
        return self.scenario.startswith("stor-")


@dataclass(frozen=True)
class Skip:
    tag: str
    why: str


def kind_of(label):
    """What decides the skips: the back-end (without variant) or the server."""
    return label[len("ftpd-"):].split("+")[0] if label.startswith("ftpd-") else label


# ftpd's runs that need what this ftpd may not have yet (run.py probes it).
NEEDS_UPLOADS = "skipped: needs uploads"
NEEDS_ACCOUNTS = "skipped: needs accounts"


def account_args(account):
    """ftpbench's arguments for the account (user, password)."""
    return ("--user", account[0], "--password", account[1])


def plan(kind, m, nofile, prefork_workers=32, pool_threads=32, ftpd=None, keys=None):
    """The main phase for one server, in order: Run and Skip items. kind:
    kind_of(label). ftpd (ftpd's back-ends only): {"uploads": "" or why
    not, "account": (user, password) or None, "no_account": why not}.
    keys: the config keys of the variant (variant_keys), {} or None for
    none."""
    # threadpool parks idle sessions (threadpool_dispatch = event, the
    # default); its queue and accept variants give each session a thread.
    holds_thread = (keys or {}).get("threadpool_dispatch", "event") != "event"
    dur = ("--duration", m.duration)
    small = ("--file", "/small.bin", "--size", str(m.small_size))
    out = []
    for c in m.login_conc:
        if kind == "serial" and c > 16:
            out.append(Skip(f"login@{c}", "skipped: serial serves one session at a time"))
            continue
        out.append(Run("login", c, ("--concurrency", str(c)) + dur))
    if ftpd is not None:  # the same logins with the yescrypt account
        for c in m.account_conc:
            tag = f"login-account@{c}"
            if kind == "serial" and c > 16:
                out.append(Skip(tag, "skipped: serial serves one session at a time"))
            elif ftpd.get("account") is None:
                out.append(Skip(tag, f"{NEEDS_ACCOUNTS} ({ftpd.get('no_account', '')})"))
            else:
                out.append(Run("login", c, ("--concurrency", str(c)) + dur
                               + account_args(ftpd["account"]), name="login-account"))
    for c in m.small_conc:
        # slow@16 is compared with retr-small@16: both repeated.
        out.append(Run("retr-small", c, ("--concurrency", str(c)) + dur + small,
                       m.reps if c == 16 else None))
    out.append(Run("retr-persistent", 16, ("--concurrency", "16") + dur + small, m.reps))
    out.append(Run("list", 16, ("--concurrency", "16") + dur + ("--dir", "/dir1000")))
    # A session per 4 KiB upload; compared with vsftpd (a target): repeated.
    if ftpd is not None and ftpd.get("uploads"):
        out.append(Skip("stor-small@16", f"{NEEDS_UPLOADS} ({ftpd['uploads']})"))
    else:
        out.append(Run("stor-small", 16, ("--concurrency", "16") + dur
                       + ("--size", str(m.small_size)), m.reps))
    for n in m.idle_sessions:
        why = ""
        if kind == "serial":
            why = "serial serves one session at a time"
        elif kind == "prefork":
            why = ("each session holds a worker, at most max_workers (256); "
                   "the rest are refused with 421")
        elif kind == "threadpool" and holds_thread:
            why = (f"each session holds one of the {pool_threads} threads; "
                   "the rest are refused with 421")
        elif kind in ("process", "vsftpd", "pure-ftpd", "proftpd"):
            if n > 1000:
                why = "a process per session: held at 1,000 only"
        elif kind == "thread" and n > 5000:
            n = 5000  # instead of 10,000: a 128 KiB stack per session
        if why:
            out.append(Skip(f"idle@{n}", f"skipped: {why}"))
        elif n + 100 > nofile:
            out.append(Skip(f"idle@{n}", f"skipped: ulimit -n is {nofile}"))
        else:
            out.append(Run("idle", n, ("--sessions", str(n), "--hold", str(m.idle_hold))))
    if ftpd is not None and kind in IDLE_LOGINS_KINDS:
        n, tag = IDLE_LOGINS_SESSIONS, f"idle-logins@{IDLE_LOGINS_SESSIONS}"
        if ftpd.get("account") is None:
            out.append(Skip(tag, f"{NEEDS_ACCOUNTS} ({ftpd.get('no_account', '')})"))
        elif n + 100 > nofile:
            out.append(Skip(tag, f"skipped: ulimit -n is {nofile}"))
        else:
            user, password = ftpd["account"]
            out.append(Run("idle", n, ("--sessions", str(n), "--hold", str(m.idle_logins_hold),
                                       "--background-logins", str(IDLE_LOGINS_RATE),
                                       "--background-user", user,
                                       "--background-password", password,
                                       "--concurrency", str(IDLE_LOGINS_CLIENTS)),
                           name="idle-logins"))
    if kind == "serial":
        out.append(Skip("slow@16", "skipped: serial serves one session at a time "
                                   "(a trickling client holds it)"))
    else:
        out.append(Run("slow", 16, ("--slow", str(m.slow_clients), "--concurrency", "16") + dur
                       + small, m.reps))
    return out


# Adaptive pools (issue 10): a pool back-end's defaults against the same
# back-end hand-sized (one worker per client), each on a server of its own
# started for the run, so the defaults are measured as shipped: cold, the
# pool growing during the run. results.md compares them (table.RATE_TARGETS).
# threadpool: its default dispatch (event), 32 threads against one thread
# per client; its variants (queue, accept) are not run.
POOL_KINDS = ("prefork", "threadpool")
POOL_RUNS = (("login", 1024), ("retr-small", 128))
POOLS = ("sized", "defaults")


def pool_label(arch, pool):
    """"ftpd-prefork+defaults", "ftpd-prefork+sized": the rows of results.md."""
    return f"ftpd-{arch}+{pool}"


def pool_plan(kind, m):
    """The pool phase of one back-end: [(pool, Run)], pool in POOLS, the
    hand-sized run first; [] for a back-end without an adaptive pool."""
    if kind not in POOL_KINDS:
        return []
    out = []
    for scen, c in POOL_RUNS:
        args = ("--concurrency", str(c), "--duration", m.duration)
        if scen == "retr-small":
            args += ("--file", "/small.bin", "--size", str(m.small_size))
        for pool in POOLS:
            out.append((pool, Run(scen, c, args)))
    return out


def big_plan(m, no_uploads=""):
    """The large-file runs of one server in one round (made in m.reps
    rounds, each running every server in turn): Run items, and a Skip for
    stor-big when the server takes no uploads (no_uploads: why)."""
    bound = ("--duration", m.big_duration())
    out = [Run("retr-big", c, ("--concurrency", str(c), "--count", str(k), "--file", "/big.bin",
                               "--size", str(m.big_size)) + bound)
           for c, k in m.big_runs]
    if no_uploads:
        out.append(Skip("stor-big@1", f"{NEEDS_UPLOADS} ({no_uploads})"))
    else:
        out.append(Run("stor-big", 1, ("--concurrency", "1", "--count", str(m.stor_big_count),
                                       "--size", str(m.big_size)) + bound))
    return out



# The scale run (issue 10): hybrid holds SCALE_SESSIONS idle logged-in
# sessions. One process may hold at most its descriptor limit (20,000 on
# the development machines, hard), so the server gets a worker, and
# ftpbench a client process, per SCALE_PER_PROCESS sessions; the client
# sockets are spread over Matrix.sources addresses for the ephemeral ports.
SCALE_SESSIONS = 100000
SCALE_KINDS = ("hybrid",)
SCALE_PER_PROCESS = 15000  # ftpbench's IDLE_SESSIONS_PER_PROC (src/bench/opts.h)
# What the machine must have free per session: the server's ~1 KiB, the
# kernel's ~10 KiB for the two sockets of a loopback connection, the
# client's state, and room to spare.
SCALE_MEM_PER_SESSION = 24 * 1024
SCALE_TAG = f"idle@{SCALE_SESSIONS}"


def scale_workers(sessions=SCALE_SESSIONS):
    """hybrid workers for the scale run: each under SCALE_PER_PROCESS sessions."""
    return -(-sessions // SCALE_PER_PROCESS)


def scale_check(nofile, mem_available_kib, port_range, file_max, sources,
                sessions=SCALE_SESSIONS):
    """Why this machine cannot hold the scale run, or "" when it can. nofile:
    the per-process limit (sys.maxsize: unlimited); mem_available_kib:
    /proc/meminfo MemAvailable (None: unknown); port_range: (low, high) of
    ip_local_port_range (None: unknown); file_max: fs.file-max (None:
    unknown)."""
    per_process = SCALE_PER_PROCESS + 100
    if nofile < per_process:
        return (f"ulimit -n is {nofile}; a hybrid worker and an ftpbench process each "
                f"hold up to {SCALE_PER_PROCESS:,} sockets ({per_process:,} descriptors needed)")
    need_kib = sessions * SCALE_MEM_PER_SESSION // 1024
    if mem_available_kib is not None and mem_available_kib < need_kib:
        return (f"MemAvailable is {mem_available_kib // 1024:,} MiB; {sessions:,} sessions need "
                f"about {need_kib // 1024:,} MiB (server, kernel sockets, client)")
    if port_range is not None:
        ports = (port_range[1] - port_range[0] + 1) * sources
        if ports < sessions * 1.1:
            return (f"{sources} source addresses x {port_range[1] - port_range[0] + 1} "
                    f"ephemeral ports (ip_local_port_range) are fewer than {sessions:,} "
                    "connections need")
    if file_max is not None and file_max < 2 * sessions + 10000:
        return f"fs.file-max is {file_max:,}; both ends of {sessions:,} connections need more"
    return ""


def scale_plan(kind, m, nofile, mem_available_kib, port_range, file_max):
    """The scale run of one server: [] (not this kind, or the quick matrix),
    or one Run (tag idle@100000) or one Skip saying what the machine lacks."""
    if kind not in SCALE_KINDS or m.name != "full":
        return []
    why = scale_check(nofile, mem_available_kib, port_range, file_max, m.sources)
    if why:
        return [Skip(SCALE_TAG, f"skipped: {why}")]
    return [Run("idle", SCALE_SESSIONS, ("--sessions", str(SCALE_SESSIONS),
                                         "--hold", str(m.idle_hold)))]


# The live-upgrade run (issue 12): login@UPGRADE_CONC for UPGRADE_SECONDS
# with no signal (the baseline), then as long again while the server gets
# SIGUSR2 every UPGRADE_EVERY seconds; the quick matrix shortens both.
UPGRADE_CONC = 128
UPGRADE_SECONDS = {"full": 20, "quick": 6}
UPGRADE_EVERY = 2


def upgrade_plan(kind, m):
    """The upgrade run of a back-end: a Run (the ftpbench arguments of one
    half) or a Skip."""
    tag = f"upgrade@{UPGRADE_CONC}"
    if kind == "serial":
        return Skip(tag, "skipped: serial serves one session at a time")
    secs = UPGRADE_SECONDS[m.name]
    return Run("login", UPGRADE_CONC, ("--concurrency", str(UPGRADE_CONC), "--duration", str(secs)),
               name="upgrade")


def selected(tag, only):
    """--only: the run tags to make (None: all of them)."""
    return only is None or tag in only
