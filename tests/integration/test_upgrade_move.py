"""Live upgrade on reactor and hybrid: idle sessions move to the new
generation (issue 12, src/arch/evented/handover.c).

One server start per arch. Before SIGUSR2, an ftplib session logs in, goes
to a subdirectory and sets TYPE I (and one of an account, users_file, in a
subdirectory of its home); a second one starts a RETR of a file
larger than the socket buffers and reads none of it yet (the transfer
stalls mid-way, whatever the machine's speed); a third one is FTPS. After the upgrade the first session, on
the same connection, runs PWD, LIST and RETR, answered by the new generation
(its log lines carry the pid of a process that did not exist before the
upgrade); the second one finishes its RETR in the old generation with the
right sha256, then moves and keeps working in the new one; the FTPS session
stays in the old generation (TLS state cannot move) and is served there
until it quits. The old generation then exits.

The other back-ends skip it: their sessions drain in the old generation."""
import ftplib
import hashlib
import os
import re
import shutil
import signal
import tempfile
import time
import unittest

from ftpd_harness import (FTPD_ARCH, TIMEOUT, Server, make_tree, sha256_of, write_config)
from test_accounts import hash_password
from test_tls import OPENSSL, client_context, make_cert

EVENTED = FTPD_ARCH in ('reactor', 'hybrid')
HUGE = 24 * 1024 * 1024


