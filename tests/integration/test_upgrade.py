"""Socket activation and the live upgrade (SIGUSR2), on every back-end.

One server per back-end, started the way systemd starts a socket-activated
service: the test binds the listening socket itself and hands it over with
LISTEN_FDS / LISTEN_PID. The binary is a copy in a temporary directory, so
the test can replace it. The tests run in order on that one server:

  a. socket activation: the passed socket is served (never re-bound);
  b. SIGUSR2 with the same binary: a new pid serves on the same socket, the
     old one exits, and a client connecting in a loop throughout is never
     refused or reset;
  c. SIGUSR2 with a bad binary (a script that exits at once): the running
     generation logs the rollback and goes on serving;
  d. the same with the right binary and a configuration it rejects.
"""

import os
import shutil
import signal
import socket
import tempfile
import threading
import time
import unittest

from ftpd_harness import (FTPD_BIN, TIMEOUT, VARIANT_CONFIG, RawClient, Server, make_tree,
                          pid_alive, write_config)

# Bounds of the upgrade checks: generous for a loaded 2-core machine.
UPGRADE_WAIT = 20.0


def wait_until(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


class ConnectLoop(threading.Thread):
    """Connects, reads the greeting, says QUIT, again and again until
    stopped; counts what went wrong. Every failure is kept for the report."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.done = threading.Event()
        self.ok = 0
        self.failures = []

    def run(self):
        while not self.done.is_set():
            try:
                c = RawClient('127.0.0.1', self.port, timeout=TIMEOUT)
                try:
                    if c.greeting.code != 220:
                        self.failures.append('greeting %r' % c.greeting)
                    else:
                        c.cmd('QUIT')
                        self.ok += 1
                finally:
                    c.close()
            except OSError as e:
                self.failures.append(repr(e))
            time.sleep(0.01)


class TestUpgrade(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.mkdtemp(prefix='ftpd-upgrade-')
        cls.addClassCleanup(shutil.rmtree, cls.tmpdir, True)
        cls.root = os.path.join(cls.tmpdir, 'tree')
        os.makedirs(cls.root)
        make_tree(cls.root)
        cls.binary = os.path.join(cls.tmpdir, 'bin', 'ftpd')
        os.makedirs(os.path.dirname(cls.binary))
        shutil.copy2(FTPD_BIN, cls.binary)
        config = dict(VARIANT_CONFIG, upgrade_drain_timeout='2', workers='2')
        config_path = cls.config_path = write_config(os.path.join(cls.tmpdir, 'ftpd.conf'),
                                                     config)
        cls.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        cls.sock.bind(('127.0.0.1', 0))
        cls.sock.listen(128)
        cls.addClassCleanup(cls.sock.close)
        cls.port = cls.sock.getsockname()[1]
        cls.server = Server(cls.root, '127.0.0.1', config_path=config_path,
                            listen_socks=[cls.sock], binary=cls.binary)
        cls.server.wait_listening(10)
        cls.pid = cls.server.proc.pid  # the generation serving now
        cls.addClassCleanup(cls.stop_current)

    @classmethod
    def stop_current(cls):
        """Stop whichever generation serves now (exactly its pid), then the
        one the harness started if it still runs; every generation wrote to
        the same log: no sanitizer report in it."""
        problems = []
        if cls.pid != cls.server.proc.pid and pid_alive(cls.pid):
            os.kill(cls.pid, signal.SIGTERM)
            if not wait_until(lambda: not pid_alive(cls.pid), 10):
                os.kill(cls.pid, signal.SIGKILL)
                problems.append('generation %d ignored SIGTERM for 10 s' % cls.pid)
        cls.server.stop(10)
        reports = cls.server.sanitizer_reports()
        if reports:
            problems.append('sanitizer reports:\n' + '\n'.join(reports[:20]))
        if problems:
            raise AssertionError('; '.join(problems) + '\n--- ftpd output (tail) ---\n'
                                 + '\n'.join(cls.server.lines[-60:]))

    def assert_served_by(self, generation):
        """A new connection is served by generation (its main process or
        one of its workers or children, looked at while it serves us)."""
        mark = self.server.log_mark()
        c = RawClient('127.0.0.1', self.port, timeout=TIMEOUT)
        try:
            self.assertEqual(c.greeting.code, 220, c.greeting)
            local = '127.0.0.1:%d connected' % c.sock.getsockname()[1]
            m = self.server.wait_log(r'\[(\d+)\] info  ' + local, 5, mark)
            self.assertIsNotNone(m, 'no log line for %s\n%s' % (local, self.server.log_text()))
            self.assertTrue(self.served_by(int(m.group(1)), generation),
                            'pid %s is not of generation %d' % (m.group(1), generation))
            c.cmd('QUIT')
        finally:
            c.close()

    def served_by(self, pid, generation):
        """pid is generation's main process or one of its workers."""
        if pid == generation:
            return True
        try:
            with open('/proc/%d/stat' % pid) as f:
                return int(f.read().rsplit(')', 1)[1].split()[1]) == generation
        except OSError:
            return False

    def upgrade(self, loop):
        """SIGUSR2 to the serving generation; returns the new one's pid."""
        mark = self.server.log_mark()
        os.kill(self.pid, signal.SIGUSR2)
        m = self.server.wait_log(r'upgrade: new generation pid (\d+) is ready', UPGRADE_WAIT,
                                 mark)
        self.assertIsNotNone(m, 'no hand-over\n' + self.server.log_text()[-4000:])
        return int(m.group(1))

    def test_a_socket_activation(self):
        """The passed socket is served, with nothing bound anew."""
        self.assertIsNotNone(self.server.wait_log(r'adopting 1 listening sockets', 1))
        self.assertEqual(self.server.port_of('127.0.0.1'), self.port)
        self.assert_served_by(self.pid)

    def test_b_upgrade(self):
        """SIGUSR2: the new binary serves on the same socket, the old one
        drains (a session in it goes on; one left idle gets 421 at
        upgrade_drain_timeout, or has moved on reactor and hybrid) and
        exits, and no connection attempt fails meanwhile."""
        serial = self.server.args[self.server.args.index('--arch') + 1] == 'serial'
        loop = ConnectLoop(self.port)
        loop.start()
        self.addCleanup(loop.done.set)
        self.assertTrue(wait_until(lambda: loop.ok >= 3, 10), loop.failures)
        held = []
        if not serial:  # serial serves one session at a time: none held
            for _ in range(2):
                c = RawClient('127.0.0.1', self.port)
                self.addCleanup(c.close)
                self.assertEqual(c.login().code, 230)
                held.append(c)
        old = self.pid
        new = self.upgrade(loop)
        self.assertNotEqual(new, old)
        if held:
            self.assertEqual(held[0].cmd('NOOP').code, 200)  # still served
            held[0].cmd('QUIT')
        self.assertTrue(wait_until(lambda: not pid_alive(old), UPGRADE_WAIT),
                        'old generation %d still runs\n%s' % (old, self.server.log_text()[-3000:]))
        self.pid = type(self).pid = new
        if held:  # drained (421 at the drain timeout) or moved (still serving)
            try:
                code = held[1].cmd('NOOP').code
            except OSError:
                code = None
            self.assertIn(code, (200, 421))
        seen = loop.ok
        self.assertTrue(wait_until(lambda: loop.ok >= seen + 3, 10), loop.failures)
        loop.done.set()
        loop.join(TIMEOUT + 1)
        self.assertEqual(loop.failures, [], 'connection attempts failed during the upgrade')
        self.assert_served_by(new)

    def test_c_bad_binary_rolls_back(self):
        """A new binary that dies before it is ready: logged, the child
        reaped, the running generation serves on; a second SIGUSR2 while
        one starts is logged and ignored."""
        bad = self.binary + '.new'
        with open(bad, 'w') as f:
            f.write('#!/bin/sh\nsleep 0.6\nexit 3\n')
        os.chmod(bad, 0o755)
        os.rename(bad, self.binary)  # as a package manager replaces it
        loop = ConnectLoop(self.port)
        loop.start()
        self.addCleanup(loop.done.set)
        mark = self.server.log_mark()
        os.kill(self.pid, signal.SIGUSR2)
        self.assertIsNotNone(self.server.wait_log(r'upgrade: started', 5, mark))
        os.kill(self.pid, signal.SIGUSR2)
        self.assertIsNotNone(self.server.wait_log(r'SIGUSR2 ignored, one is already starting',
                                                  5, mark))
        m = self.server.wait_log(r'upgrade failed: .*exited before it was ready \(exit status 3\);'
                                 r' rolled back, pid (\d+) goes on serving', UPGRADE_WAIT, mark)
        self.assertIsNotNone(m, self.server.log_text()[-3000:])
        self.assertEqual(int(m.group(1)), self.pid)
        self.assertTrue(pid_alive(self.pid))
        seen = loop.ok
        self.assertTrue(wait_until(lambda: loop.ok >= seen + 3, 10), loop.failures)
        loop.done.set()
        loop.join(TIMEOUT + 1)
        self.assertEqual(loop.failures, [])
        self.assert_served_by(self.pid)

    def test_d_bad_config_rolls_back(self):
        """The right binary, but a configuration it rejects: rolled back the
        same way, still serving."""
        good = self.binary + '.new'
        shutil.copy2(FTPD_BIN, good)
        os.rename(good, self.binary)
        with open(self.config_path, 'a') as f:
            f.write('no_such_key = 1\n')
        mark = self.server.log_mark()
        os.kill(self.pid, signal.SIGUSR2)
        self.assertIsNotNone(self.server.wait_log(r"unknown key 'no_such_key'", UPGRADE_WAIT, mark),
                             self.server.log_text()[-3000:])
        m = self.server.wait_log(r'upgrade failed: .*exited before it was ready \(exit status 1\);'
                                 r' rolled back, pid (\d+) goes on serving', UPGRADE_WAIT, mark)
        self.assertIsNotNone(m, self.server.log_text()[-3000:])
        self.assertEqual(int(m.group(1)), self.pid)
        self.assert_served_by(self.pid)


if __name__ == '__main__':
    unittest.main()
