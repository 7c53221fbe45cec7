"""The master/worker channel of prefork and hybrid (issue 12): every worker
reports ready over it, and when the master dies (SIGKILL: no signal is
forwarded) its workers see their channel close, drain and exit instead of
serving on unsupervised. One server per arch; the other archs have no
workers and skip."""

import os
import signal
import time
import unittest

from ftpd_harness import FTPD_ARCH, FtpdTestCase

WORKERS = 2


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


@unittest.skipUnless(FTPD_ARCH in ('prefork', 'hybrid'), 'no worker processes')
class ChannelTest(FtpdTestCase):
    config = {'workers': WORKERS, 'min_spare_workers': 0}

    def test_ready_then_master_gone(self):
        for i in range(WORKERS):
            self.assertTrue(self.server.wait_log(r'worker %d ready' % i, 10),
                            'worker %d never reported ready' % i)
        workers = [p for p in self.server.pids() if p != self.proc.pid]
        self.assertGreaterEqual(len(workers), WORKERS)
        self.server.kill()  # SIGKILL the master
        deadline = time.monotonic() + 10
        while any(alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [p for p in workers if alive(p)]
        for p in left:
            os.kill(p, signal.SIGKILL)
        self.assertEqual(left, [], 'workers still running 10 s after their master died')

    @classmethod
    def tearDownClass(cls):
        # The master was killed on purpose: no exit status to check, but
        # the sanitizers' reports still count.
        cls.server.kill()
        reports = cls.server.sanitizer_reports()
        if reports:
            raise AssertionError('sanitizer reports:\n' + '\n'.join(reports[:20]))
