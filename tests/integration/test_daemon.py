"""Running as a system daemon (issue 13), one server start per arch, the way
ftpd.socket and ftpd.service start it:

- socket activation: the test binds the listening socket and passes it
  (LISTEN_FDS, LISTEN_PID), ftpd adopts it and serves on it;
- sd_notify: the test makes the notify socket itself (an abstract AF_UNIX
  datagram socket, as systemd does) and reads READY=1 once the server
  serves, STOPPING=1 when it stops, in that order;
- pid_file holds the server's pid while it runs and is gone after;
- privilege drop (as root only; CI runs as root): with run_as_user = ftp
  every process and thread of the server has the ftp uid and gid (real,
  effective, saved, filesystem), only ftp's groups and NoNewPrivs, and an
  upload is owned by ftp;
- xferlog_file: a completed and an aborted RETR and STOR give four
  xferlog(5) lines, parsed field by field;
- log_target = FILE and SIGUSR1: after the log and the transfer log are
  moved away, SIGUSR1 makes new files, and no line is lost (every line
  is in the old file or the new one);
- log_target = syslog (as root, in a mount namespace whose /dev/log is the
  test's own datagram socket): the lines arrive as syslog messages of
  facility daemon from ftpd[pid], from every process.

The user ftp comes from scripts/lib.sh (ftpd_ensure_ftp_user, run by
scripts/test.sh), as a Debian FTP server package would create it; without it
the privilege checks are skipped with a message.
"""

import ftplib
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time
import unittest

from ftpd_harness import (FTPD_BIN, LISTEN_RE, SANITIZER_MARKERS, TIMEOUT, RawClient, Server,
                          data_connect, make_tree, pid_alive, recv_all, write_config)


ANON_ID = 'xfer@example.org'
ABORT_FILE = 'abort.sparse'  # too big for the socket buffers: RETR cannot end alone
ABORT_SIZE = 64 * 1024 * 1024


def ftp_user():
    """(uid, gid) of ftp when the test can drop to it, else None."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam('ftp')
    except KeyError:
        return None
    return pw.pw_uid, pw.pw_gid


def poll(cond, timeout=TIMEOUT, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(step)
    return cond()


def read_text(path):
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()
    except FileNotFoundError:
        return ''


def status_ids(path):
    """Uid, Gid (4 ids each), Groups and NoNewPrivs of /proc/.../status."""
    out = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(':')
            if key in ('Uid', 'Gid', 'Groups', 'NoNewPrivs'):
                out[key] = value.split()
    return out


class Notify:
    """The service manager's side of sd_notify: an abstract datagram socket."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.name = '@ftpd-test-%d-%s' % (os.getpid(), os.urandom(6).hex())
        self.sock.bind('\0' + self.name[1:])
        self.sock.settimeout(TIMEOUT)

    def next(self):
        """The next message as a dict of its KEY=VALUE lines."""
        data = self.sock.recv(4096).decode()
        return dict(line.split('=', 1) for line in data.split('\n') if line)

    def close(self):
        self.sock.close()


