"""ftpbench, the load generator, against a real ftpd of the back-end under
test: every scenario runs for a second or so; the output must parse (CSV
with its header, and JSON with the same keys) and the counts must agree
with each other and with the fixture (bytes = transfers x file size, an
exact --count, sessions held). Also: a wrong --size, a missing file, a
server that never answers (errors counted, no hang) and usage errors; the
--rate cap, and idle sessions' NOOPs while background logins run.

FtpbenchUploadTest runs stor-small and stor-big against an ftpd configured
as the benchmark configures it (write_enable, anonymous_write, and a
users_file with one yescrypt account from ftpd --hash-password). While this
ftpd refuses those keys, or answers 550 to STOR, those tests are skipped
and say why; they run once uploads and accounts are in.

ftpbench is looked for next to FTPD_BIN (the build directory); the tests
are skipped when it was not built."""

import csv
import ftplib
import io
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from ftpd_harness import (FTPD_ARCH, FTPD_BIN, TIMEOUT, VARIANT_CONFIG, FtpdTestCase, run_ftpd,
                          write_config)

FTPBENCH = os.path.join(os.path.dirname(FTPD_BIN), 'ftpbench') if FTPD_BIN else ''

COLUMNS = ('label,scenario,concurrency,duration_s,ops,errors,ops_per_s,mb_per_s,p50_ms,p99_ms,'
           'max_ms,sessions_held,noop_p50_ms,noop_p99_ms,mem_before_kib,mem_held_kib,'
           'bytes_per_session,slow_clients,slow_ops,user,bg_logins,bg_login_p99_ms,procs,'
           'slab_delta_kib,sunreclaim_delta_kib,tcp_mem_delta_kib,kernel_bytes_per_session,tls'
           ).split(',')

SMALL_SIZE = 4096
BIG_SIZE = 8 * 1024 * 1024
DIR_ENTRIES = 200

# Sessions the back-end serves at once with the config below: serial one,
# prefork its workers, threadpool its threads where a session holds one
# (threadpool_dispatch queue or accept); the others many.
WORKERS, THREADS = 2, 8
HOLDS_THREAD = VARIANT_CONFIG.get('threadpool_dispatch', 'event') != 'event'
CAPACITY = {'serial': 1, 'prefork': WORKERS,
            'threadpool': THREADS if HOLDS_THREAD else 16}.get(FTPD_ARCH, 16)


class FtpbenchHelpers:
    """Running ftpbench and checking its row (both test classes)."""

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


