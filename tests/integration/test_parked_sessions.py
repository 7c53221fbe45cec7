"""threadpool with threadpool_dispatch = event (its default): sessions
waiting for their next command are parked in an event set, so a few threads
serve many sessions. Held here: thousands of idle logged-in sessions on 32
threads, each still answering NOOP; the idle timeout of parked sessions; a
failed login's delay waited without a thread; a graceful stop that says 421 to the parked sessions while a running
transfer finishes. Skipped on every other back-end and variant (the whole
suite runs against the event mode as the plain `threadpool`)."""
import os
import resource
import shutil
import signal
import socket
import tempfile
import time
import unittest

from ftpd_harness import (FTPD_ARCH, TIMEOUT, VARIANT_CONFIG, RawClient, Server,
                          binary_is_sanitized, data_connect, make_tree, parse_227, recv_all,
                          write_config)

EVENT_MODE = (FTPD_ARCH == 'threadpool'
              and VARIANT_CONFIG.get('threadpool_dispatch', 'event') == 'event')
# A sanitizer slows every hand-over several times: fewer sessions there.
SANITIZED = binary_is_sanitized()
IDLE_SESSIONS = 1000 if SANITIZED else 5000
THREADS = 32
# The pool, the event thread, two hashing threads, the main thread (and a
# sanitizer's own).
MAX_TASKS = THREADS + 4 + (1 if SANITIZED else 0)
BATCH = 200  # connections opened before their replies are read
HUGE_SIZE = 64 * 1024 * 1024  # sparse: larger than the socket buffers


def expect_code(sock, code, buf=b''):
    """Read replies from sock until one with code ends; a 4xx/5xx fails.
    Returns the bytes read past it."""
    end = code.encode() + b' '
    while True:
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            if line[:1] in (b'4', b'5'):
                raise AssertionError('unexpected reply %r (waiting for %s)' % (line, code))
            if line.startswith(end):
                return buf
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError('connection closed while waiting for %s' % code)
        buf += chunk