def children(pid):
    """The pids of pid's child processes (none once it is gone)."""
    out = []
    try:
        for task in os.listdir('/proc/%d/task' % pid):
            with open('/proc/%d/task/%s/children' % (pid, task)) as f:
                out.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return out


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def poll(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for ' + what)
        time.sleep(0.02)


@unittest.skipUnless(EVENTED, 'idle sessions move on reactor and hybrid only')
@unittest.skipUnless(OPENSSL, 'openssl is not installed')
class UpgradeMoveTest(unittest.TestCase):

    def setUp(self):
        self.tmpdir = tempfile.mkdtemp(prefix='ftpd-move-')
        self.addCleanup(shutil.rmtree, self.tmpdir, True)
        self.root = os.path.join(self.tmpdir, 'tree')
        os.makedirs(self.root)
        self.files = make_tree(self.root)
        # More than loopback's socket buffers hold (tcp_rmem + tcp_wmem at
        # most 10 MiB by default): unread, its RETR cannot end.
        with open(os.path.join(self.root, 'huge.bin'), 'wb') as f:
            f.write(os.urandom(HUGE))
        cert, key = make_cert(self.tmpdir)
        # An account whose home is a/b: looked up again, its home reopened,
        # in the new generation.
        users = os.path.join(self.tmpdir, 'users')
        with open(users, 'w') as f:
            f.write('alice:%s:%s:r\n' % (hash_password('secret'), os.path.join(self.root, 'a')))
        config = write_config(os.path.join(self.tmpdir, 'ftpd.conf'),
                              dict(workers=2, tls='optional', tls_cert_file=cert,
                                   tls_key_file=key, users_file=users))
        self.server = Server(self.root, config_path=config)
        self.addCleanup(self.server.kill)
        self.server.wait_listening(10)
        self.new_main = None
        self.addCleanup(self.check_sanitizers)  # runs last: both generations gone
        self.addCleanup(self.stop_new_generation)

    def stop_new_generation(self):
        pid = self.new_main
        if pid is None or not alive(pid):
            return
        os.kill(pid, signal.SIGTERM)
        try:
            poll(lambda: not alive(pid), 10, 'the new generation to exit')
        except AssertionError:
            os.kill(pid, signal.SIGKILL)
            raise

    def check_sanitizers(self):
        self.server.stop(10)  # the old generation has exited: this reads to EOF
        reports = self.server.sanitizer_reports()
        self.assertEqual(reports, [], '\n'.join(self.server.lines[-60:]))

    def session(self, user='anonymous', passwd='test@example.org'):
        f = ftplib.FTP(timeout=TIMEOUT)
        f.connect('127.0.0.1', self.server.port_of())
        self.addCleanup(f.close)
        f.login(user, passwd)
        f.user = user
        return f

    def moved_in(self, f, timeout):
        """The pid that logged f's session moving in, or None."""
        port = f.sock.getsockname()[1]
        m = self.server.wait_log(r'\[(\d+)\] \w+ +127\.0\.0\.1:%d %s moved in from the '
                                 r'old generation' % (port, f.user), timeout)
        return int(m.group(1)) if m else None

    def served_by(self, f, rx):
        """The pid of the last log line of f's session matching rx."""
        port = f.sock.getsockname()[1]
        m = self.server.wait_log(r'\[(\d+)\] \w+ +127\.0\.0\.1:%d %s %s' % (port, f.user, rx), 5)
        self.assertIsNotNone(m, 'no log line "%s" for port %d' % (rx, port))
        return int(m.group(1))

    def test_sessions_move_and_carry_on(self):
        server = self.server
        idle = self.session()
        idle.cwd('/a/b')
        idle.voidcmd('TYPE I')
        alice = self.session('alice', 'secret')
        alice.cwd('b/c')

        tls = ftplib.FTP_TLS(context=client_context(), timeout=TIMEOUT)
        tls.connect('127.0.0.1', self.server.port_of())
        self.addCleanup(tls.close)
        tls.login('anonymous', 'test@example.org')  # AUTH TLS first
        tls_port = tls.sock.getsockname()[1]

        busy = self.session()
        busy.voidcmd('TYPE I')
        data = busy.transfercmd('RETR huge.bin')
        got = hashlib.sha256()
        first = data.recv(64 * 1024)
        self.assertTrue(first)
        got.update(first)

        # Both sessions are served: every worker of the old generation runs.
        old_pids = set(server.pids())
        old_children = set(children(server.proc.pid))
        os.kill(server.proc.pid, signal.SIGUSR2)
        poll(lambda: set(children(server.proc.pid)) - old_children, 5, 'the new generation')
        self.new_main = (set(children(server.proc.pid)) - old_children).pop()

        # The idle session moves as soon as the new generation is ready.
        new_pid = self.moved_in(idle, 15)
        self.assertIsNotNone(new_pid, 'the idle session did not move:\n' + server.log_text())
        self.assertNotIn(new_pid, old_pids)
        self.assertIsNone(self.moved_in(busy, 0), 'moved mid-transfer')
        self.assertEqual(idle.pwd(), '/a/b')
        names = []
        idle.retrlines('LIST', names.append)
        self.assertTrue(any(line.endswith(' b.bin') for line in names), names)
        blob = []
        idle.retrbinary('RETR b.bin', blob.append)
        self.assertEqual(b''.join(blob), self.files['a/b/b.bin'])
        self.assertNotIn(self.served_by(idle, r'RETR /a/b/b\.bin \d+ bytes: ok'), old_pids)
        self.assertNotIn(self.moved_in(alice, 5), old_pids | {None})
        self.assertEqual(alice.pwd(), '/b/c')
        blob = []
        alice.retrbinary('RETR c.bin', blob.append)
        self.assertEqual(b''.join(blob), self.files['a/b/c/c.bin'])
        self.assertNotIn(self.served_by(alice, r'RETR /b/c/c\.bin \d+ bytes: ok'), old_pids)

        # The transfer finishes in the old generation, then the session moves.
        self.assertIsNone(self.moved_in(busy, 0), 'moved mid-transfer')
        while True:
            chunk = data.recv(256 * 1024)
            if not chunk:
                break
            got.update(chunk)
        data.close()
        busy.voidresp()
        self.assertEqual(got.hexdigest(), sha256_of(os.path.join(self.root, 'huge.bin')))
        self.assertIn(self.served_by(busy, r'RETR /huge\.bin \d+ bytes: ok'), old_pids)
        busy_pid = self.moved_in(busy, 10)
        self.assertIsNotNone(busy_pid, 'the session did not move after its transfer')
        self.assertNotIn(busy_pid, old_pids)
        self.assertEqual(busy.pwd(), '/')
        busy.voidcmd('NOOP')
        blob = []
        busy.retrbinary('RETR small.bin', blob.append)
        self.assertEqual(b''.join(blob), self.files['small.bin'])
        self.assertNotIn(self.served_by(busy, r'RETR /small\.bin \d+ bytes: ok'), old_pids)

        # The FTPS session stayed; it is served there until it quits.
        m = server.wait_log(r'\[(\d+)\] \w+ +127\.0\.0\.1:%d anonymous stays in this '
                            r'generation: TLS session' % tls_port, 5)
        self.assertIsNotNone(m, 'the FTPS session did not stay')
        self.assertIn(int(m.group(1)), old_pids)
        self.assertEqual(tls.pwd(), '/')
        self.assertEqual(tls.sendcmd('QUIT')[:3], '221')
        m = server.wait_log(r'\[(\d+)\] \w+ +127\.0\.0\.1:%d anonymous disconnected' % tls_port,
                            5)
        self.assertIsNotNone(m)
        self.assertIn(int(m.group(1)), old_pids)

        # Empty, the old generation exits; the new one serves on.
        server.proc.wait(15)
        counts = re.findall(r'handover: (\d+) sessions moved, (\d+) stayed', server.log_text())
        self.assertEqual([sum(int(c[0]) for c in counts), sum(int(c[1]) for c in counts)], [3, 1])
        idle.voidcmd('NOOP')
        self.assertEqual(idle.sendcmd('QUIT')[:3], '221')
        busy.voidcmd('NOOP')


if __name__ == '__main__':
    unittest.main()
