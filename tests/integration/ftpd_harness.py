"""Black-box harness for the ftpd integration tests (standard library only).

Every test class gets a fresh fixture tree in a temporary directory and its
own ftpd process on an ephemeral loopback port:

    FTPD_BIN --arch $FTPD_ARCH --listen 127.0.0.1 --port 0 --root TREE
             --log-level debug [--config FILE] [--user root] [extra args]

(--user root when the tests run as root: the trees are root's; see
user_args.)

The server logs "listening on ADDR:PORT" once per listener; the harness reads
stderr until every configured listener has said so (10 s at most), then keeps
draining stderr in a thread so tests can assert on log lines and the pipe
never fills. Every socket operation has a timeout: nothing can hang forever.

The serial back-end serves one control connection at a time, so a test must
close one control connection before it opens the next.
"""

import ftplib
import hashlib
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

TIMEOUT = 10  # seconds, for every network operation
FTPD_BIN = os.environ.get('FTPD_BIN', '')
# FTPD_ARCH is a back-end name, optionally with a variant of it after a '+'
# ("threadpool+accept", "hybrid+reuseport"): the suite then runs against that
# back-end with the variant's config keys, which `ftpd --list-archs` gives
# ("threadpool+accept  threadpool with threadpool_dispatch = accept").
FTPD_ARCH, _, FTPD_VARIANT = os.environ.get('FTPD_ARCH', 'serial').partition('+')


def variant_config(arch, variant):
    """The config keys of arch+variant, from the registry via --list-archs."""
    if not variant:
        return {}
    listing = subprocess.run([FTPD_BIN, '--list-archs'], capture_output=True, text=True,
                             timeout=TIMEOUT, check=True).stdout
    for line in listing.splitlines():
        m = re.match(r'(\S+)\s+\S+ with (\w+) = (\S+)$', line)
        if m and m.group(1) == arch + '+' + variant:
            return {m.group(2): m.group(3)}
    raise RuntimeError('ftpd --list-archs has no variant %s+%s' % (arch, variant))


VARIANT_CONFIG = variant_config(FTPD_ARCH, FTPD_VARIANT) if FTPD_BIN else {}

# Every regular file and directory of the fixture gets this mtime:
# 2020-01-02 03:04:05 UTC.
FIXTURE_MTIME = 1577934245
FIXTURE_MDTM = '20200102030405'

BIG_SIZE = 4 * 1024 * 1024

SANITIZER_MARKERS = ('AddressSanitizer', 'LeakSanitizer', 'ThreadSanitizer',
                     'UndefinedBehaviorSanitizer', 'runtime error:')


def binary_is_sanitized():
    """True when FTPD_BIN was built with a sanitizer (memory figures are
    then meaningless: shadow memory, quarantine)."""
    try:
        with open(FTPD_BIN, 'rb') as f:
            data = f.read()
    except OSError:
        return False
    return b'__asan_init' in data or b'__tsan_init' in data


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 16), b''):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def ipv6_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(('::1', 0))
        return True
    except OSError:
        return False


def lf_to_crlf(data):
    """What TYPE A RETR must send: every bare LF becomes CRLF."""
    return re.sub(rb'(?<!\r)\n', b'\r\n', data)


# --------------------------------------------------------------------------
# Fixture tree
# --------------------------------------------------------------------------

TEXT_CONTENT = b''.join(b'line %05d: the quick brown fox jumps over the lazy dog\n' % i
                        for i in range(6000))  # ~330 KB, crosses transfer chunks
