"""Bandwidth caps: max_rate_download and max_rate_upload per session,
a per-user override from the users file, max_rate_total shared by the
running transfers, and ABOR/STAT answered at once while a transfer is held
back by its cap.

Rates are measured by the client over a whole transfer: a download from
RETR to the end of the data, an upload from STOR to the 226, which comes
only once the server has read every byte (the kernel's socket buffers take
the first megabytes of an upload at once; the 226 cannot). The accuracy
asked for is +-10% over 5 s; the first burst (0.1 s of the rate) is 2% of
that. The 5 s transfers of one server run at the same time on separate
sessions (one after another on serial, which serves one session at a
time), so the class costs about 5 s per arch.

ABOR and STAT should be answered within 100 ms; the assertion allows
300 ms (TIMELY) so that a loaded 2-core machine running the suite in
parallel does not make it flaky; the measured figures are printed."""

import ftplib
import io
import os
import threading
import time

from ftpd_harness import FTPD_ARCH, TIMEOUT, FtpdTestCase, data_connect, log
from test_accounts import hash_password

RATE = 1000000          # max_rate_download and max_rate_upload: 1 MB/s
USER_RATE = 3000000     # the user 'quick' has its own max_rate_download
TOTAL = 4000000         # max_rate_total of the second server, for 4 sessions
SECONDS = 5             # each capped transfer of the first server lasts this
TOLERANCE = 0.10
TIMELY = 0.3            # seconds: ABOR and STAT while throttled (100 ms asked)
PASSWORD = 'rate limited'

SERIAL = FTPD_ARCH == 'serial'  # one session at a time
# prefork serves `workers` sessions at once (one per CPU by default): give
# it (and hybrid, harmlessly) enough for the concurrent sessions below.
WORKERS = {'workers': 4}


def sparse(path, size):
    """A file of size zero bytes that costs no disk (sendfile reads holes)."""
    with open(path, 'wb') as f:
        f.truncate(size)


def run_all(jobs, concurrent):
    """Run the callables, at once in threads or one after another. Returns
    their results in order; re-raises the first failure."""
    results = [None] * len(jobs)
    errors = []

    def run(i):
        try:
            results[i] = jobs[i]()
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    if not concurrent:
        for i in range(len(jobs)):
            run(i)
    else:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS * 4)
    if errors:
        raise errors[0]
    return results


class ThrottleCase(FtpdTestCase):
    """Helpers: timed transfers through ftplib (a stock client)."""

    def session(self, user='anonymous', passwd='test@example.org'):
        f = ftplib.FTP(timeout=TIMEOUT)
        f.connect(self.host, self.port)
        f.login(user, passwd)
        return f

    def timed_download(self, name, user='anonymous', passwd='test@example.org', ready=None):
        """(bytes, seconds) of RETR name on a new session; with a barrier,
        RETR waits for the other sessions to have logged in too."""
        f = self.session(user, passwd)
        try:
            if ready is not None:
                ready.wait(TIMEOUT)
            got = [0]

            def count(block):
                got[0] += len(block)

            t0 = time.monotonic()
            f.retrbinary('RETR ' + name, count, blocksize=1 << 16)
            return got[0], time.monotonic() - t0
        finally:
            f.close()

    def timed_upload(self, name, size):
        f = self.session()
        try:
            t0 = time.monotonic()
            f.storbinary('STOR ' + name, io.BytesIO(bytes(size)), blocksize=1 << 16)
            return size, time.monotonic() - t0
        finally:
            f.close()

    def assertRate(self, what, measured, want):
        log('%s %s: %.0f B/s (cap %d, %+.1f%%)' % (FTPD_ARCH, what, measured, want,
                                                   100.0 * (measured / want - 1)))
        self.assertGreaterEqual(measured, want * (1 - TOLERANCE), what)
        self.assertLessEqual(measured, want * (1 + TOLERANCE), what)


