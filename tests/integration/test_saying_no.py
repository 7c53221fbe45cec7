"""Saying no (issue 10): a client that cannot be served gets `421 <reason>`
and is closed within one second of connecting, on every arch, never a
silent wait in the listen backlog; each refusal is logged with the peer's
address and the counts by reason are logged when the server stops.

  - max_clients + 1 -> 421 at once (every arch but serial, which cannot
    hold two sessions: there a second client is served if the session ends
    within half a second, and gets "421 Serial server: one session at a
    time" otherwise, also while the first one is downloading);
  - a full pool -> 421 within 1 s: prefork at max_workers, threadpool with
    every thread busy (queue and accept dispatch);
  - prefork with its default pool: it grows under 64 concurrent sessions,
    a worker SIGKILLed while it grows is replaced, and it shrinks back to
    the spare range within a few seconds after the sessions leave.
"""

import ftplib
import os
import re
import signal
import socket
import threading
import time
import unittest

from ftpd_harness import FTPD_ARCH, FTPD_VARIANT, TIMEOUT, FtpdTestCase, RawClient, data_connect

REFUSAL_DEADLINE = 1.0  # seconds from connect() to the 421 and the close


def expect_refusal(testcase, port, source='127.0.0.1', deadline=REFUSAL_DEADLINE):
    """Connect from source; assert a 421 and the close within deadline.
    Returns the 421 line."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    testcase.addCleanup(s.close)
    s.bind((source, 0))
    s.settimeout(deadline + 2)
    t0 = time.monotonic()
    s.connect(('127.0.0.1', port))
    data = b''
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    except socket.timeout:
        testcase.fail('no 421 and close within %.1f s (got %r)' % (deadline + 2, data))
    elapsed = time.monotonic() - t0
    testcase.assertTrue(data.startswith(b'421 '), 'not a 421: %r' % data)
    testcase.assertLess(elapsed, deadline, '421 and close took %.2f s' % elapsed)
    return data.decode('ascii', 'replace').strip(), s.getsockname()[1]


def worker_pids(server):
    """The prefork master's children, from /proc."""
    pids = []
    master = server.proc.pid
    for task in os.listdir('/proc/%d/task' % master):
        with open('/proc/%d/task/%s/children' % (master, task)) as f:
            pids += [int(x) for x in f.read().split()]
    return pids