@unittest.skipUnless(EVENT_MODE, 'sessions are parked by threadpool_dispatch = event only')
class ParkedSessionsTest(unittest.TestCase):

    def setUp(self):
        self.tmpdir = tempfile.mkdtemp(prefix='ftpd-park-')
        self.addCleanup(shutil.rmtree, self.tmpdir, True)
        self.root = os.path.join(self.tmpdir, 'tree')
        os.makedirs(self.root)
        make_tree(self.root)
        with open(os.path.join(self.root, 'huge.bin'), 'wb') as f:
            f.truncate(HUGE_SIZE)
        self.socks = []
        self.addCleanup(self.close_all)

    def close_all(self):
        for s in self.socks:
            s.close()
        self.socks = []

    def start(self, nofile=None, **keys):
        config = write_config(os.path.join(self.tmpdir, 'ftpd.conf'),
                              dict(VARIANT_CONFIG, **keys))
        server = Server(self.root, config_path=config, nofile=nofile)
        self.addCleanup(server.kill)
        server.wait_listening(10)
        return server

    def finish(self, server, timeout=10):
        """Graceful stop: exit status 0 and no sanitizer report."""
        self.assertEqual(server.stop(timeout), 0)
        self.assertEqual(server.sanitizer_reports(), [])

    def login_many(self, server, n):
        """n logged-in sessions, opened BATCH at a time (USER and PASS sent
        before the greeting is read)."""
        port = server.port_of()
        for start in range(0, n, BATCH):
            batch = []
            for _ in range(start, min(n, start + BATCH)):
                s = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
                self.socks.append(s)
                s.sendall(b'USER anonymous\r\nPASS x@example.org\r\n')
                batch.append(s)
            for s in batch:
                expect_code(s, '230')
        return self.socks[-n:]

    def test_idle_sessions_held_by_32_threads_answer_noop(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = IDLE_SESSIONS + 200
        if hard != resource.RLIM_INFINITY and hard < want:
            self.skipTest('RLIMIT_NOFILE hard limit %d < %d' % (hard, want))
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        server = self.start(nofile=want + 100, threads=THREADS, max_clients=IDLE_SESSIONS + 10,
                            max_per_ip=0, log_level='info')
        socks = self.login_many(server, IDLE_SESSIONS)
        tasks = len(os.listdir('/proc/%d/task' % server.proc.pid))
        self.assertLessEqual(tasks, MAX_TASKS, '%d threads for %d sessions'
                             % (tasks, IDLE_SESSIONS))
        for s in socks:
            s.sendall(b'NOOP\r\n')
        for s in socks:
            expect_code(s, '200')
        self.assertEqual(len(os.listdir('/proc/%d/task' % server.proc.pid)), tasks)
        # A new session still gets in and is served at once.
        c = RawClient('127.0.0.1', server.port_of())
        c.login()
        self.assertEqual(c.cmd('NOOP').code, 200)
        self.assertEqual(c.cmd('QUIT').code, 221)
        c.close()
        self.close_all()
        self.finish(server, 30)
        self.assertNotIn('error', server.log_text().lower())

    def test_parked_sessions_time_out(self):
        server = self.start(threads=2, idle_timeout=2)
        t0 = time.monotonic()
        idle = [RawClient('127.0.0.1', server.port_of()) for _ in range(5)]
        for c in idle:
            c.login()
        busy = RawClient('127.0.0.1', server.port_of())
        busy.login()
        # The busy one is parked and woken again and again: each command
        # gives it a fresh idle_timeout.
        while time.monotonic() - t0 < 3.5:
            self.assertEqual(busy.cmd('NOOP').code, 200)
            time.sleep(0.5)
        for c in idle:
            self.assertEqual(c.reply().code, 421)
            self.assertTrue(c.wait_eof(5))
            c.close()
        elapsed = time.monotonic() - t0
        self.assertGreater(elapsed, 1.5)
        self.assertLess(elapsed, 15)
        self.assertEqual(busy.cmd('NOOP').code, 200)
        busy.close()
        self.finish(server)

    def test_failed_login_delay_holds_no_thread(self):
        server = self.start(threads=2, login_fail_delay=4)
        t0 = time.monotonic()
        failing = []
        for _ in range(4):  # twice the pool, each waiting for its 530
            c = RawClient('127.0.0.1', server.port_of())
            self.assertEqual(c.cmd('USER nobody').code, 331)
            c.send('PASS wrong\r\nNOOP\r\n')
            failing.append(c)
        other = RawClient('127.0.0.1', server.port_of())
        self.assertEqual(other.cmd('NOOP').code, 200)
        self.assertLess(time.monotonic() - t0, 2.5, 'a delay held a pool thread')
        for c in failing:
            self.assertEqual(c.reply().code, 530)
            self.assertEqual(c.reply().code, 200)  # the line that waited behind it
            c.close()
        self.assertGreater(time.monotonic() - t0, 3.5)
        other.close()
        self.finish(server)

    def test_graceful_stop_parked_421_running_transfer_finishes(self):
        server = self.start(threads=2, shutdown_grace=20)
        parked = [RawClient('127.0.0.1', server.port_of()) for _ in range(6)]
        for c in parked:
            c.login()
        mover = RawClient('127.0.0.1', server.port_of())
        mover.login()
        self.assertEqual(mover.cmd('TYPE I').code, 200)
        host, port = parse_227(mover.cmd('PASV').text)
        data = data_connect(host, port, rcvbuf=8192)
        mover.send('RETR huge.bin\r\n')
        self.assertEqual(mover.reply().code, 150)
        # Let the transfer fill the buffers: it now waits on a pool thread.
        data.settimeout(TIMEOUT)
        first = data.recv(4096)
        self.assertTrue(first)
        mark = server.log_mark()
        server.proc.send_signal(signal.SIGTERM)
        self.assertIsNotNone(server.wait_log('stopping', 5, mark))
        t0 = time.monotonic()
        for c in parked:
            self.assertEqual(c.reply().code, 421)
            self.assertTrue(c.wait_eof(5))
            c.close()
        self.assertLess(time.monotonic() - t0, 10)
        self.assertTrue(server.alive())
        rest = recv_all(data, limit=HUGE_SIZE + 1)
        data.close()
        self.assertEqual(len(first) + len(rest), HUGE_SIZE)
        self.assertEqual(mover.reply().code, 226)
        self.assertEqual(mover.reply().code, 421)
        self.assertTrue(mover.wait_eof(5))
        mover.close()
        server.proc.wait(10)
        self.finish(server, 1)


if __name__ == '__main__':
    unittest.main()
