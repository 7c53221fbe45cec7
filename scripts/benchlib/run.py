"""The benchmark run: the fixture, the servers' processes, the ftpbench runs,
and the files of the results directory. scripts/bench.sh builds, then runs
this (python3 scripts/benchlib run --build DIR [FLAGS]).

Everything runs on 127.0.0.1. Each server runs in its own session and
process group: SIGTERM goes to the server, then SIGKILL to the group reaches
whatever it left behind; every server started is stopped on exit, ^C and
SIGTERM included. Every ftpbench run has a hard time limit.
"""

import datetime
import os
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from . import USAGE, matrix, servers, table, upgrade_idle

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class UsageError(Exception):
    pass


def parse_args(argv):
    """bench.sh's flags -> dict; raises UsageError. archs/servers are lists,
    or None when not given (archs: checked against --list-archs later)."""
    opts = {"quick": False, "fetch": True, "archs": None, "servers": None, "out": "",
            "build": None, "help": False, "check_args": False, "only": None,
            "tls": "also"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--quick":
            opts["quick"] = True
        elif a == "--no-fetch":
            opts["fetch"] = False
        elif a in ("--tls-only", "--no-tls"):
            want = "only" if a == "--tls-only" else "none"
            if opts["tls"] not in ("also", want):
                raise UsageError("--tls-only and --no-tls exclude each other")
            opts["tls"] = want
        elif a in ("--archs", "--servers", "--out", "--build", "--only"):
            if i + 1 >= len(argv):
                raise UsageError(f"{a} needs a value")
            i += 1
            key = a[2:]
            if key in ("archs", "servers", "only"):
                opts[key] = argv[i].replace(",", " ").split()
            else:
                opts[key] = argv[i]
        elif a == "--check-args":  # bench.sh: the usage errors, before the build
            opts["check_args"] = True
        elif a in ("-h", "--help"):
            opts["help"] = True
        else:
            raise UsageError(f"unknown argument: {a}", True)
        i += 1
    for tag in opts["only"] or []:
        if not re.fullmatch(r"[a-z-]+@\d+", tag):
            raise UsageError(f"--only takes run tags such as idle@100000 or login@16, not {tag!r}")
    for s in opts["servers"] or []:
        if s not in servers.SERVERS:
            raise UsageError(f"unknown server: {s} (one of: {' '.join(servers.SERVERS)})")
    return opts


def free_port():
    """A free TCP port on 127.0.0.1 below the ephemeral range (so no client
    socket can take it between this check and the server's bind)."""
    lo, hi = 20000, 32000
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            hi = min(hi, int(f.read().split()[0]) - 1)
    except (OSError, ValueError):
        pass
    for _ in range(500):
        port = random.randint(lo, hi)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port on 127.0.0.1")


# A PROXY v2 LOCAL header: a PROXY-protocol node's own health check.
PROXY_V2_LOCAL = b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"


def greeting(port, host="127.0.0.1", first=b""):
    """The first 3 bytes the server on port sends ("220" when ready), after
    sending it first."""
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.settimeout(2)
            s.sendall(first)
            data = b""
            while len(data) < 3:
                chunk = s.recv(3 - len(data))
                if not chunk:
                    break
                data += chunk
            return data.decode("ascii", "replace")
    except OSError:
        return ""


def raise_nofile():
    """Open files: soft up to hard, and as root try to raise the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if os.geteuid() == 0 and hard != resource.RLIM_INFINITY:
        for want in (1048576, 262144, 65536):
            if want > hard:
                try:
                    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, want))
                    hard = want
                    break
                except (ValueError, OSError):
                    pass
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return "unlimited" if soft == resource.RLIM_INFINITY else soft


def mem_available_kib():
    """/proc/meminfo MemAvailable in KiB, or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def read_ints(path):
    """The whitespace-separated integers of a /proc file, or None."""
    try:
        with open(path) as f:
            return [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return None


def summary(scen, row):
    """The headline figure of one CSV row, for the console."""
    if row is None:
        return ""
    if scen in ("retr-big", "stor-big"):
        s = f"{row['mb_per_s']} MB/s"
    elif scen == "idle" and row.get("bg_logins"):
        s = (f"{row['sessions_held']} held, NOOP p99 {row['noop_p99_ms']} ms while "
             f"{row['bg_logins']} logins (p99 {row['bg_login_p99_ms'] or '-'} ms)")
    elif scen == "idle":
        s = (f"{row['sessions_held']} held, {row['bytes_per_session']} B/session, "
             f"NOOP p99 {row['noop_p99_ms']} ms")
    else:
        s = f"{row['ops_per_s']} ops/s"
    if scen != "idle" and row["p99_ms"] != "":
        s += f", p99 {row['p99_ms']} ms"
    errors = table.num(row["errors"]) or 0
    if errors > 0:
        total = errors + (table.num(row["ops"]) or 0)
        s += f", {row['errors']} errors of {int(total) if total.is_integer() else total}"
    return s


def make_fixture(big_mib):
    """small.bin (4 KiB), big.bin, dir1000/ (1,000 files) and the empty
    scratch directory for uploads, on tmpfs."""
    fix = tempfile.mkdtemp(prefix="ftpbench-fixture.", dir="/dev/shm")
    print(f"fixture {fix}: small.bin 4 KiB, big.bin {big_mib} MiB, dir1000/", flush=True)
    with open(os.path.join(fix, "small.bin"), "wb") as f:
        f.write(os.urandom(4096))
    with open(os.path.join(fix, "big.bin"), "wb") as f:
        for _ in range(big_mib):
            f.write(os.urandom(1024 * 1024))
    os.mkdir(os.path.join(fix, "dir1000"))
    for i in range(1000):
        with open(os.path.join(fix, "dir1000", f"file{i:04d}.txt"), "w") as f:
            f.write(f"file {i:04d}\n")
    # Other servers drop privileges (nobody, ftp): world-readable and traversable.
    for d, _, files in os.walk(fix):
        os.chmod(d, 0o755)
        for name in files:
            os.chmod(os.path.join(d, name), 0o644)
    # Uploads: writable by every server's user (nobody, ftp, root); the
    # root stays read-only (vsftpd refuses an anonymous root it could write).
    upload = os.path.join(fix, servers.UPLOAD_DIR)
    os.mkdir(upload)
    os.chmod(upload, 0o777)
    return fix


def check_uploads(scratch, ops, size):
    """What a stor run left in its scratch directory against what ftpbench
    counted: "" when at least ops files have exactly size bytes, else what
    is wrong. (Uploads that failed may leave partial files; those are
    errors ftpbench counted.)"""
    try:
        sizes = [os.path.getsize(os.path.join(scratch, n)) for n in os.listdir(scratch)]
    except OSError as e:
        return f"cannot read the uploads: {e}"
    whole = sum(1 for x in sizes if x == size)
    if whole < ops:
        return (f"{ops} uploads counted but {whole} files of {size} bytes in the scratch "
                f"directory ({len(sizes)} files)")
    return ""


def ftpd_capabilities(ftpd, fix, confdir, tls=None):
    """What this ftpd can be given, probed rather than assumed: anonymous
    uploads (write_enable and anonymous_write pass --check-config), FTPS
    (tls: (cert, key); its keys pass --check-config) and an account (ftpd
    --hash-password makes a hash and users_file passes --check-config).
    {"uploads": "" or why not, "tls": "" or why not, "users_file": path or
    None, "account": (user, password) or None, "no_account": why not}."""
    caps = {"uploads": "", "tls": "", "users_file": None, "account": None, "no_account": ""}

    def check(name, text):
        conf = os.path.join(confdir, name)
        with open(conf, "w") as f:
            f.write(text)
        try:
            p = subprocess.run([ftpd, "--config", conf, "--root", fix, "--check-config"],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=30)
        except (OSError, subprocess.SubprocessError) as e:
            return str(e)
        if p.returncode == 0:
            return ""
        lines = (p.stderr or p.stdout).strip().splitlines()
        return lines[0] if lines else f"exit {p.returncode}"

    why = check("ftpd-probe-write.conf", "".join(f"{k} = {v}\n"
                                                 for k, v in servers.FTPD_WRITE_KEYS.items()))
    caps["uploads"] = f"ftpd --check-config: {why}" if why else ""
    if tls is None:
        caps["tls"] = "no certificate"
    else:
        why = check("ftpd-probe-tls.conf", "".join(f"{k} = {v}\n"
                                                   for k, v in servers.ftpd_tls_keys(*tls).items()))
        caps["tls"] = f"ftpd --check-config: {why}" if why else ""
    password = secrets.token_hex(12)
    try:
        p = subprocess.run([ftpd, "--hash-password"], input=password + "\n",
                           capture_output=True, text=True, timeout=30)
        digest = p.stdout.strip() if p.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        digest = ""
    if not digest.startswith("$"):
        caps["no_account"] = "ftpd --hash-password is not available"
        return caps
    users = os.path.join(confdir, "ftpd-users")
    with open(users, "w") as f:
        f.write(servers.ftpd_users_line(servers.ACCOUNT_USER, digest, os.path.abspath(fix)))
    os.chmod(users, 0o600)
    why = check("ftpd-probe-users.conf", f"users_file = {users}\n")
    if why:
        caps["no_account"] = f"ftpd --check-config: {why}"
        return caps
    caps["users_file"] = users
    caps["account"] = (servers.ACCOUNT_USER, password)
    return caps


def make_cert(confdir):
    """A self-signed certificate for 127.0.0.1 made with the openssl CLI:
    ((cert, key), "") or (None, why not)."""
    cert, key = os.path.join(confdir, servers.TLS_CERT), os.path.join(confdir, servers.TLS_KEY)
    try:
        p = subprocess.run(servers.tls_cert_cmd(cert, key), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"openssl: {e}"
    if p.returncode != 0:
        lines = p.stderr.strip().splitlines()
        return None, "openssl req: " + (lines[-1] if lines else f"exit {p.returncode}")
    # Servers that drop privileges read them as root at start-up, but
    # keep them readable by the owner only, like any key.
    os.chmod(key, 0o600)
    return (cert, key), ""


def _cmd_out(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
        return p.returncode, p.stdout
    except OSError:
        return 127, ""


def machine_text(nofile, matrix_name, fix):
    rc, head = _cmd_out(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    head = head.strip() if rc == 0 else "?"
    if _cmd_out(["git", "-C", REPO, "diff", "--quiet", "HEAD"])[0] != 0:
        head += " (with uncommitted changes)"
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                m = re.match(r"model name\s*: (.*)", line)
                if m:
                    cpu = m.group(1)
                    break
    except OSError:
        pass
    u = os.uname()
    mem = ""
    for line in _cmd_out(["free", "-h"])[1].splitlines():
        f = line.split()
        if f and f[0] == "Mem:" and len(f) >= 7:
            mem = f"{f[1]} total, {f[6]} available"
    lines = [
        ("date (UTC)", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")),
        ("git", head),
        ("nproc", str(len(os.sched_getaffinity(0)))),
        ("cpu", cpu),
        ("kernel", f"{u.sysname} {u.release} {u.machine}"),
        ("memory", mem),
        ("ulimit -n", str(nofile)),
        ("matrix", matrix_name),
        ("fixture", f"tmpfs ({fix})"),
    ]
    return "".join(f"{k:<12} {v}\n" for k, v in lines)


class Bench:
    def __init__(self, opts, variants=None):
        self.variants = variants or {}  # "arch+variant" -> its config keys
        self.build = opts["build"]
        self.m = matrix.QUICK if opts["quick"] else matrix.FULL
        self.fetch = opts["fetch"]
        self.tls_mode = opts.get("tls", "also")  # "also", "only" or "none"
        self.tls = None  # (cert, key) once made
        self.prefork_workers = int(os.environ.get("BENCH_PREFORK_WORKERS") or 32)
        self.pool_threads = int(os.environ.get("BENCH_THREADS") or 32)
        self.ftpd = ftpd_bin(self.build)
        self.ftpbench = os.environ.get("FTPBENCH") or os.path.join(self.build, "ftpbench")
        self.servers_dir = os.path.join(REPO, "bench-servers")
        self.pyftpdlib = os.environ.get("PYFTPDLIB", "")
        self.server = None  # the running server's Popen
        self.nodes = []  # the HAProxy phase: the ftpd nodes behind self.server
        self.server_port = None
        self.fix = None
        self.ns_ok = False
        self.caps = {"uploads": "not probed", "tls": "not probed", "users_file": None,
                     "account": None, "no_account": "not probed"}
        self.only = opts.get("only")  # --only: the run tags to make, or None

    # --- results directory ---------------------------------------------------

    def open_run(self, out):
        run = out or os.path.join(
            REPO, "bench-results", datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
        os.makedirs(os.path.join(run, "conf"), exist_ok=True)
        os.makedirs(os.path.join(run, "logs"), exist_ok=True)
        self.run = os.path.abspath(run)
        self.csv = os.path.join(self.run, "results.csv")
        self.notes = os.path.join(self.run, "notes.txt")
        self.machine = os.path.join(self.run, "machine.txt")
        for p in (self.csv, self.notes):
            open(p, "w").close()

    def path(self, *parts):
        return os.path.join(self.run, *parts)

    def note(self, label, what, why):
        """Something that did not run or failed: notes.txt and the console."""
        with open(self.notes, "a") as f:
            f.write(f"{label}\t{what}\t{why}\n")
        print(f"  {label:<16} {what:<22} {why}", flush=True)

    def machine_line(self, name, text):
        """A line of machine.txt, once (servers start again for every round
        of the large-file phase)."""
        with open(self.machine) as f:
            if any(line.startswith(name + " ") for line in f):
                return
        with open(self.machine, "a") as f:
            f.write(f"{name:<12} {text}\n")

    # --- servers --------------------------------------------------------------

    def start_server(self, label, port, log, cmd, env=None):
        """Start cmd in its own process group and wait (10 s at most) for its
        220 greeting on port."""
        with open(log, "w") as out:
            self.server = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                           stderr=subprocess.STDOUT, start_new_session=True,
                                           env=env)
        self.server_port = port
        for _ in range(100):
            if self.server.poll() is not None:
                self.server = None
                with open(log, errors="replace") as f:
                    lines = f.read().splitlines()
                self.note(label, "start", "exited at start-up: " + (lines[-1] if lines else ""))
                return False
            if greeting(port) == "220":
                return True
            time.sleep(0.1)
        self.stop_server()
        self.note(label, "start", f"no 220 greeting on 127.0.0.1:{port} within 10 s "
                                  f"(see {os.path.relpath(log, self.run)})")
        return False

    def stop_server(self):
        p, self.server = self.server, None
        nodes, self.nodes = self.nodes, []
        self._stop(p)
        for node in nodes:  # the HAProxy phase's ftpd nodes, after HAProxy
            self._stop(node)

    def _stop(self, p):
        if p is None:
            return
        try:
            p.send_signal(signal.SIGTERM)  # the server forwards it to its workers
            p.wait(15)  # ftpd's shutdown_grace is 2 s here
        except subprocess.TimeoutExpired:
            print(f"  server pid {p.pid} ignored SIGTERM for 15 s: SIGKILL", flush=True)
        except ProcessLookupError:
            pass
        try:
            os.killpg(p.pid, signal.SIGKILL)  # the group: also leftover sessions
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.kill()
        except ProcessLookupError:
            pass
        p.wait()

    def start_ftpd(self, arch, scale_sessions=0, pool=None, tls=False):
        """pool: ("defaults" | "sized", clients) for the pool phase; tls: with
        the FTPS keys (the tls-* runs), in a file of its own."""
        label = f"ftpd-{arch}" if pool is None else matrix.pool_label(arch, pool[0])
        if pool is not None:
            label += f"@{pool[1]}"  # the conf and log names only
        name = label + (".scale" if scale_sessions else "") + (".tls" if tls else "")
        conf = self.path("conf", f"{name}.conf")
        with open(conf, "w") as f:
            f.write(servers.ftpd_conf(arch, matrix.variant_keys(arch, self.variants),
                                      self.prefork_workers, self.pool_threads,
                                      writable=not self.caps["uploads"],
                                      users_file=self.caps["users_file"],
                                      scale_sessions=scale_sessions, pool=pool,
                                      tls=self.tls if tls else None))
        port = free_port()
        return self.start_server(label, port, self.path("logs", f"{name}.server.log"),
                                 servers.ftpd_cmd(self.ftpd, conf, arch, port, self.fix))

    def start_haproxy(self, arch, nodes, label):
        """The HAProxy phase: `nodes` ftpd nodes of arch with the PROXY keys
        (servers.haproxy_node_keys) on HAPROXY_NODE_HOST, then HAProxy in
        front of them on 127.0.0.1 (self.server, where ftpbench connects).
        A passive port still held (TIME_WAIT of an earlier run) can stop
        HAProxy's bind: then again with the ranges elsewhere."""
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.access(haproxy, os.X_OK):
            self.note(label, "start", "skipped: haproxy is not installed")
            return False
        span = nodes * servers.HAPROXY_PASV_PER_NODE
        for attempt in range(3):
            base = servers.HAPROXY_PASV_BASE + random.randrange(0, 4000 - span)
            if self._start_haproxy_once(haproxy, arch, nodes, label, base, last=attempt == 2):
                return True
        return False

    def _start_haproxy_once(self, haproxy, arch, nodes, label, base, last):
        ports = []
        for i in range(nodes):
            name = f"{label}.node{i}"
            conf = self.path("conf", f"{name}.conf")
            keys = dict(matrix.variant_keys(arch, self.variants),
                        **servers.haproxy_node_keys(i, base))
            with open(conf, "w") as f:
                f.write(servers.ftpd_conf(arch, keys, self.prefork_workers, self.pool_threads))
            port = free_port()
            cmd = servers.ftpd_cmd(self.ftpd, conf, arch, port, self.fix)
            cmd[cmd.index("--listen") + 1] = servers.HAPROXY_NODE_HOST
            with open(self.path("logs", f"{name}.server.log"), "w") as out:
                self.nodes.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                                   stderr=subprocess.STDOUT,
                                                   start_new_session=True))
            for _ in range(100):
                if greeting(port, servers.HAPROXY_NODE_HOST, PROXY_V2_LOCAL) == "220":
                    break
                time.sleep(0.1)
            else:
                self.stop_server()
                self.note(label, "start", f"node {i} gave no 220 within 10 s")
                return False
            ports.append(port)
        port = free_port()
        cfg = self.path("conf", f"{label}.haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(servers.haproxy_conf(port, ports, base))
        log = self.path("logs", f"{label}.haproxy.log")
        with open(log, "w") as out:
            self.server = subprocess.Popen([haproxy, "-db", "-f", cfg], stdin=subprocess.DEVNULL,
                                           stdout=out, stderr=subprocess.STDOUT,
                                           start_new_session=True)
        self.server_port = port
        for _ in range(100):
            if self.server.poll() is not None:
                break
            if greeting(port) == "220":
                return True
            time.sleep(0.1)
        with open(log, errors="replace") as f:
            alerts = [ln for ln in f.read().splitlines() if "ALERT" in ln]
        self.stop_server()  # HAProxy and the nodes
        if last:
            self.note(label, "start", alerts[0] if alerts else "no 220 through HAProxy within 10 s")
        return False

    def find(self, name):
        """A server's binary (pyftpdlib: its python), or None."""
        if name == "pyftpdlib":
            return servers.pyftpdlib_python(self.pyftpdlib)
        return servers.find_bin(name, os.environ.get(servers.BIN_ENV[name], ""), self.servers_dir)

    def setup_namespace(self):
        """vsftpd and pure-ftpd run in a private mount namespace whose
        /etc/passwd has a user "ftp" with the fixture as its home, rather
        than adding a user to this machine."""
        self.ns_passwd = self.path("conf", "passwd")
        try:
            ok = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
        except OSError:
            ok = False
        if ok:
            with open("/etc/passwd") as f:
                text = servers.ns_passwd(f.read(), self.fix)
            with open(self.ns_passwd, "w") as f:
                f.write(text)
        self.ns_ok = ok

    def start_other(self, name, port, tls=False):
        """Write the server's configuration and start it. tls: with FTPS
        offered (the tls-* runs), its files named NAME.tls.*."""
        suffix = ".tls" if tls else ""
        log = self.path("logs", f"{name}{suffix}.server.log")
        confdir = self.path("conf")
        binary = self.find(name)
        tls_files = self.tls if tls else None
        if name in ("vsftpd", "pure-ftpd") and not self.ns_ok:
            self.note(name, "start", "skipped: needs a mount namespace (root) for its ftp user")
            return False
        prefix = servers.with_ftp_user(self.ns_passwd) if name in ("vsftpd", "pure-ftpd") else []
        env = None
        if name == "vsftpd":
            empty = self.path("conf", "vsftpd-empty")
            os.makedirs(empty, exist_ok=True)
            os.chmod(empty, 0o755)
            conf = self.path("conf", f"vsftpd{suffix}.conf")
            with open(conf, "w") as f:
                f.write(servers.vsftpd_conf(port, self.fix, empty, tls_files))
            cmd = prefix + [binary, conf]
        elif name == "pure-ftpd":
            pem = None
            if tls_files:
                pem = self.path("conf", "pure-ftpd.pem")
                servers.pureftpd_cert(*tls_files, pem)
            args = servers.pureftpd_args(port, pem)
            with open(self.path("conf", f"pure-ftpd{suffix}.cmdline"), "w") as f:
                f.write(" ".join(["pure-ftpd"] + args) + "\n")
            cmd = prefix + [binary] + args
        elif name == "proftpd":
            module_dir = servers.proftpd_module_dir(binary)
            if tls_files and module_dir is None:
                self.note(name, "start (TLS)", "skipped: no mod_tls.so next to "
                          f"{binary} (Debian: proftpd-mod-crypto; scripts/bench-servers.sh "
                          "--force proftpd fetches it)")
                return False
            conf = self.path("conf", f"proftpd{suffix}.conf")
            with open(conf, "w") as f:
                f.write(servers.proftpd_conf(port, self.fix, confdir, self.path("logs"),
                                             tls_files, module_dir))
            cmd = [binary, "-n", "-c", conf]
        else:  # pyftpdlib: binary is the python that imports it
            conf = self.path("conf", "pyftpdlib-server.py")
            with open(conf, "w") as f:
                f.write(servers.PYFTPDLIB_SERVER)
            version_env = dict(os.environ, PYTHONPATH=self.pyftpdlib)
            version = subprocess.run(
                [binary, "-c", 'import pyftpdlib, sys; print(pyftpdlib.__ver__, "on python", '
                               'sys.version.split()[0])'],
                env=version_env, capture_output=True, text=True).stdout.strip()
            self.machine_line(name, version)
            if self.pyftpdlib and self.pyftpdlib != "system":
                env = version_env
            return self.start_server(name, port, log, [binary, conf, self.fix, str(port),
                                                       servers.UPLOAD_DIR], env)
        self.machine_line(name, servers.server_version(binary))
        return self.start_server(name, port, log, cmd)

    # --- ftpbench ---------------------------------------------------------------

    def bench(self, label, run, rep=None, limit=None):
        """One ftpbench run against the running server: its row goes to
        results.csv, a failure to notes.txt."""
        tag = run.tag
        log = self.path("logs", f"{label}.{tag}" + (f".{rep}" if rep else "") + ".log")
        limit = limit or self.m.limit()
        args = list(run.args)
        if run.scenario == "idle":
            args += ["--server-pid", str(self.server.pid)]
        scratch = None
        if run.stor:
            # A directory of its own on the fixture's tmpfs, removed after the run.
            name = f"{label}.{tag}".replace("@", "-") + (f".{rep}" if rep else "")
            scratch = os.path.join(self.fix, servers.UPLOAD_DIR, name)
            shutil.rmtree(scratch, ignore_errors=True)
            os.mkdir(scratch)
            os.chmod(scratch, 0o777)
            args += ["--dir", f"/{servers.UPLOAD_DIR}/{name}"]
        cmd = [self.ftpbench, "--scenario", run.scenario, "--host", "127.0.0.1",
               "--port", str(self.server_port), "--sources", str(self.m.sources),
               "--timeout", str(self.m.op_timeout), "--label", label, "--csv", "--csv-header"] + args
        t0 = time.time()
        with open(log, "w") as err:
            # ftpbench stays in our process group, so ^C reaches it.
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=err, text=True, errors="replace")
            try:
                stdout, _ = p.communicate(timeout=limit)
                status = p.returncode if p.returncode >= 0 else 128 - p.returncode
            except subprocess.TimeoutExpired:
                p.terminate()
                status = 124
                try:
                    stdout, _ = p.communicate(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    stdout, _ = p.communicate()
                    status = 137
            except BaseException:
                p.kill()
                p.wait()
                raise
        # stdout: ftpbench's summary for people, then the CSV header and the row.
        row = table.parse_ftpbench_csv(stdout)
        if row is not None:
            table.append_row(self.csv, row)
        keep = [ln for ln in stdout.splitlines()
                if not ln.startswith("label,scenario,") and not ln.startswith(f"{label},{run.scenario},")]
        with open(log, "a") as f:
            f.write("".join(ln + "\n" for ln in keep))
        with open(log, errors="replace") as f:
            text = f.read().splitlines()
        nonblank = [ln for ln in text if ln.strip()]
        last = nonblank[-1] if nonblank else ""
        errs = ""
        for ln in text:
            m = re.match(r"\s*errors\s*([^-]*[^-\s])", ln)
            if m:
                errs = m.group(1)
                break
        with open(log, "a") as f:
            f.write(f"elapsed {int(time.time() - t0)} s, exit {status}\n")
        if scratch is not None:
            size = int(run.args[run.args.index("--size") + 1])
            wrong = check_uploads(scratch, int(table.num(row["ops"]) or 0) if row else 0, size)
            shutil.rmtree(scratch, ignore_errors=True)
            if wrong:
                self.note(label, tag, f"uploads: {wrong}")
        if status == 0:
            print(f"  {label:<16} {tag:<22} {summary(run.scenario, row)}", flush=True)
        elif status in (124, 137):
            self.note(label, tag, f"killed after {limit}s (ftpbench did not finish)")
        elif status == 1:
            if row is not None:
                self.note(label, tag, f"errors above 1%: {errs}; {summary(run.scenario, row)}")
            else:
                self.note(label, tag, f"failed: {last}")
        else:
            self.note(label, tag, f"ftpbench exit {status}: {last}")

    def matrix(self, label):
        ftpd = label.startswith("ftpd-")
        keys = matrix.variant_keys(label[len("ftpd-"):], self.variants) if ftpd else {}
        for item in matrix.plan(matrix.kind_of(label), self.m, self.nofile_num(),
                                self.prefork_workers, self.pool_threads,
                                self.caps if ftpd else None, keys):
            if not matrix.selected(item.tag, self.only):
                continue
            if isinstance(item, matrix.Skip):
                self.note(label, item.tag, item.why)
            elif item.reps is None:
                self.bench(label, item)
            else:
                for rep in range(1, item.reps + 1):
                    self.bench(label, item, rep)

    def wanted(self, label):
        """With --only: does the server's main phase make a selected run?"""
        if self.only is None:
            return True
        plan = matrix.plan(matrix.kind_of(label), self.m, self.nofile_num(), self.prefork_workers,
                           self.pool_threads, self.caps if label.startswith("ftpd-") else None)
        return any(matrix.selected(item.tag, self.only) for item in plan)

    def scale(self, arch):
        """The scale run (matrix.scale_plan) on a server of its own: a
        worker per SCALE_PER_PROCESS sessions, max_clients above them.
        Once per back-end: its variants (hybrid+reuseport) would repeat it."""
        if "+" in arch:
            return
        label = f"ftpd-{arch}"
        ports = read_ints("/proc/sys/net/ipv4/ip_local_port_range")
        file_max = read_ints("/proc/sys/fs/file-max")
        plan = matrix.scale_plan(matrix.kind_of(label), self.m, self.nofile_num(),
                                 mem_available_kib(), ports if ports and len(ports) == 2 else None,
                                 file_max[0] if file_max else None)
        for item in plan:
            if not matrix.selected(item.tag, self.only):
                continue
            if isinstance(item, matrix.Skip):
                self.note(label, item.tag, item.why)
                continue
            print(f"{label} scale run: {item.n:,} sessions, "
                  f"{matrix.scale_workers(item.n)} workers", flush=True)
            if self.start_ftpd(arch, scale_sessions=item.n):
                # Logging in 100,000 sessions takes a while on 2 cores.
                self.bench(label, item, limit=self.m.limit() + item.n // 200)
                self.stop_server()

    def tls_matrix(self, label, start):
        """The FTPS runs of one server (matrix.tls_plan), started by start()
        with TLS on; only notes when it has none."""
        items = [item for item in matrix.tls_plan(matrix.kind_of(label), self.m, self.ftpd_caps(label))
                 if matrix.selected(item.tag, self.only)]
        if not items:
            return
        if all(isinstance(item, matrix.Skip) for item in items):
            for item in items:
                self.note(label, item.tag, item.why)
            return
        print(f"{label} (TLS)", flush=True)
        if not start():
            return
        for item in items:
            if isinstance(item, matrix.Skip):
                self.note(label, item.tag, item.why)
            else:
                for rep in range(1, (item.reps or 1) + 1):
                    self.bench(label, item, rep if item.reps else None)
        self.stop_server()

    def ftpd_caps(self, label):
        return self.caps if label.startswith("ftpd-") else None

    def big_entries(self, archs, other_servers, plain):
        """The large-file phase's servers of one round: (label, start,
        runs) with runs a non-empty list of Run and Skip items (all Skip:
        the server is not started)."""
        out = []
        if plain:
            out += [(f"ftpd-{a}", lambda a=a: self.start_ftpd(a),
                     matrix.big_plan(self.m, self.caps["uploads"])) for a in archs]
            out += [(s, lambda s=s: self.start_other(s, free_port()), matrix.big_plan(self.m))
                    for s in other_servers if self.find(s)]
        if self.tls is not None:
            out += [(f"ftpd-{a}", lambda a=a: self.start_ftpd(a, tls=True),
                     matrix.tls_big_plan(a.split("+")[0], self.m, self.caps)) for a in archs]
            out += [(s, lambda s=s: self.start_other(s, free_port(), tls=True),
                     matrix.tls_big_plan(s, self.m)) for s in other_servers if self.find(s)]
        return out
    def upgrade(self, arch):
        """The live-upgrade run (matrix.upgrade_plan) on a server of its own,
        logging at info (the hand-over line names each new generation's pid):
        after a short warm-up, login@128 without a signal, then as long with
        SIGUSR2 every
        UPGRADE_EVERY s to whichever generation serves. Errors (target 0),
        both rates and the dip go to upgrade.md and the console."""
        label = f"ftpd-{arch}"
        run = matrix.upgrade_plan(matrix.kind_of(label), self.m)
        if not matrix.selected(run.tag, self.only):
            return
        if isinstance(run, matrix.Skip):
            self.note(label, run.tag, run.why)
            return
        conf = self.path("conf", f"{label}.upgrade.conf")
        with open(conf, "w") as f:
            f.write(servers.ftpd_conf(arch, matrix.variant_keys(arch, self.variants),
                                      self.prefork_workers, self.pool_threads))
        port = free_port()
        log = self.path("logs", f"{label}.upgrade.server.log")
        cmd = servers.ftpd_cmd(self.ftpd, conf, arch, port, self.fix)
        cmd[cmd.index("--log-level") + 1] = "info"
        if not self.start_server(label, port, log, cmd):
            return
        rows, upgrades, failed = [], 0, []
        # A warm-up first (not counted): prefork's pool grows and the
        # caches fill, which the baseline must not pay for.
        for half in ("warm-up", "baseline", "upgrade"):
            pid = self.server.pid
            seen = 0
            cmd = [self.ftpbench, "--scenario", "login", "--host", "127.0.0.1", "--port",
                   str(port), "--sources", str(self.m.sources), "--timeout",
                   str(self.m.op_timeout), "--label", f"{label}.{half}", "--csv",
                   "--csv-header"] + list(run.args)
            if half == "warm-up":
                cmd[cmd.index("--duration") + 1] = str(matrix.UPGRADE_EVERY)
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True, errors="replace")
            deadline = time.time() + self.m.limit() + 30
            next_signal = time.time() + matrix.UPGRADE_EVERY
            while p.poll() is None and time.time() < deadline:
                time.sleep(0.05)
                if half == "upgrade" and time.time() >= next_signal:
                    next_signal += matrix.UPGRADE_EVERY
                    # The generation serving now: the last one that said it
                    # was ready (the log is only read past what was seen).
                    with open(log, errors="replace") as f:
                        f.seek(seen)
                        text = f.read()
                        seen = f.tell()
                    for m in re.finditer(r"upgrade: new generation pid (\d+) is ready", text):
                        pid = int(m.group(1))
                    for m in re.finditer(r"upgrade failed: .*", text):
                        failed.append(m.group(0))
                    try:
                        os.kill(pid, signal.SIGUSR2)
                        upgrades += 1
                    except ProcessLookupError:
                        failed.append(f"generation {pid} gone")
            if p.poll() is None:
                p.kill()
            stdout, _ = p.communicate()
            if half != "warm-up":
                rows.append(table.parse_ftpbench_csv(stdout))
        # Stop the generation serving now, then the one we started (gone by
        # now) and whatever is left in the group.
        with open(log, errors="replace") as f:
            f.seek(seen)
            for m in re.finditer(r"upgrade: new generation pid (\d+) is ready", f.read()):
                pid = int(m.group(1))
        if pid != self.server.pid:
            try:
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.1)
            except ProcessLookupError:
                pass
        self.stop_server()
        self.upgrade_report(label, run, rows, upgrades, failed)

    def upgrade_report(self, label, run, rows, upgrades, failed):
        base, up = rows
        if base is None or up is None:
            self.note(label, run.tag, "ftpbench gave no result (see the server log)")
            return
        rate_b, rate_u = table.num(base["ops_per_s"]) or 0, table.num(up["ops_per_s"]) or 0
        dip = 100 * (1 - rate_u / rate_b) if rate_b else 0
        errors = int(table.num(up["errors"]) or 0)
        errors_b = int(table.num(base["errors"]) or 0)
        line = (f"| {label} | {upgrades} | {errors} | {errors_b} | {int(table.num(up['ops']) or 0)} | "
                f"{rate_b:.0f} | {rate_u:.0f} | {dip:.1f} % | {up['p99_ms']} | "
                f"{'; '.join(failed[:2]) or '-'} |\n")
        path = self.path("upgrade.md")
        new = not os.path.exists(path)
        with open(path, "a") as f:
            if new:
                f.write(f"login@{run.n}, {run.args[-1]} s without a signal, then "
                        f"{run.args[-1]} s with SIGUSR2 every {matrix.UPGRADE_EVERY} s "
                        "(target: 0 errors)\n\n"
                        "| server | upgrades | errors | errors without upgrades | logins | "
                        "ops/s before | ops/s during | dip | p99 ms during | failed upgrades |\n"
                        "|---|---|---|---|---|---|---|---|---|---|\n")
            f.write(line)
        print(f"  {label:<16} {run.tag:<22} {upgrades} upgrades, {errors} errors "
              f"({errors_b} without), {rate_b:.0f} -> {rate_u:.0f} ops/s ({dip:.1f} % dip)",
              flush=True)
        if errors or failed:
            self.note(label, run.tag, f"{errors} errors ({errors_b} without upgrades; the server "
                                      f"log says why); {'; '.join(failed[:2])}")

    def nofile_num(self):
        return sys.maxsize if self.nofile == "unlimited" else self.nofile

    # --- the whole run ------------------------------------------------------------

    def main(self, archs, other_servers, out):
        started = time.time()
        if not os.access(self.ftpbench, os.X_OK):
            sys.exit(f"bench.sh: no load generator at {self.ftpbench} (is src/bench/ built?)")
        self.open_run(out)
        self.nofile = raise_nofile()
        print(f"open files (ulimit -n): {self.nofile}", flush=True)
        self.fix = make_fixture(self.m.big_mib)
        with open(self.machine, "w") as f:
            f.write(machine_text(self.nofile, self.m.name, self.fix))
        plain = self.tls_mode != "only"
        if self.tls_mode != "none":
            self.tls, why = make_cert(self.path("conf"))
            if self.tls is None:
                self.note("-", "tls-*", f"skipped: no certificate ({why})")
            else:
                print(f"TLS certificate {os.path.relpath(self.tls[0], self.run)} "
                      "(self-signed, ECDSA P-256)", flush=True)
        if archs:
            self.caps = ftpd_capabilities(self.ftpd, self.fix, self.path("conf"), self.tls)
            tls_state = ("not run" if self.tls_mode == "none"
                         else self.caps["tls"] or "yes (tls = optional)")
            print(f"ftpd {self.ftpd}: uploads: {self.caps['uploads'] or 'yes'}; account: "
                  f"{'yes (yescrypt, ftpd --hash-password)' if self.caps['account'] else self.caps['no_account']}"
                  f"; TLS: {tls_state}", flush=True)

        for arch in archs if plain else []:
            print(f"ftpd-{arch}", flush=True)
            if self.wanted(f"ftpd-{arch}") and self.start_ftpd(arch):
                self.matrix(f"ftpd-{arch}")
                self.stop_server()
            self.scale(arch)
            self.upgrade(arch)
            upgrade_idle.run(self, arch)  # reactor, hybrid: sessions held across SIGUSR2

        # Adaptive pools: defaults against hand-sized, a fresh server per run.
        for arch in (a for a in archs if "+" not in a and plain):  # the defaults of each kind
            for pool, run in matrix.pool_plan(matrix.kind_of(f"ftpd-{arch}"), self.m):
                if not matrix.selected(run.tag, self.only):
                    continue
                label = matrix.pool_label(arch, pool)
                print(f"{label} ({run.tag})", flush=True)
                if self.start_ftpd(arch, pool=(pool, run.n)):
                    self.bench(label, run)
                    self.stop_server()

        # Behind HAProxy: one and two nodes, beside the direct figures.
        if matrix.HAPROXY_ARCH in archs and plain:
            for nodes, runs in matrix.haproxy_plan(self.m):
                label = matrix.haproxy_label(matrix.HAPROXY_ARCH, nodes)
                runs = [r for r in runs if matrix.selected(r.tag, self.only)]
                print(f"{label} (HAProxy, {nodes} node{'s' if nodes > 1 else ''})", flush=True)
                if runs and self.start_haproxy(matrix.HAPROXY_ARCH, nodes, label):
                    for run in runs:
                        self.bench(label, run)
                    self.stop_server()

        missing = [s for s in other_servers if not self.find(s)]
        if missing and self.fetch:
            print(f"fetching {' '.join(missing)} (scripts/bench-servers.sh)", flush=True)
            with open(self.path("logs", "bench-servers.log"), "w") as log:
                rc = subprocess.run([os.path.join(REPO, "scripts", "bench-servers.sh")] + missing,
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT).returncode
            if rc != 0:
                print("  bench-servers.sh failed, see logs/bench-servers.log", flush=True)
        self.setup_namespace()
        for s in other_servers:
            print(s, flush=True)
            if not self.find(s):
                self.note(s, "-", "skipped: not installed (scripts/bench-servers.sh fetches it)")
                continue
            if plain and self.wanted(s) and self.start_other(s, free_port()):
                self.matrix(s)
                self.stop_server()

        if self.tls is not None:
            # FTPS: every server started again with TLS offered.
            print("TLS (explicit FTPS, data connections resuming the control session)", flush=True)
            for arch in archs:
                self.tls_matrix(f"ftpd-{arch}", lambda a=arch: self.start_ftpd(a, tls=True))
            for s in other_servers:
                if self.find(s):
                    self.tls_matrix(s, lambda s=s: self.start_other(s, free_port(), tls=True))

        # Large files, interleaved. One stream at 5 GB/s is bound by memory
        # bandwidth, which on a shared machine drifts by tens of percent over
        # minutes: runs made server after server compared different minutes
        # more than different servers. Here each round runs every server once,
        # in turn, and results.md keeps the median of the rounds.
        entries = self.big_entries(archs, other_servers, plain)
        any_big = any(matrix.selected(r.tag, self.only) for _, _, runs in entries for r in runs
                      if not isinstance(r, matrix.Skip))
        if any_big:
            print(f"large files ({self.m.reps} round(s), each server in turn)", flush=True)
        for rep in range(1, self.m.reps + 1 if any_big else 1):
            for label, start, runs in entries:
                runs = [r for r in runs if matrix.selected(r.tag, self.only)]
                if runs and isinstance(runs[0], matrix.Skip):
                    if rep == 1:
                        for run in runs:
                            self.note(label, run.tag, run.why)
                    continue
                if runs and start():
                    for run in runs:
                        if isinstance(run, matrix.Skip):
                            if rep == 1:
                                self.note(label, run.tag, run.why)
                        else:
                            self.bench(label, run, rep)
                    self.stop_server()

        self.report()
        elapsed = int(time.time() - started)
        with open(self.machine, "a") as f:
            f.write(f"{'elapsed':<12} {elapsed} s\n")
        print(f"\nresults in {self.run} ({elapsed} s): results.csv results.md chart.png machine.txt")
        with open(self.notes) as f:
            notes = [ln.rstrip("\n").split("\t") for ln in f if ln.strip()]
        if notes:
            print("not run or failed (notes.txt):")
            for n in notes:
                n += [""] * (3 - len(n))
                print(f"  {n[0]:<16} {n[1]:<22} {n[2]}")

    def report(self):
        if os.path.exists(self.path("upgrade.md")):
            with open(self.path("upgrade.md")) as f:
                print("live upgrade (upgrade.md):\n" + f.read(), flush=True)
        if os.path.getsize(self.csv) == 0:
            print("no run produced a result", flush=True)
            return
        plot = self.path("plot")
        res = table.Results.from_csv(self.csv)
        with open(self.path("results.md"), "w") as f:
            f.write(table.render(res, self.machine, self.notes, "chart.png"))
        table.write_plot_data(res, plot)
        gplog = self.path("logs", "gnuplot.log")
        with open(gplog, "w") as err:
            try:
                rc = subprocess.run(["gnuplot", "-e", f"datadir='{plot}'", "-e",
                                     f"outfile='{self.path('chart.png')}'",
                                     os.path.join(REPO, "scripts", "bench-plot.gp")],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err).returncode
            except OSError as e:
                err.write(f"{e}\n")
                rc = 127
        if rc != 0:
            print("gnuplot failed, see logs/gnuplot.log", flush=True)
        if os.path.getsize(gplog) == 0:
            os.remove(gplog)

    def cleanup(self):
        self.stop_server()
        if self.fix and os.path.isdir(self.fix):
            shutil.rmtree(self.fix, ignore_errors=True)


def ftpd_bin(build):
    """The ftpd to benchmark: $FTPD, else BUILD/ftpd."""
    return os.environ.get("FTPD") or os.path.join(build, "ftpd")


def _exit_on(signum, _frame):
    raise SystemExit(128 + signum)


def main(argv):
    try:
        opts = parse_args(argv)
    except UsageError as e:
        print(f"bench.sh: {e.args[0]}", file=sys.stderr)
        if len(e.args) > 1:
            sys.stderr.write(USAGE)
        return 2
    if opts["help"]:
        sys.stdout.write(USAGE)
        return 0
    if opts["check_args"]:
        return 0
    if not opts["build"]:
        print("bench.sh: --build DIR (the Release build with ftpd and ftpbench) is missing",
              file=sys.stderr)
        return 2
    ftpd = ftpd_bin(opts["build"])
    listed = subprocess.run([ftpd, "--list-archs"], capture_output=True, text=True, check=True).stdout
    names, variants = matrix.parse_list_archs(listed)
    known = matrix.expand_archs(names, variants)
    archs = opts["archs"] if opts["archs"] is not None else matrix.default_archs(names, opts["quick"])
    for a in archs:
        if a not in known:
            print(f"bench.sh: unknown arch: {a} (one of: {' '.join(known)})", file=sys.stderr)
            return 2
    other = opts["servers"] if opts["servers"] is not None else list(servers.SERVERS)
    b = Bench(opts, variants)
    signal.signal(signal.SIGINT, _exit_on)
    signal.signal(signal.SIGTERM, _exit_on)
    try:
        b.main(archs, other, opts["out"])
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        b.cleanup()
    return 0