MIXED_CONTENT = b'crlf line\r\nlf line\n\nlast line without newline'


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def make_tree(root):
    """Create the fixture tree; return {virtual path: bytes} of every regular
    file that must be downloadable (symlinks inside the tree included)."""
    files = {
        'empty.txt': b'',
        'one.bin': b'\x00',
        'small.bin': os.urandom(1000),
        'medium.bin': os.urandom(200 * 1024 + 7),
        'big.bin': os.urandom(BIG_SIZE),
        'text.txt': TEXT_CONTENT,
        'mixed.txt': MIXED_CONTENT,
        'name with spaces.txt': b'spaces in the name\n',
        'caf\u00e9.txt': 'caf\u00e9 au lait\n'.encode('utf-8'),
        '.hidden': b'dot file\n',
        'a/a.txt': b'level one\n',
        'a/a.bin': os.urandom(3000),
        'a/b/b.txt': b'level two\n',
        'a/b/b.bin': os.urandom(70 * 1024),
        'a/b/c/c.txt': b'level three\n',
        'a/b/c/c.bin': os.urandom(5000),
        'a/b/c/empty': b'',
        'dir with spaces/inside.txt': b'inside a dir with spaces\n',
        '\u00fcber/datei.txt': b'umlaut dir\n',
        'quote"dir/q.txt': b'quote\n',
    }
    for rel, data in files.items():
        _write(os.path.join(root, rel), data)
    os.makedirs(os.path.join(root, 'a', 'emptydir'), exist_ok=True)
    # Symlinks: one inside (followed), three escaping (must be refused).
    os.symlink('text.txt', os.path.join(root, 'link_inside'))
    os.symlink('a/b', os.path.join(root, 'link_dir'))
    os.symlink('/etc/passwd', os.path.join(root, 'escape_abs'))
    os.symlink(os.path.relpath('/etc/passwd', root), os.path.join(root, 'escape_rel'))
    os.symlink('/etc', os.path.join(root, 'escape_dir'))
    # Known mtimes (files and directories, not the links themselves).
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.utime(p, (FIXTURE_MTIME, FIXTURE_MTIME))
    os.utime(root, (FIXTURE_MTIME, FIXTURE_MTIME))
    files['link_inside'] = TEXT_CONTENT
    return files


ESCAPING_LINKS = ('escape_abs', 'escape_rel', 'escape_dir')