class DaemonTest(unittest.TestCase):

    def setUp(self):
        self.ids = ftp_user()
        self.tmp = tempfile.mkdtemp(prefix='ftpd-daemon-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        os.chmod(self.tmp, 0o755)  # mkdtemp's 0700 would keep ftp out
        self.root = os.path.join(self.tmp, 'tree')
        os.makedirs(self.root)
        self.files = make_tree(self.root)
        with open(os.path.join(self.root, ABORT_FILE), 'wb') as f:
            f.truncate(ABORT_SIZE)
        self.incoming = os.path.join(self.root, 'incoming')
        os.mkdir(self.incoming)
        # What an administrator does for /var/log/ftpd and /run/ftpd: a
        # directory the server's user may create files in (for a reopen
        # after rotation, and to remove its pid file).
        self.var = os.path.join(self.tmp, 'var')
        os.mkdir(self.var)
        if self.ids:
            os.chown(self.incoming, *self.ids)
            os.chown(self.var, *self.ids)
        self.log = os.path.join(self.var, 'ftpd.log')
        self.xferlog = os.path.join(self.var, 'xferlog')
        self.pid_file = os.path.join(self.var, 'ftpd.pid')
        self.notify = Notify()
        self.addCleanup(self.notify.close)

    def start(self):
        keys = {'log_target': self.log, 'xferlog_file': self.xferlog,
                'pid_file': self.pid_file, 'write_enable': 'yes',
                'anonymous_write': 'yes', 'log_level': 'debug'}
        conf = write_config(os.path.join(self.tmp, 'ftpd.conf'), keys)
        # As systemd does for ftpd.socket: bound and listening before ftpd
        # starts, passed as descriptor 3.
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(lsock.close)
        lsock.bind(('127.0.0.1', 0))
        lsock.listen(64)
        self.adopted_port = lsock.getsockname()[1]
        server = Server(self.root, config_path=conf, user='ftp' if self.ids else None,
                        listen_socks=[lsock], extra_env={'NOTIFY_SOCKET': self.notify.name})
        self.addCleanup(server.kill)
        lsock.close()  # ftpd holds it now
        # The log goes to the file, not to stderr: the port is read there.
        m = poll(lambda: LISTEN_RE.search(read_text(self.log)) or server.proc.poll() is not None)
        if not hasattr(m, 'group'):
            self.fail('no "listening on" in %s (exit status %s)\n%s\n%s'
                      % (self.log, server.proc.poll(), read_text(self.log), server.log_text()))
        self.port = int(m.group(2))
        self.assertIn('adopting 1 listening sockets', read_text(self.log))
        self.assertEqual(self.port, self.adopted_port)
        return server

    def client(self):
        c = RawClient('127.0.0.1', self.port)
        self.addCleanup(c.close)
        self.assertEqual(c.cmd('USER anonymous').code, 331)
        self.assertEqual(c.cmd('PASS ' + ANON_ID).code, 230)
        self.assertEqual(c.cmd('TYPE I').code, 200)
        return c

    def test_daemon(self):
        server = self.start()
        first = self.notify.next()
        self.assertEqual(first.get('READY'), '1', first)
        self.assertEqual(read_text(self.pid_file).strip(), str(server.proc.pid))

        self.transfers(server)
        self.check_xferlog()
        self.rotate_logs(server)
        self.reload(server)

        self.assertEqual(server.stop(), 0, read_text(self.log)[-3000:])
        stopping = self.notify.next()
        self.assertEqual(stopping.get('STOPPING'), '1', stopping)
        self.assertFalse(os.path.exists(self.pid_file), 'pid_file left behind')
        text = read_text(self.log + '.1') + read_text(self.log)
        reports = [ln for ln in text.splitlines() if any(m in ln for m in SANITIZER_MARKERS)]
        self.assertEqual(reports, [])

    def reload(self, server):
        """SIGHUP: RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC, in
        microseconds, taken when the reload began), then READY=1."""
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        os.kill(server.proc.pid, signal.SIGHUP)
        reloading = self.notify.next()
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.assertEqual(reloading.get('RELOADING'), '1', reloading)
        self.assertTrue(before <= int(reloading['MONOTONIC_USEC']) <= after, reloading)
        ready = self.notify.next()
        self.assertEqual(ready.get('READY'), '1', ready)

    # ---- transfers, and every process's ids while they run ---------------

    def transfers(self, server):
        c = self.client()
        # Completed RETR of a name with spaces.
        host, port = c.pasv()
        d = data_connect(host, port)
        self.assertEqual(c.cmd('RETR name with spaces.txt').code, 150)
        self.assertEqual(recv_all(d), self.files['name with spaces.txt'])
        d.close()
        self.assertEqual(c.reply().code, 226)
        # Mid-session, so that process's per-connection child exists too.
        self.check_ids(server)
        # Aborted RETR: a receive window nobody reads, then ABOR.
        host, port = c.pasv()
        d = data_connect(host, port, rcvbuf=4096)
        self.assertEqual(c.cmd('RETR ' + ABORT_FILE).code, 150)
        self.assertTrue(d.recv(1024))
        c.send('ABOR\r\n')
        self.assertEqual(c.reply().code, 426)
        self.assertEqual(c.reply().code, 226)
        d.close()
        # Completed STOR.
        self.upload = os.urandom(5000)
        host, port = c.pasv()
        d = data_connect(host, port)
        self.assertEqual(c.cmd('STOR incoming/up.bin').code, 150)
        d.sendall(self.upload)
        d.close()
        self.assertEqual(c.reply().code, 226)
        # Aborted STOR: some bytes, then ABOR with the data connection open.
        host, port = c.pasv()
        d = data_connect(host, port)
        self.assertEqual(c.cmd('STOR incoming/cut.bin').code, 150)
        d.sendall(b'x' * 3000)
        time.sleep(0.1)  # let the server read them (the count is checked loosely)
        c.send('ABOR\r\n')
        self.assertEqual(c.reply().code, 426)
        self.assertEqual(c.reply().code, 226)
        d.close()
        self.assertEqual(c.cmd('QUIT').code, 221)
        c.close()
        path = os.path.join(self.incoming, 'up.bin')
        with open(path, 'rb') as f:
            self.assertEqual(f.read(), self.upload)
        if self.ids:
            st = os.stat(path)
            self.assertEqual((st.st_uid, st.st_gid), self.ids, 'upload not owned by ftp')

    def check_ids(self, server):
        if not self.ids:
            return  # not root, or no ftp user: nothing was dropped
        uid, gid = (str(i) for i in self.ids)
        groups = sorted(str(g) for g in os.getgrouplist('ftp', self.ids[1]))
        seen = 0
        for pid in server.pids():
            try:
                tasks = os.listdir('/proc/%d/task' % pid)
            except FileNotFoundError:
                continue
            for tid in tasks:
                try:
                    ids = status_ids('/proc/%d/task/%s/status' % (pid, tid))
                except FileNotFoundError:
                    continue
                where = 'pid %d task %s: %r' % (pid, tid, ids)
                self.assertEqual(ids['Uid'], [uid] * 4, where)
                self.assertEqual(ids['Gid'], [gid] * 4, where)
                self.assertEqual(sorted(ids.get('Groups', [])), groups, where)
                self.assertEqual(ids['NoNewPrivs'], ['1'], where)
                seen += 1
        self.assertGreater(seen, 0)

    # ---- the transfer log ------------------------------------------------

    def check_xferlog(self):
        lines = poll(lambda: (lambda t: t if len(t) >= 4 else None)(
            read_text(self.xferlog).splitlines()), timeout=5)
        self.assertEqual(len(lines or []), 4, read_text(self.xferlog))
        expect = [  # path, bytes (None: checked below), direction, status
            ('/name_with_spaces.txt', len(self.files['name with spaces.txt']), 'o', 'c'),
            ('/' + ABORT_FILE, None, 'o', 'i'),
            ('/incoming/up.bin', len(self.upload), 'i', 'c'),
            ('/incoming/cut.bin', None, 'i', 'i'),
        ]
        for line, (path, size, direction, status) in zip(lines, expect):
            f = line.split()
            self.assertEqual(len(f), 18, line)
            # Local time (TZ=UTC here) as ctime writes it: "Thu Dec  3 ...".
            self.assertRegex(line, r'^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d \d{4} ')
            when = time.mktime(time.strptime(' '.join(f[:5]), '%a %b %d %H:%M:%S %Y'))
            self.assertLess(abs(when - time.time()), 300, line)
            self.assertGreaterEqual(int(f[5]), 1, line)  # seconds, at least 1
            self.assertEqual(f[6], '127.0.0.1', line)
            if size is not None:
                self.assertEqual(int(f[7]), size, line)
            elif direction == 'o':
                self.assertTrue(0 < int(f[7]) < ABORT_SIZE, line)
            else:
                self.assertLessEqual(int(f[7]), 3000, line)
            self.assertEqual(f[8], path, line)
            self.assertEqual(f[9:18], ['b', '_', direction, 'a', ANON_ID, 'ftp', '0', '*',
                                       status], line)

    # ---- SIGUSR1 ---------------------------------------------------------

    def session_lines(self, text):
        return len(re.findall(r'login anonymous', text))

    def rotate_logs(self, server):
        """Move both logs away (as logrotate does), SIGUSR1, and check that
        the new files appear and that every line is in one or the other."""
        before = self.session_lines(read_text(self.log))
        self.assertGreaterEqual(before, 1)
        os.rename(self.log, self.log + '.1')
        os.rename(self.xferlog, self.xferlog + '.1')
        pids = set(server.pids())  # the master passes the signal on to these
        os.kill(server.proc.pid, signal.SIGUSR1)

        def reopened():
            found = re.findall(r'\[(\d+)\] info  reopen logs \(SIGUSR1\): log files reopened',
                               read_text(self.log))
            # A process that exits meanwhile (a per-connection child whose
            # session just ended) need not reopen anything.
            return {int(p) for p in found} >= {p for p in pids if pid_alive(p)}
        # Each process says so once it has its new files, so in the new log.
        self.assertTrue(poll(reopened), 'not every process %s reopened its logs\n%s\n%s'
                        % (sorted(pids), read_text(self.log + '.1')[-2000:], read_text(self.log)))
        self.assertTrue(os.path.exists(self.xferlog), 'no new transfer log after SIGUSR1')
        # A session after the rotation: its lines land in one of the files
        # (a worker that has not reopened yet still writes the old one).
        f = ftplib.FTP(timeout=TIMEOUT)
        f.connect('127.0.0.1', self.port)
        f.login('anonymous', ANON_ID)
        out = []
        f.retrbinary('RETR small.bin', out.append)
        f.quit()
        self.assertEqual(b''.join(out), self.files['small.bin'])

        def both(path):
            return read_text(path + '.1') + read_text(path)
        self.assertTrue(poll(lambda: self.session_lines(both(self.log)) == before + 1),
                        both(self.log)[-3000:])
        self.assertTrue(poll(lambda: both(self.xferlog).count(' /small.bin ') == 1),
                        both(self.xferlog))
        if self.ids:
            st = os.stat(self.log)
            self.assertEqual(st.st_uid, self.ids[0], 'the reopened log is not ftp\'s')


# /dev in a private mount namespace: a tmpfs holding /dev/null (the
# acceptor's spare descriptor) and /dev/log, a link to the test's socket.
SYSLOG_WRAPPER = '''#!/bin/sh
exec unshare --mount --propagation private /bin/sh -c '
d=$1; s=$2; shift 2
mount -t tmpfs -o size=64k tmpfs "$d" && touch "$d/null" &&
mount --bind /dev/null "$d/null" && ln -s "$s" "$d/log" &&
mount --rbind "$d" /dev && exec "$@"' sh %(dev)s %(sock)s %(ftpd)s "$@"
'''


@unittest.skipUnless(os.geteuid() == 0 and shutil.which('unshare'), 'needs root and unshare')
class SyslogTest(unittest.TestCase):

    def test_log_target_syslog(self):
        tmp = tempfile.mkdtemp(prefix='ftpd-syslog-')
        self.addCleanup(shutil.rmtree, tmp, True)
        root = os.path.join(tmp, 'tree')
        os.makedirs(root)
        with open(os.path.join(root, 'f.txt'), 'wb') as f:
            f.write(b'syslog\n')
        os.mkdir(os.path.join(tmp, 'dev'))
        sock_path = os.path.join(tmp, 'log.sock')
        log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(log.close)
        log.bind(sock_path)
        log.settimeout(TIMEOUT)
        wrapper = os.path.join(tmp, 'ftpd-ns')
        with open(wrapper, 'w') as f:
            f.write(SYSLOG_WRAPPER % {'dev': os.path.join(tmp, 'dev'), 'sock': sock_path,
                                      'ftpd': FTPD_BIN})
        os.chmod(wrapper, stat.S_IRWXU)
        conf = write_config(os.path.join(tmp, 'ftpd.conf'), {'log_target': 'syslog'})
        server = Server(root, config_path=conf, binary=wrapper)
        self.addCleanup(server.kill)

        # Read the socket all along, as syslogd does: a Unix datagram socket
        # queues few messages, and a full one blocks the server's syslog().
        messages = []
        log.settimeout(0.2)
        done = threading.Event()
        self.addCleanup(done.set)

        def reader():
            while not done.is_set():
                try:
                    messages.append(log.recv(4096).decode('utf-8', 'replace'))
                except socket.timeout:
                    continue
                except OSError:
                    return

        t = threading.Thread(target=reader, daemon=True)
        t.start()

        def until(pattern):
            rx = re.compile(pattern)
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                for m in list(messages):
                    found = rx.search(m)
                    if found:
                        return found
                time.sleep(0.02)
            self.fail('no syslog message matching %r; got:\n%s\n%s'
                      % (pattern, '\n'.join(messages), server.log_text()))

        # <30>: facility daemon (3) * 8 + info (6); the ident is ftpd[pid].
        m = until(r'^<30>.* ftpd\[(\d+)\]: listening on 127\.0\.0\.1:(\d+)$')
        self.assertEqual(int(m.group(1)), server.proc.pid)
        f = ftplib.FTP(timeout=TIMEOUT)
        f.connect('127.0.0.1', int(m.group(2)))
        f.login('anonymous', 'x@')
        out = []
        f.retrbinary('RETR f.txt', out.append)
        f.quit()
        self.assertEqual(b''.join(out), b'syslog\n')
        # From whichever process served it (a worker or child on some archs).
        until(r'^<30>.* ftpd\[\d+\]: 127\.0\.0\.1:\d+ anonymous RETR /f\.txt 7 bytes: ok$')
        self.assertEqual(server.stop(), 0)
        self.assertEqual(server.log_text(), '', 'nothing on stderr with log_target = syslog')


if __name__ == '__main__':
    unittest.main()
