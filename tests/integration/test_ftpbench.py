"""ftpbench, the load generator, against a real ftpd of the back-end under
test: every scenario runs for a second or so; the output must parse (CSV
with its header, and JSON with the same keys) and the counts must agree
with each other and with the fixture (bytes = transfers x file size, an
exact --count, sessions held). Also: a wrong --size, a missing file, a
server that never answers (errors counted, no hang) and usage errors.

ftpbench is looked for next to FTPD_BIN (the build directory); the tests
are skipped when it was not built."""

import csv
import io
import json
import os
import socket
import subprocess
import time
import unittest

from ftpd_harness import FTPD_ARCH, FTPD_BIN, FtpdTestCase

FTPBENCH = os.path.join(os.path.dirname(FTPD_BIN), 'ftpbench') if FTPD_BIN else ''

COLUMNS = ('label,scenario,concurrency,duration_s,ops,errors,ops_per_s,mb_per_s,p50_ms,p99_ms,'
           'max_ms,sessions_held,noop_p50_ms,noop_p99_ms,mem_before_kib,mem_held_kib,'
           'bytes_per_session,slow_clients,slow_ops').split(',')

SMALL_SIZE = 4096
BIG_SIZE = 8 * 1024 * 1024
DIR_ENTRIES = 200

# Sessions the back-end serves at once with the config below: serial one,
# prefork its workers, threadpool its threads; the others many.
WORKERS, THREADS = 2, 8
CAPACITY = {'serial': 1, 'prefork': WORKERS, 'threadpool': THREADS}.get(FTPD_ARCH, 16)