def tree_snapshot(root):
    """Everything observable about a tree: path -> (mode, size, mtime, target)."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            target = os.readlink(p) if os.path.islink(p) else None
            snap[os.path.relpath(p, root)] = (st.st_mode, st.st_size, st.st_mtime_ns, target)
    return snap


# --------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------

LISTEN_RE = re.compile(r'listening on (\[[0-9A-Fa-f:.%a-z]+\]|[0-9.]+):(\d+)')


def ftpd_env():
    env = dict(os.environ)
    env['TZ'] = 'UTC'
    env.setdefault('ASAN_OPTIONS', 'abort_on_error=0')
    return env


def user_args(user=None):
    """--user for a server: as root, ftpd would become run_as_user (ftp by
    default), which cannot read the trees the tests make as root, so the
    suite keeps root explicitly unless a test asks for a user (the
    privilege drop's own test, test_daemon.py)."""
    if user is None and os.geteuid() == 0:
        user = 'root'
    return ['--user', user] if user else []


def run_ftpd(args, timeout=TIMEOUT, **kw):
    """Run ftpd to completion (for CLI tests); returns CompletedProcess."""
    return subprocess.run([FTPD_BIN] + user_args() + list(args), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, env=ftpd_env(), text=True, errors='replace', **kw)


def pid_alive(pid):
    """pid runs: it exists and is not a zombie awaiting its reaper."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except (OSError, IndexError):
        return False


def write_config(path, keys):
    """An INI file with the given keys (no section: inih accepts that),
    plus the keys of the FTPD_ARCH variant under test."""
    with open(path, 'w', encoding='utf-8') as f:
        f.write('# written by the integration harness\n')
        for k, v in dict(VARIANT_CONFIG, **keys).items():
            f.write('%s = %s\n' % (k, v))
    return path


class Server:
    """One ftpd process whose stderr is drained into self.lines."""

    def __init__(self, root, listen='127.0.0.1', extra_args=(), config_path=None,
                 arch=None, nofile=None, fsize=None, listen_socks=(), binary=None,
                 user=None, extra_env=None, listen_flag=True):
        """listen_socks: listening sockets handed to ftpd as systemd does
        (LISTEN_FDS from descriptor 3, LISTEN_PID, LISTEN_FDNAMES "ftp";
        socket activation); binary: run this copy instead of FTPD_BIN;
        user: --user (default: root when run as root, see user_args);
        extra_env: more environment (NOTIFY_SOCKET); listen_flag=False:
        the addresses come from the config file (where a reload may change
        them); `listen` still says which to wait for."""
        if not FTPD_BIN:
            raise RuntimeError('FTPD_BIN is not set (path of the built ftpd)')
        if not os.access(FTPD_BIN, os.X_OK):
            raise RuntimeError('FTPD_BIN=%s is not an executable' % FTPD_BIN)
        self.listen = [a.strip() for a in listen.split(',') if a.strip()]
        self.args = [binary or FTPD_BIN, '--arch', arch or FTPD_ARCH]
        self.args += ['--listen', listen] if listen_flag else []
        self.args += ['--port', '0', '--root', root, '--log-level', 'debug']
        if config_path:
            self.args += ['--config', config_path]
        self.args += user_args(user)
        self.args += list(extra_args)
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False
        self.ports = {}
        self.killed = False
        env = dict(ftpd_env(), **(extra_env or {}))
        command = self.args
        fds = [s.fileno() for s in listen_socks]
        if fds:
            env['LISTEN_FDS'] = str(len(fds))
            env['LISTEN_FDNAMES'] = ':'.join('ftp' for _ in fds)
            # LISTEN_PID is the pid ftpd will have: the shell's, kept by exec.
            command = ['/bin/sh', '-c', 'LISTEN_PID=$$ exec "$@"', 'sh'] + self.args

        def preexec():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            if fsize:
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            # Descriptors 3.. (dup'd above the range first, so no source is
            # overwritten before it is copied); dup2 clears close-on-exec.
            high = [os.dup(fd) for fd in fds]
            for i, fd in enumerate(high):
                os.dup2(fd, 3 + i)
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env,
                                     preexec_fn=preexec if nofile or fsize or fds else None,
                                     close_fds=not fds)
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self):
        # stdout and stderr share one pipe: log lines and anything printed.
        stream = self.proc.stdout
        for raw in iter(stream.readline, b''):
            line = raw.decode('utf-8', 'replace').rstrip('\r\n')
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def log_text(self):
        with self.cond:
            return '\n'.join(self.lines)

    def wait_log(self, pattern, timeout=5.0, start=0):
        """Wait for a log line (from index start) matching pattern; return the
        match or None."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    return None
                self.cond.wait(left)

    def log_mark(self):
        with self.cond:
            return len(self.lines)

    def wait_listening(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        want = {self._norm(a) for a in self.listen}
        with self.cond:
            i = 0
            while True:
                while i < len(self.lines):
                    for m in LISTEN_RE.finditer(self.lines[i]):
                        self.ports[self._norm(m.group(1))] = int(m.group(2))
                    i += 1
                if want <= set(self.ports):
                    return
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    break
                self.cond.wait(min(left, 0.2))
        self.kill()
        raise AssertionError('ftpd did not report "listening on" %s within %.0f s '
                             '(exit status %s)\ncommand: %s\n--- ftpd output ---\n%s'
                             % (sorted(want), timeout, self.proc.poll(),
                                ' '.join(self.args), self.log_text()))

    @staticmethod
    def _norm(addr):
        return addr.strip('[]')

    def port_of(self, addr='127.0.0.1'):
        return self.ports[self._norm(addr)]

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=10.0):
        """SIGTERM, wait, then SIGKILL. Returns the exit status."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_pipe()
        return self.proc.returncode

    def _close_pipe(self):
        self.reader.join(5)
        if not self.reader.is_alive():
            self.proc.stdout.close()

    def kill(self):
        if self.proc.poll() is None:
            self.killed = True
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._close_pipe()

    def pids(self):
        """The server and all its descendants (workers, per-connection children)."""
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            try:
                for task in os.listdir('/proc/%d/task' % pid):
                    with open('/proc/%d/task/%s/children' % (pid, task)) as f:
                        todo.extend(int(x) for x in f.read().split())
            except OSError:
                pass
        return out

    def fd_count(self):
        n = 0
        for pid in self.pids():
            try:
                n += len(os.listdir('/proc/%d/fd' % pid))
            except OSError:
                pass
        return n

    def rss_kib(self):
        total = 0
        for pid in self.pids():
            try:
                with open('/proc/%d/status' % pid) as f:
                    for ln in f:
                        if ln.startswith('VmRSS:'):
                            total += int(ln.split()[1])
            except OSError:
                pass
        return total

    def cpu_seconds(self):
        """User + system CPU time of the server and its descendants."""
        tick = os.sysconf('SC_CLK_TCK')
        total = 0.0
        for pid in self.pids():
            try:
                with open('/proc/%d/stat' % pid) as f:
                    fields = f.read().rsplit(')', 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                pass
        return total

    def sanitizer_reports(self):
        with self.cond:
            return [ln for ln in self.lines if any(m in ln for m in SANITIZER_MARKERS)]


# --------------------------------------------------------------------------
# A raw control connection
# --------------------------------------------------------------------------

class Reply:
    def __init__(self, lines):
        self.lines = lines
        self.code = int(lines[0][:3])
        self.text = '\n'.join(lines)

    def __repr__(self):
        return 'Reply(%r)' % self.text[:2000]


class RawClient:
    """A control connection spoken by hand, with a line reader."""

    def __init__(self, host, port, timeout=TIMEOUT, read_greeting=True):
        family = socket.AF_INET6 if ':' in host else socket.AF_INET
        self.host = host
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = b''
        self.greeting = self.reply() if read_greeting else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode('utf-8')
        self.sock.sendall(data)

    def readline(self):
        """One line without its CRLF, decoded (UTF-8, errors replaced).
        Raises EOFError when the server closed the connection."""
        while b'\n' not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError('connection closed by server (pending: %r)' % self.buf[:200])
            self.buf += chunk
        line, self.buf = self.buf.split(b'\n', 1)
        return line.rstrip(b'\r').decode('utf-8', 'replace')

    def reply(self):
        first = self.readline()
        if not re.match(r'^\d{3}[ -]', first):
            raise AssertionError('malformed reply line: %r' % first)
        lines = [first]
        if first[3] == '-':
            end = first[:3] + ' '
            while True:
                ln = self.readline()
                lines.append(ln)
                if ln.startswith(end):
                    break
        return Reply(lines)

    def cmd(self, line):
        self.send(line + '\r\n')
        return self.reply()

    def login(self, user='anonymous', password='test@example.org'):
        r = self.cmd('USER ' + user)
        if r.code == 331:
            r = self.cmd('PASS ' + password)
        if r.code != 230:
            raise AssertionError('login failed: %r' % r)
        return r

    def pasv(self):
        r = self.cmd('PASV')
        if r.code != 227:
            raise AssertionError('PASV: %r' % r)
        return parse_227(r.text)

    def epsv(self):
        r = self.cmd('EPSV')
        if r.code != 229:
            raise AssertionError('EPSV: %r' % r)
        return parse_229(r.text)

    def wait_eof(self, timeout=TIMEOUT):
        """True when the server closes the connection within timeout (pending
        replies are discarded)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.05, deadline - time.monotonic()))
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except OSError:  # reset counts as closed
            return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def parse_227(text):
    m = re.search(r'(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)', text)
    if not m:
        raise AssertionError('no address in 227 reply: %r' % text)
    n = [int(x) for x in m.groups()]
    return '%d.%d.%d.%d' % tuple(n[:4]), n[4] * 256 + n[5]