@unittest.skipUnless(FTPBENCH and os.access(FTPBENCH, os.X_OK), 'ftpbench not built')
class FtpbenchTest(FtpbenchHelpers, FtpdTestCase):
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

    @unittest.skipIf(CAPACITY < 4, 'a spread run needs a few sessions at once on ' + FTPD_ARCH)
    def test_idle_spread_over_processes(self):
        """--procs 3: the sessions of one run held by three client processes,
        their figures added up, the kernel's memory read, and no client
        process left behind."""
        n = CAPACITY
        label = 'spread-%d-%d' % (os.getpid(), time.monotonic_ns())
        r = self.bench('--scenario', 'idle', '--sessions', n, '--hold', 1, '--procs', 3,
                       '--sources', 2, '--server-pid', self.proc.pid, '--label', label)
        self.assertEqual(r['label'], label, self.msg)
        self.assertEqual(r['procs'], 3, self.msg)
        self.assertEqual(r['sessions_held'], n, self.msg)
        self.assertEqual(r['errors'], 0, self.msg)
        self.assertGreater(r['ops'], 0, self.msg)
        self.assertLessEqual(r['ops'], n * 2, self.msg)
        self.assertAlmostEqual(r['duration_s'], 1, delta=0.3, msg=self.msg)
        self.assertIsNotNone(r['bytes_per_session'], self.msg)
        for key in ('slab_delta_kib', 'sunreclaim_delta_kib', 'tcp_mem_delta_kib',
                    'kernel_bytes_per_session'):
            self.assertIsNotNone(r[key], key + ': ' + self.msg)
        # The children were forked (same command line): none is left.
        left = []
        for pid in filter(str.isdigit, os.listdir('/proc')):
            try:
                with open('/proc/%s/cmdline' % pid, 'rb') as f:
                    if label.encode() in f.read():
                        left.append(pid)
            except OSError:
                pass
        self.assertEqual(left, [], self.msg)

    @unittest.skipIf(CAPACITY < 4, 'a paced ramp needs a few sessions at once on ' + FTPD_ARCH)
    def test_idle_ramp_paced(self):
        """--rate paces the idle ramp's logins, over every client process."""
        n, rate = CAPACITY, 20
        r = self.bench('--scenario', 'idle', '--sessions', n, '--hold', 0.5, '--rate', rate,
                       '--procs', 2)
        self.assertEqual(r['sessions_held'], n, self.msg)
        self.assertEqual(r['errors'], 0, self.msg)
        # n logins at 20/s take (n - 1) / 20 s at least (10/s per process).
        self.assertGreaterEqual(self.elapsed, 0.5 + (n - 2) / rate, self.msg)

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
        # The report names the first bad reply and what it answered.
        self.assertRegex(r['stderr'], r'first bad reply: to (SIZE|transfer): "550 ', self.msg)

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

    def test_count_bounded_by_duration(self):
        # Nothing listens: every operation fails; --duration still ends a
        # --count run.
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        r = self.bench('--scenario', 'retr-big', '--file', '/x', '--size', 1, '--count', 5,
                       '--duration', 0.5, '--timeout', 0.5, port=port, timeout=20,
                       expect_status=1)
        self.assertEqual(r['ops'], 0, self.msg)
        self.assertGreater(r['errors'], 0, self.msg)
        self.assertLess(self.elapsed, 5, self.msg)

    # ---- rates, accounts, background logins --------------------------------

    def test_login_rate_cap(self):
        # 20 sessions/s over 4 clients for 1.5 s: 30 starts (31 with the
        # first at 0), whatever the server could do.
        r = self.bench('--scenario', 'login', '--concurrency', self.concurrency(4), '--duration',
                       1.5, '--rate', 20, '--user', 'anonymous', '--password', 'bench@')
        self.assertEqual(r['errors'], 0, self.msg)
        self.assertEqual(r['user'], 'anonymous', self.msg)
        self.assertGreaterEqual(r['ops'], 25, self.msg)
        self.assertLessEqual(r['ops'], 31, self.msg)

    @unittest.skipIf(CAPACITY < 8, 'the held sessions would take every session of ' + FTPD_ARCH)
    def test_idle_with_background_logins(self):
        n = CAPACITY // 2
        r = self.bench('--scenario', 'idle', '--sessions', n, '--hold', 1.5,
                       '--background-logins', 20, '--concurrency', 2)
        self.assertEqual(r['sessions_held'], n, self.msg)
        self.assertEqual(r['errors'], 0, self.msg)
        self.assertGreater(r['ops'], 0, self.msg)  # NOOPs of the held sessions
        self.assertIsNotNone(r['noop_p99_ms'], self.msg)
        # 20/s for the 1.5 s hold (the logins in flight at its end are not counted).
        self.assertGreaterEqual(r['bg_logins'], 20, self.msg)
        self.assertLessEqual(r['bg_logins'], 31, self.msg)
        self.assertIsNotNone(r['bg_login_p99_ms'], self.msg)

    def test_plain_runs_have_no_background_figures(self):
        r = self.bench('--scenario', 'login', '--concurrency', 1, '--count', 3)
        self.assertIsNone(r['bg_logins'], self.msg)
        self.assertIsNone(r['bg_login_p99_ms'], self.msg)

    def test_usage_errors(self):
        for args in (['--scenario', 'nope'], ['--scenario', 'retr-small'],
                     ['--scenario', 'login', '--rate', '0'],
                     ['--scenario', 'login', '--background-logins', '5'],
                     ['--scenario', 'stor-small', '--file', '/x'], []):
            p = subprocess.run([FTPBENCH] + args, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn('usage:', p.stderr, args)
            self.assertEqual(p.stdout, '', args)


# The keys the benchmark gives ftpd for uploads (scripts/benchlib/servers.py).
WRITE_KEYS = {'write_enable': 'yes', 'anonymous_write': 'yes'}
ACCOUNT, ACCOUNT_PASSWORD = 'bench', 'bench-password-1'
UPLOAD_DIR = 'upload'


def ftpd_accepts(keys, root):
    """ftpd --check-config passes with these keys (and the root)."""
    with tempfile.TemporaryDirectory(prefix='ftpbench-it-') as d:
        conf = write_config(os.path.join(d, 'check.conf'), keys)
        return run_ftpd(['--config', conf, '--root', root, '--check-config']).returncode == 0


def hash_password(password):
    """ftpd --hash-password's yescrypt hash of password, or None when this
    ftpd has no such flag (accounts not in yet)."""
    try:
        p = subprocess.run([FTPD_BIN, '--hash-password'], input=password + '\n',
                           capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return None
    out = p.stdout.strip()
    return out if p.returncode == 0 and out.startswith('$') else None


@unittest.skipUnless(FTPBENCH and os.access(FTPBENCH, os.X_OK), 'ftpbench not built')
class FtpbenchUploadTest(FtpbenchHelpers, FtpdTestCase):
    """stor-small, stor-big and an account login, against ftpd configured as
    the benchmark configures it."""

    @classmethod
    def setUpClass(cls):
        base = {'workers': WORKERS, 'threads': THREADS, 'max_per_ip': 0, 'login_fail_delay': 0}
        cls.config = dict(base)
        cls.why_no_uploads = cls.why_no_account = ''
        probe_root = tempfile.mkdtemp(prefix='ftpbench-it-root-')
        try:
            if ftpd_accepts(dict(base, **WRITE_KEYS), probe_root):
                cls.config.update(WRITE_KEYS)
            else:
                cls.why_no_uploads = 'ftpd refuses write_enable = yes (uploads are not in yet)'
            digest = hash_password(ACCOUNT_PASSWORD)
            if digest is None:
                cls.why_no_account = 'needs accounts: ftpd --hash-password is not available'
            else:
                cls.users = os.path.join(probe_root, 'users')
                home = os.path.join(probe_root, 'home')  # served to the account as /
                os.mkdir(home)
                with open(cls.users, 'w') as f:
                    f.write('%s:%s:%s:rwmdfc\n' % (ACCOUNT, digest, home))
                if ftpd_accepts(dict(cls.config, users_file=cls.users), probe_root):
                    cls.config['users_file'] = cls.users
                else:
                    cls.why_no_account = 'needs accounts: ftpd refuses users_file'
        except BaseException:
            shutil.rmtree(probe_root, True)
            raise
        cls.addClassCleanup(shutil.rmtree, probe_root, True)
        super().setUpClass()

    @classmethod
    def extra_fixture(cls, root):
        os.makedirs(os.path.join(root, UPLOAD_DIR))
        os.chmod(os.path.join(root, UPLOAD_DIR), 0o777)

    def require_uploads(self):
        """Skip, saying why, unless this ftpd takes an anonymous STOR."""
        if self.why_no_uploads:
            self.skipTest(self.why_no_uploads)
        f = self.ftp()
        try:
            f.storbinary('STOR /%s/probe.bin' % UPLOAD_DIR, io.BytesIO(b'x'))
        except ftplib.error_perm as e:
            if str(e).startswith('550'):
                self.skipTest('ftpd answers 550 to STOR (uploads are not in yet): %s' % e)
            raise
        finally:
            f.close()  # serial serves one session at a time: free it for ftpbench
        os.remove(os.path.join(self.root, UPLOAD_DIR, 'probe.bin'))

    def uploads(self):
        d = os.path.join(self.root, UPLOAD_DIR)
        return {name: os.path.getsize(os.path.join(d, name)) for name in os.listdir(d)}

    def clear_uploads(self):
        d = os.path.join(self.root, UPLOAD_DIR)
        for name in os.listdir(d):
            os.remove(os.path.join(d, name))

    def test_stor_small(self):
        self.require_uploads()
        self.addCleanup(self.clear_uploads)
        r = self.bench('--scenario', 'stor-small', '--dir', '/' + UPLOAD_DIR, '--concurrency',
                       self.concurrency(4), '--duration', 1)
        self.assertGreater(r['ops'], 0, self.msg)
        self.assertEqual(r['errors'], 0, self.msg)
        self.check_rate(r)
        self.check_bytes(r, 4096)
        # Every counted upload is a new file of exactly 4096 bytes.
        files = self.uploads()
        self.assertEqual(len(files), r['ops'], self.msg)
        self.assertEqual(set(files.values()), {4096}, self.msg)

    def test_stor_big_epsv(self):
        self.require_uploads()
        self.addCleanup(self.clear_uploads)
        r = self.bench('--scenario', 'stor-big', '--dir', '/' + UPLOAD_DIR + '/', '--size',
                       BIG_SIZE, '--concurrency', self.concurrency(2), '--count', 4, '--epsv',
                       '--duration', 30)
        self.assertEqual(r['ops'], 4, self.msg)
        self.assertEqual(r['errors'], 0, self.msg)
        self.check_bytes(r, BIG_SIZE)
        self.assertEqual(sorted(self.uploads().values()), [BIG_SIZE] * 4, self.msg)

    def test_stor_refused_is_an_error(self):
        # Into a directory that does not exist: every STOR fails, counted.
        self.require_uploads()
        r = self.bench('--scenario', 'stor-small', '--dir', '/no/such/dir', '--concurrency', 1,
                       '--duration', 0.5, expect_status=1)
        self.assertEqual(r['ops'], 0, self.msg)
        self.assertRegex(r['stderr'], r'bad_reply \d+; first bad reply: to transfer: "55\d ',
                         self.msg)

    def test_login_with_account(self):
        if self.why_no_account:
            self.skipTest(self.why_no_account)
        r = self.bench('--scenario', 'login', '--user', ACCOUNT, '--password', ACCOUNT_PASSWORD,
                       '--concurrency', self.concurrency(2), '--duration', 1)
        self.assertGreater(r['ops'], 0, self.msg)
        self.assertEqual(r['errors'], 0, self.msg)
        self.assertEqual(r['user'], ACCOUNT, self.msg)
        bad = self.bench('--scenario', 'login', '--user', ACCOUNT, '--password', 'wrong',
                         '--concurrency', 1, '--count', 1, '--duration', 5, expect_status=1)
        self.assertEqual(bad['ops'], 0, self.msg)

    @unittest.skipIf(CAPACITY < 8, 'the held sessions would take every session of ' + FTPD_ARCH)
    def test_idle_while_account_logins(self):
        if self.why_no_account:
            self.skipTest(self.why_no_account)
        r = self.bench('--scenario', 'idle', '--sessions', CAPACITY // 2, '--hold', 2,
                       '--background-logins', 5, '--background-user', ACCOUNT,
                       '--background-password', ACCOUNT_PASSWORD, '--concurrency', 2)
        self.assertEqual(r['errors'], 0, self.msg)
        self.assertGreaterEqual(r['bg_logins'], 5, self.msg)
        self.assertIsNotNone(r['noop_p99_ms'], self.msg)


if __name__ == '__main__':
    unittest.main()
