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
     generation logs the rollback and goes on serving.
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
                          write_config)

# Bounds of the upgrade checks: generous for a loaded 2-core machine.
UPGRADE_WAIT = 20.0


def pid_alive(pid):
    """True while pid runs (a zombie awaiting its reaper counts as gone)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


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
        config = dict(VARIANT_CONFIG, workers='2')
        config_path = write_config(os.path.join(cls.tmpdir, 'ftpd.conf'), config)
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
        one the harness started if it still runs."""
        if cls.pid != cls.server.proc.pid and pid_alive(cls.pid):
            os.kill(cls.pid, signal.SIGTERM)
            if not wait_until(lambda: not pid_alive(cls.pid), 10):
                os.kill(cls.pid, signal.SIGKILL)
        cls.server.stop(10)

    def greet_pid(self):
        """Connect, and return the pid whose log line says it took us."""
        mark = self.server.log_mark()
        c = RawClient('127.0.0.1', self.port, timeout=TIMEOUT)
        try:
            self.assertEqual(c.greeting.code, 220, c.greeting)
            local = '127.0.0.1:%d connected' % c.sock.getsockname()[1]
            m = self.server.wait_log(r'\[(\d+)\] info  ' + local, 5, mark)
            self.assertIsNotNone(m, 'no log line for %s\n%s' % (local, self.server.log_text()))
            c.cmd('QUIT')
        finally:
            c.close()
        return int(m.group(1))

    def test_a_socket_activation(self):
        """The passed socket is served, with nothing bound anew."""
        self.assertIsNotNone(self.server.wait_log(r'adopting 1 listening sockets', 1))
        self.assertEqual(self.server.port_of('127.0.0.1'), self.port)
        self.assertTrue(self.greet_pid() > 0)


if __name__ == '__main__':
    unittest.main()