class SessionCapsTest(ThrottleCase):
    """max_rate_download = max_rate_upload = 1M, and a user 'quick' with
    max_rate_download=3M in the users file."""

    config = dict(WORKERS, max_rate_download='1M', max_rate_upload='1M', write_enable='yes',
                  anonymous_write='yes', login_fail_delay=0)

    @classmethod
    def extra_fixture(cls, root):
        sparse(os.path.join(root, 'ten.bin'), RATE * SECONDS)
        sparse(os.path.join(root, 'abor.bin'), RATE * 60)
        home = os.path.join(os.path.dirname(root), 'home-quick')
        os.makedirs(home)
        sparse(os.path.join(home, 'quick.bin'), USER_RATE * 3)
        users = os.path.join(os.path.dirname(root), 'users')
        with open(users, 'w') as f:
            f.write('quick:%s:%s:r:max_rate_download=3M\n' % (hash_password(PASSWORD), home))
        cls.config = dict(cls.config, users_file=users)

    def test_caps_download_upload_and_user_override(self):
        """A 1 MB/s download and upload over 5 s each, and 'quick''s own
        3 MB/s over 3 s, each within 10% of its cap."""
        size = RATE * SECONDS
        down, up, quick = run_all([
            lambda: self.timed_download('ten.bin'),
            lambda: self.timed_upload('up.bin', size),
            lambda: self.timed_download('quick.bin', 'quick', PASSWORD),
        ], concurrent=not SERIAL)
        self.assertEqual(down[0], size)
        self.assertEqual(os.path.getsize(self.path('up.bin')), size)
        self.assertEqual(quick[0], USER_RATE * 3)
        self.assertRate('download', down[0] / down[1], RATE)
        self.assertRate('upload', up[0] / up[1], RATE)
        self.assertRate('user override download', quick[0] / quick[1], USER_RATE)

    def start_throttled(self, c, command):
        """Start a capped transfer whose data connection a thread keeps
        moving (reading a download, writing an upload) until it breaks.
        Returns the data socket once the transfer has run for a while,
        so the cap holds it back."""
        self.assertCode(c.cmd('TYPE I'), 200)
        _, port = c.pasv()
        d = data_connect('127.0.0.1', port)
        self.addCleanup(d.close)
        self.assertCode(c.cmd(command), 150)
        moved = [0]

        def pump():
            try:
                if command.startswith('RETR'):
                    while True:
                        chunk = d.recv(1 << 16)
                        if not chunk:
                            return
                        moved[0] += len(chunk)
                else:
                    block = bytes(1 << 16)
                    while True:
                        d.sendall(block)
                        moved[0] += len(block)
            except OSError:
                return  # the ABOR closed the data connection

        t = threading.Thread(target=pump, daemon=True)
        t.start()
        self.addCleanup(t.join, TIMEOUT)
        time.sleep(0.5)
        return d, moved

    def timed_reply(self, c, line):
        t0 = time.monotonic()
        r = c.cmd(line)
        return r, time.monotonic() - t0

    def check_stat_and_abor(self, command):
        c = self.raw_login()
        d, moved = self.start_throttled(c, command)
        r, stat_s = self.timed_reply(c, 'STAT')
        self.assertCode(r, (211, 213))
        self.assertIn('Transfer in progress', r.text)
        r, abor_s = self.timed_reply(c, 'ABOR')
        log('%s %s: STAT answered in %.1f ms, ABOR in %.1f ms (after %d bytes)'
            % (FTPD_ARCH, command, stat_s * 1000, abor_s * 1000, moved[0]))
        self.assertCode(r, 426)
        self.assertCode(c.reply(), 226)
        # Throttled indeed: about 0.5 s at 1 MB/s (plus socket buffers on
        # an upload), nowhere near the 60 MB of the file.
        self.assertLess(moved[0], 20 * RATE)
        self.assertLess(stat_s, TIMELY)
        self.assertLess(abor_s, TIMELY)
        d.close()
        self.assertCode(c.cmd('NOOP'), 200)

    def test_abor_and_stat_while_download_throttled(self):
        self.check_stat_and_abor('RETR abor.bin')

    def test_abor_and_stat_while_upload_throttled(self):
        self.check_stat_and_abor('STOR abor-up.bin')


class TotalCapTest(ThrottleCase):
    """max_rate_total = 4M and no per-session cap: 4 sessions get about a
    quarter each, their sum within 10% of the total."""

    config = dict(WORKERS, max_rate_total='4M')
    EACH = TOTAL // 4 * 4  # bytes per session: 4 s at a quarter of the total

    @classmethod
    def extra_fixture(cls, root):
        sparse(os.path.join(root, 'quarter.bin'), cls.EACH)
        sparse(os.path.join(root, 'alone.bin'), TOTAL * 4)

    def test_total_shared_by_four_sessions(self):
        if SERIAL:
            # One session at a time: the one running transfer gets it all.
            n, secs = self.timed_download('alone.bin')
            self.assertRate('total, one session (serial)', n / secs, TOTAL)
            return
        ready = threading.Barrier(4)
        t0 = time.monotonic()
        results = run_all([lambda: self.timed_download('quarter.bin', ready=ready)] * 4,
                          concurrent=True)
        wall = time.monotonic() - t0
        for i, (n, secs) in enumerate(results):
            self.assertEqual(n, self.EACH)
            # "About a quarter": +-15% each; the sum is the strict figure.
            measured = n / secs
            log('%s total: session %d %.0f B/s' % (FTPD_ARCH, i, measured))
            self.assertGreaterEqual(measured, TOTAL / 4 * 0.85)
            self.assertLessEqual(measured, TOTAL / 4 * 1.15)
        self.assertRate('total, sum of 4 sessions', 4 * self.EACH / wall, TOTAL)


if __name__ == '__main__':
    import unittest
    unittest.main()