def parse_229(text):
    m = re.search(r'\((.)\1\1(\d+)\1\)', text)
    if not m:
        raise AssertionError('malformed 229 reply: %r' % text)
    return int(m.group(2))


def data_connect(host, port, rcvbuf=None, source=None):
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if source:
        s.bind((source, 0))
    s.connect((host, port))
    return s


def recv_all(sock, limit=64 * 1024 * 1024):
    """Read until EOF (timeout per read); returns the bytes."""
    parts = []
    total = 0
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
        if total > limit:
            raise AssertionError('data connection sent more than %d bytes' % limit)
    return b''.join(parts)


def port_args(host, port):
    h = host.split('.')
    return ','.join(h + [str(port >> 8), str(port & 255)])


# --------------------------------------------------------------------------
# The test case base
# --------------------------------------------------------------------------

class FtpdTestCase(unittest.TestCase):
    """Base: a fixture tree and a running ftpd per class.

    Subclasses may set:
      listen      -- comma-separated listen addresses (default 127.0.0.1)
      extra_args  -- extra command-line arguments
      config      -- dict of config-file keys (pasv_min_port, idle_timeout, ...)
    and override extra_fixture(root) to add files.
    """

    listen = '127.0.0.1'
    extra_args = ()
    config = None
    host = '127.0.0.1'
    fsize = None  # RLIMIT_FSIZE of the server, bytes

    @classmethod
    def extra_fixture(cls, root):
        pass

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmpdir = tempfile.mkdtemp(prefix='ftpd-it-')
        cls.addClassCleanup(shutil.rmtree, cls.tmpdir, True)
        cls.root = os.path.join(cls.tmpdir, 'tree')
        os.makedirs(cls.root)
        cls.files = make_tree(cls.root)
        cls.extra_fixture(cls.root)
        config_path = None
        config = dict(VARIANT_CONFIG, **(cls.config or {}))
        if config:  # write_config adds the variant's keys
            config_path = write_config(os.path.join(cls.tmpdir, 'ftpd-test.conf'), config)
        cls.server = Server(cls.root, cls.listen, cls.extra_args, config_path, fsize=cls.fsize)
        cls.addClassCleanup(cls.server.kill)
        cls.server.wait_listening(10)
        cls.proc = cls.server.proc
        cls.port = cls.server.port_of('127.0.0.1' if '127.0.0.1' in cls.server.ports
                                      else cls.server.listen[0])

    @classmethod
    def tearDownClass(cls):
        server = cls.server
        status = server.stop(10)
        reports = server.sanitizer_reports()
        problems = []
        if server.killed:
            problems.append('ftpd did not exit within 10 s of SIGTERM (killed)')
        elif status != 0:
            problems.append('ftpd exited with status %s after SIGTERM' % status)
        if reports:
            problems.append('sanitizer reports:\n' + '\n'.join(reports[:20]))
        super().tearDownClass()
        if problems:
            tail = '\n'.join(server.lines[-60:])
            raise AssertionError('; '.join(problems) + '\n--- ftpd output (tail) ---\n' + tail)

    # ---- helpers for tests -------------------------------------------------

    def path(self, rel):
        return os.path.join(self.root, rel)

    def ftp(self, login=True, host=None, port=None, user='anonymous', passwd='test@example.org'):
        """A connected (and logged-in) ftplib.FTP, closed at the end of the test."""
        host = host or self.host
        port = port or self.server.port_of(host)
        f = ftplib.FTP(timeout=TIMEOUT)
        f.connect(host, port)
        self.addCleanup(self._close_ftp, f)
        if login:
            f.login(user, passwd)
        return f

    @staticmethod
    def _close_ftp(f):
        try:
            f.close()
        except OSError:
            pass

    def raw(self, host=None, port=None, read_greeting=True):
        """A raw control connection (greeting read), closed at the end of the test."""
        host = host or self.host
        port = port or self.server.port_of(host)
        c = RawClient(host, port, read_greeting=read_greeting)
        self.addCleanup(c.close)
        return c

    def raw_login(self, **kw):
        c = self.raw(**kw)
        c.login()
        return c

    def assertCode(self, reply, code, msg=None):
        codes = code if isinstance(code, (tuple, list, set)) else (code,)
        if reply.code not in codes:
            self.fail('%sexpected %s, got %r' % (msg + ': ' if msg else '',
                                                 '/'.join(map(str, codes)), reply))

    def assertServerAlive(self):
        if self.proc.poll() is not None:
            self.fail('ftpd died (status %s)\n--- ftpd output (tail) ---\n%s'
                      % (self.proc.returncode, '\n'.join(self.server.lines[-60:])))

    def assertFreshSessionWorks(self):
        """The server still serves a new session end to end."""
        self.assertServerAlive()
        f = ftplib.FTP(timeout=TIMEOUT)
        try:
            f.connect(self.host, self.server.port_of(self.host))
            f.login('anonymous', 'x@')
            self.assertTrue(f.voidcmd('NOOP').startswith('200'))
            data = []
            f.retrbinary('RETR small.bin', data.append)
            self.assertEqual(b''.join(data), self.files['small.bin'])
        finally:
            f.close()
        self.assertServerAlive()

    def retr_bytes(self, f, name, rest=None):
        out = []
        f.retrbinary('RETR ' + name, out.append, rest=rest)
        return b''.join(out)


def log(*a):
    print(*a, file=sys.stderr)
