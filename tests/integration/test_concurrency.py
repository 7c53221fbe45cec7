"""Several sessions at once (every back-end but serial): parallel downloads,
a stalled client that does not hold up the others, idle sessions."""

import ftplib
import threading
import time
import unittest

from ftpd_harness import (FTPD_ARCH, TIMEOUT, FtpdTestCase, RawClient, data_connect,
                          sha256_bytes)

PARALLEL = 8


@unittest.skipIf(FTPD_ARCH == 'serial',
                 'serial serves one connection at a time by design')
class ConcurrencyTest(FtpdTestCase):
    # prefork and threadpool serve as many sessions at once as they have
    # workers or threads.
    config = {'workers': 16, 'threads': 16}

    def download(self, name, results, i):
        try:
            f = ftplib.FTP(timeout=TIMEOUT)
            f.connect('127.0.0.1', self.port)
            try:
                f.login('anonymous', 'x@')
                out = []
                f.retrbinary('RETR ' + name, out.append)
                lines = []
                f.retrlines('NLST a', lines.append)
                results[i] = (sha256_bytes(b''.join(out)), sorted(lines))
            finally:
                f.close()
        except Exception as e:  # reported by the main thread
            results[i] = e

    def test_parallel_downloads(self):
        results = [None] * PARALLEL
        threads = [threading.Thread(target=self.download, args=('big.bin', results, i))
                   for i in range(PARALLEL)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        want = (sha256_bytes(self.files['big.bin']),
                ['a/a.bin', 'a/a.txt', 'a/b', 'a/emptydir'])
        for i, r in enumerate(results):
            self.assertEqual(r, want, 'session %d' % i)

    def test_stalled_client_does_not_block_others(self):
        slow = self.raw_login()
        self.assertCode(slow.cmd('TYPE I'), 200)
        _, port = slow.pasv()
        d = data_connect('127.0.0.1', port, rcvbuf=4096)
        self.addCleanup(d.close)
        self.assertCode(slow.cmd('RETR big.bin'), 150)
        self.assertTrue(d.recv(100))
        t0 = time.monotonic()
        f = self.ftp()
        self.assertEqual(self.retr_bytes(f, 'medium.bin'), self.files['medium.bin'])
        f.close()
        self.assertLess(time.monotonic() - t0, 5)
        slow.send('ABOR\r\n')
        self.assertCode(slow.reply(), (426, 225, 226))

    def test_idle_sessions_do_not_block(self):
        idle = []
        for _ in range(10):
            c = RawClient('127.0.0.1', self.port)
            self.addCleanup(c.close)
            c.login()
            idle.append(c)
        f = self.ftp()
        self.assertEqual(self.retr_bytes(f, 'small.bin'), self.files['small.bin'])
        for c in idle:
            self.assertCode(c.cmd('NOOP'), 200)

    def test_interleaved_sessions(self):
        a = self.raw_login()
        b = self.raw_login()
        self.assertCode(a.cmd('CWD a'), 250)
        self.assertCode(b.cmd('CWD a/b'), 250)
        self.assertIn('"/a"', a.cmd('PWD').text)
        self.assertIn('"/a/b"', b.cmd('PWD').text)


if __name__ == '__main__':
    unittest.main()