def wait_until(predicate, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class RefusalCase(FtpdTestCase):
    def assertRefusalLogged(self, client_port, reason):
        m = self.server.wait_log(r'127\.0\.0\.1:%d refused: %s' % (client_port, re.escape(reason)),
                                 2.0)
        self.assertTrue(m, 'no refusal log line for port %d (%s)' % (client_port, reason))

    def assertSummaryAtStop(self, reason, count):
        """Stop the server; its summary line counts the refusals."""
        mark = self.server.log_mark()
        self.assertEqual(self.server.stop(10), 0)
        m = self.server.wait_log(r'refusals: .*%s (\d+)' % re.escape(reason), 2.0, mark)
        self.assertTrue(m, 'no refusal summary at stop:\n' + '\n'.join(self.server.lines[mark:]))
        self.assertEqual(int(m.group(1)), count, m.group(0))


@unittest.skipIf(FTPD_ARCH == 'serial', 'serial holds one session: see SerialRefusalTest')
class MaxClientsRefusalTest(RefusalCase):
    config = {'max_clients': 2}

    def test_max_clients_plus_one_gets_421_within_1s(self):
        a = self.raw_login()
        b = self.raw_login()
        line, port = expect_refusal(self, self.port)
        self.assertIn('Too many users', line)
        self.assertRefusalLogged(port, 'max_clients reached')
        line, _ = expect_refusal(self, self.port)
        self.assertCode(a.cmd('NOOP'), 200)
        self.assertCode(b.cmd('NOOP'), 200)
        a.close()
        b.close()
        self.assertSummaryAtStop('max_clients reached', 2)


@unittest.skipUnless(FTPD_ARCH == 'serial', 'serial only')
class SerialRefusalTest(RefusalCase):
    def test_newcomer_served_if_the_session_ends_within_half_a_second(self):
        a = self.raw_login()
        b = socket.create_connection(('127.0.0.1', self.port), timeout=TIMEOUT)
        self.addCleanup(b.close)
        time.sleep(0.1)
        self.assertCode(a.cmd('QUIT'), 221)
        a.close()
        self.assertTrue(b.recv(4096).startswith(b'220 '))

    def test_second_client_gets_421_within_1s(self):
        a = self.raw_login()
        line, port = expect_refusal(self, self.port)
        self.assertIn('one session at a time', line)
        self.assertRefusalLogged(port, 'serial: one session at a time')
        # Also while the one session is in a transfer (a reader that never
        # reads: the server is blocked sending).
        self.assertCode(a.cmd('TYPE I'), 200)
        _, dport = a.pasv()
        d = data_connect('127.0.0.1', dport, rcvbuf=4096)
        self.addCleanup(d.close)
        self.assertCode(a.cmd('RETR big.bin'), 150)
        self.assertTrue(d.recv(100))
        expect_refusal(self, self.port)
        a.send('ABOR\r\n')
        r = a.reply()
        if r.code == 426:  # then the ABOR's own 226
            r = a.reply()
        self.assertIn(r.code, (225, 226))
        d.close()
        self.assertCode(a.cmd('NOOP'), 200)
        a.close()
        time.sleep(0.2)
        self.assertFreshSessionWorks()
        self.assertSummaryAtStop('serial: one session at a time', 2)


# A full pool: the pool's own maximum, the rest of the config as shipped.
POOL_KEYS = {'prefork': {'workers': 2, 'max_workers': 2}, 'threadpool': {'threads': 2}}


# threadpool_dispatch = event (the plain threadpool) parks idle sessions:
# two logged-in sessions leave its two threads free.
FILLED_BY_IDLE = FTPD_ARCH == 'prefork' or (FTPD_ARCH == 'threadpool'
                                            and FTPD_VARIANT in ('queue', 'accept'))


@unittest.skipUnless(FILLED_BY_IDLE, 'only prefork and threadpool+queue/accept have a pool '
                     'that idle sessions fill')
class FullPoolRefusalTest(RefusalCase):
    config = POOL_KEYS.get(FTPD_ARCH)

    def test_full_pool_gets_421_within_1s(self):
        held = [self.raw_login() for _ in range(2)]
        line, port = expect_refusal(self, self.port)
        self.assertIn('busy', line)
        self.assertRefusalLogged(port, 'every worker busy')
        expect_refusal(self, self.port)
        # A freed worker serves the next client.
        held[0].close()
        time.sleep(0.3)
        self.assertFreshSessionWorks()
        self.assertCode(held[1].cmd('NOOP'), 200)
        held[1].close()
        self.assertSummaryAtStop('every worker busy', 2)


@unittest.skipUnless(FTPD_ARCH == 'threadpool' and FTPD_VARIANT not in ('queue', 'accept'),
                     'threadpool_dispatch = event only')
class EventPoolBusyRefusalTest(RefusalCase):
    """Event mode: idle sessions hold no thread, transfers do. With both
    threads moving (throttled) downloads, a newcomer that would wait for a
    thread to greet it gets 421 within a second."""
    config = {'threads': 2, 'max_rate_download': 100000}

    def slow_download(self, started, stop):
        f = ftplib.FTP(timeout=30)
        f.connect(self.host, self.port)
        f.login()
        f.voidcmd('TYPE I')
        conn = f.transfercmd('RETR slow.bin')
        started.release()
        try:
            while not stop.is_set() and conn.recv(65536):
                pass
        except OSError:
            pass
        conn.close()
        f.close()

    def test_every_thread_moving_a_transfer_gets_421_within_1s(self):
        with open(self.path('slow.bin'), 'wb') as fp:
            fp.truncate(8 << 20)  # 80 s at the cap: longer than the test
        started, stop = threading.Semaphore(0), threading.Event()
        movers = [threading.Thread(target=self.slow_download, args=(started, stop), daemon=True)
                  for _ in range(2)]
        for t in movers:
            t.start()
        try:
            for _ in movers:
                self.assertTrue(started.acquire(timeout=10), 'a transfer did not start')
            time.sleep(0.2)
            line, port = expect_refusal(self, self.port)
            self.assertIn('busy', line)
            self.assertRefusalLogged(port, 'every worker busy')
        finally:
            stop.set()
            for t in movers:
                t.join(10)
        # The threads are free again: a newcomer is greeted and served.
        time.sleep(0.3)
        self.assertFreshSessionWorks()
        self.assertSummaryAtStop('every worker busy', 1)


@unittest.skipUnless(FTPD_ARCH == 'prefork', 'prefork only')
class PreforkPoolTest(FtpdTestCase):
    """The default pool: 2..CPU workers started, 5-10 spare, at most 256."""
    SESSIONS = 64
    MIN_SPARE, MAX_SPARE = 5, 10

    def open_session(self, i, out):
        # Spread over two source addresses: max_per_ip (50) is not the point.
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(('127.0.0.%d' % (1 + i % 2), 0))
            s.settimeout(30)  # queued while the pool grows
            s.connect(('127.0.0.1', self.port))
            out[i] = (s, s.recv(4096))
        except OSError as e:
            out[i] = e

    def test_grows_replaces_a_killed_worker_and_shrinks(self):
        self.assertTrue(wait_until(lambda: len(worker_pids(self.server)) >= self.MIN_SPARE, 5),
                        'the pool did not reach min_spare_workers at start')
        mark = self.server.log_mark()
        results = [None] * self.SESSIONS
        threads = [threading.Thread(target=self.open_session, args=(i, results), daemon=True)
                   for i in range(self.SESSIONS)]
        for t in threads:
            t.start()
        # Mid-growth: kill a worker (it serves one of our sessions).
        self.assertTrue(wait_until(lambda: len(worker_pids(self.server)) >= 20, 15),
                        'the pool did not grow past 20 workers')
        victim = worker_pids(self.server)[0]
        m = self.server.wait_log(r'worker (\d+) started as pid %d\b' % victim, 1.0)
        self.assertTrue(m, 'no start line for worker pid %d' % victim)
        index = m.group(1)
        kill_mark = self.server.log_mark()
        os.kill(victim, signal.SIGKILL)
        self.assertTrue(self.server.wait_log(r'worker pid %d killed by signal 9' % victim, 2.0,
                                             kill_mark))
        self.assertTrue(self.server.wait_log(r'worker %s started as pid (\d+)' % index, 2.0,
                                             kill_mark),
                        'worker %s not replaced after SIGKILL' % index)
        for t in threads:
            t.join(40)
        greeted = [r for r in results if isinstance(r, tuple) and r[1].startswith(b'220')]
        # The victim's session (if it had one) is lost; everyone else is served.
        self.assertGreaterEqual(len(greeted), self.SESSIONS - 1,
                                [r for r in results if not (isinstance(r, tuple)
                                                            and r[1].startswith(b'220'))])
        peak = len(worker_pids(self.server))
        self.assertGreaterEqual(peak, self.SESSIONS - 1, 'pool of %d under %d sessions'
                                % (peak, self.SESSIONS))
        self.assertTrue(self.server.wait_log(r'prefork: \d+ of \d+ workers idle, starting', 0.1,
                                             mark))
        for r in results:
            if isinstance(r, tuple):
                r[0].close()
        # Back to the spare range within a few seconds; retiring is graceful.
        self.assertTrue(wait_until(lambda: self.MIN_SPARE <= len(worker_pids(self.server))
                                   <= self.MAX_SPARE, 6),
                        'pool of %d workers 6 s after the sessions left'
                        % len(worker_pids(self.server)))
        self.assertTrue(self.server.wait_log(r'workers idle, retiring \d+', 0.1, mark))
        self.assertFreshSessionWorks()


if __name__ == '__main__':
    unittest.main()