@unittest.skipUnless(FTPBENCH and os.access(FTPBENCH, os.X_OK), 'ftpbench not built')
class FtpbenchTest(FtpdTestCase):
    config = {'workers': WORKERS, 'threads': THREADS, 'max_per_ip': 0}

    @classmethod
    def extra_fixture(cls, root):
        os.makedirs(os.path.join(root, 'bench', 'dir'))
        with open(os.path.join(root, 'bench', 'small.bin'), 'wb') as f:
            f.write(os.urandom(SMALL_SIZE))
        with open(os.path.join(root, 'bench', 'big.bin'), 'wb') as f:
            f.write(os.urandom(BIG_SIZE))
        for i in range(DIR_ENTRIES):
            open(os.path.join(root, 'bench', 'dir', 'f%03d' % i), 'wb').close()

    def bench(self, *args, port=None, timeout=60, expect_status=0):
        """Run ftpbench with CSV (and header) and JSON; return the row as a
        dict (JSON values), after checking that both forms agree."""
        cmd = [FTPBENCH, '--port', str(port or self.port), '--label', 'it-' + FTPD_ARCH,
               '--quiet', '--csv-header', '--json'] + [str(a) for a in args]
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, text=True)
        self.elapsed = time.monotonic() - t0
        msg = 'ftpbench %s\nexit %d\n--- stdout ---\n%s--- stderr ---\n%s' % (
            ' '.join(cmd[1:]), p.returncode, p.stdout, p.stderr)
        self.assertEqual(p.returncode, expect_status, msg)
        # Not a terminal: no progress line on stderr.
        self.assertNotIn('\r', p.stderr, msg)
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), 3, msg)
        rows = list(csv.reader(io.StringIO('\n'.join(lines[:2]))))
        self.assertEqual(rows[0], COLUMNS, msg)
        self.assertEqual(len(rows[1]), len(COLUMNS), msg)
        obj = json.loads(lines[2])
        self.assertEqual(list(obj), COLUMNS, msg)
        for key, text in zip(COLUMNS, rows[1]):
            value = obj[key]
            if text == '':
                self.assertIsNone(value, '%s: %s' % (key, msg))
            elif isinstance(value, str):
                self.assertEqual(value, text, msg)
            else:
                self.assertAlmostEqual(float(text), float(value), places=3, msg=msg)
        obj['stderr'] = p.stderr
        self.msg = msg
        return obj

    def check_rate(self, r):
        """ops_per_s is ops over the measured time."""
        self.assertGreater(r['duration_s'], 0, self.msg)
        self.assertAlmostEqual(r['ops_per_s'], r['ops'] / r['duration_s'],
                               delta=0.1 + r['ops_per_s'] * 0.01, msg=self.msg)
        self.assertLessEqual(r['p50_ms'], r['p99_ms'], self.msg)
        self.assertLessEqual(r['p99_ms'], r['max_ms'] * 1.01 + 0.001, self.msg)

    def check_bytes(self, r, size):
        """Every counted transfer moved exactly size bytes."""
        # The bytes moved must equal mb_per_s x the run's duration, where
        # duration_s is printed rounded to 3 decimals (+-0.5 ms: a fast
        # server finishes 25 small transfers in 3 ms) and mb_per_s to 2.
        moved = r['ops'] * size / 1e6
        low = (r['mb_per_s'] - 0.005) * max(r['duration_s'] - 0.0005, 0) * 0.99
        high = (r['mb_per_s'] + 0.005) * (r['duration_s'] + 0.0005) * 1.01
        self.assertTrue(low <= moved <= high, '%s MB moved, report implies %.4f..%.4f; %s'
                        % (moved, low, high, self.msg))

    def concurrency(self, want):
        return max(1, min(want, CAPACITY))

    # ---- scenarios --------------------------------------------------------

    def test_login(self):
        c = self.concurrency(4)
        r = self.bench('--scenario', 'login', '--concurrency', c, '--duration', 1)
        self.assertEqual(r['scenario'], 'login')
        self.assertEqual(r['label'], 'it-' + FTPD_ARCH)
        self.assertEqual(r['concurrency'], c)
        self.assertGreater(r['ops'], 0, self.msg)
        self.assertEqual(r['errors'], 0, self.msg)
        self.assertIsNone(r['mb_per_s'])
        self.check_rate(r)
        self.assertLess(self.elapsed, 15)

    def test_retr_small_counts_bytes(self):
        r = self.bench('--scenario', 'retr-small', '--file', '/bench/small.bin', '--size',
                       SMALL_SIZE, '--concurrency', self.concurrency(4), '--duration', 1)
        self.assertGreater(r['ops'], 0, self.msg)
        self.assertEqual(r['errors'], 0, self.msg)
        self.check_rate(r)
        self.check_bytes(r, SMALL_SIZE)

    def test_retr_persistent_exact_count_epsv_size_probe(self):
        # No --size: ftpbench asks SIZE first, then checks every transfer.
        r = self.bench('--scenario', 'retr-persistent', '--file', '/bench/small.bin', '--epsv',
                       '--concurrency', self.concurrency(3), '--count', 25)
        self.assertEqual(r['ops'], 25, self.msg)
        self.assertEqual(r['errors'], 0, self.msg)
        self.check_bytes(r, SMALL_SIZE)

    def test_retr_big(self):
        r = self.bench('--scenario', 'retr-big', '--file', '/bench/big.bin', '--size', BIG_SIZE,
                       '--concurrency', self.concurrency(2), '--count', 4)
        self.assertEqual(r['ops'], 4, self.msg)
        self.assertEqual(r['errors'], 0, self.msg)
        self.check_bytes(r, BIG_SIZE)
        self.assertGreater(r['mb_per_s'], 1, self.msg)

    def test_list(self):
        r = self.bench('--scenario', 'list', '--dir', '/bench/dir', '--concurrency',
                       self.concurrency(4), '--duration', 1)
        self.assertGreater(r['ops'], 0, self.msg)
        self.assertEqual(r['errors'], 0, self.msg)
        self.check_rate(r)
        # A listing of DIR_ENTRIES names is at least that many lines.
        per_listing = r['mb_per_s'] * 1e6 * r['duration_s'] / r['ops']
        self.assertGreater(per_listing, DIR_ENTRIES * 10, self.msg)

    def test_idle_sessions_and_memory(self):
        n = CAPACITY
        r = self.bench('--scenario', 'idle', '--sessions', n, '--hold', 1.5, '--server-pid',
                       self.proc.pid)
        self.assertEqual(r['sessions_held'], n, self.msg)
        self.assertEqual(r['concurrency'], n, self.msg)
        self.assertEqual(r['errors'], 0, self.msg)
        # At most one NOOP per session per second (and some at all).
        self.assertGreater(r['ops'], 0, self.msg)
        self.assertLessEqual(r['ops'], n * 2, self.msg)
        self.assertAlmostEqual(r['duration_s'], 1.5, delta=0.3, msg=self.msg)
        self.assertEqual(r['noop_p50_ms'], r['p50_ms'])
        self.assertGreater(r['mem_before_kib'], 0, self.msg)
        self.assertGreater(r['mem_held_kib'], 0, self.msg)
        self.assertIsNotNone(r['bytes_per_session'], self.msg)

    @unittest.skipIf(CAPACITY < 4, 'slow clients would take every session of ' + FTPD_ARCH)
    def test_slow_clients(self):
        k = CAPACITY // 2
        r = self.bench('--scenario', 'slow', '--file', '/bench/small.bin', '--slow', k,
                       '--concurrency', 2, '--duration', 1.5)
        self.assertEqual(r['slow_clients'], k, self.msg)
        self.assertIsNotNone(r['slow_ops'], self.msg)
        self.assertGreater(r['ops'], 0, self.msg)
        self.assertEqual(r['errors'], 0, self.msg)
        self.check_bytes(r, SMALL_SIZE)

    # ---- failures ---------------------------------------------------------

    def test_wrong_size_is_short_data(self):
        r = self.bench('--scenario', 'retr-persistent', '--file', '/bench/small.bin', '--size',
                       SMALL_SIZE + 1, '--concurrency', 1, '--duration', 0.5, expect_status=1)
        self.assertEqual(r['ops'], 0, self.msg)
        self.assertGreater(r['errors'], 0, self.msg)
        self.assertIn('short_data', r['stderr'], self.msg)

    def test_missing_file(self):
        r = self.bench('--scenario', 'retr-small', '--file', '/bench/nope.bin',
                       '--concurrency', 1, '--duration', 0.5, expect_status=1)
        self.assertEqual(r['ops'], 0, self.msg)
        self.assertIn('bad_reply', r['stderr'], self.msg)

    def test_silent_server_times_out(self):
        # A listener that never accepts: connects complete (backlog), no 220
        # ever comes. Every operation must end as a timeout, fast.
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            s.listen(64)
            r = self.bench('--scenario', 'login', '--concurrency', 3, '--duration', 0.5,
                           '--timeout', 0.5, port=s.getsockname()[1], timeout=20,
                           expect_status=1)
        self.assertEqual(r['ops'], 0, self.msg)
        self.assertGreaterEqual(r['errors'], 3, self.msg)
        self.assertIn('timeout', r['stderr'], self.msg)
        self.assertLess(self.elapsed, 5, self.msg)

    def test_usage_errors(self):
        for args in (['--scenario', 'nope'], ['--scenario', 'retr-small'],
                     ['--scenario', 'login', '--count', '1', '--duration', '1'], []):
            p = subprocess.run([FTPBENCH] + args, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn('usage:', p.stderr, args)
            self.assertEqual(p.stdout, '', args)


if __name__ == '__main__':
    unittest.main()
