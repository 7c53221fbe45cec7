"""Resources: no file-descriptor leak across sessions that end in every way,
bounded memory for a client that never reads its replies, and no busy loop
when accept() hits EMFILE (DESIGN.md "special problems")."""

import os
import shutil
import socket
import struct
import tempfile
import time
import unittest

from ftpd_harness import (FTPD_ARCH, FtpdTestCase, RawClient, Server, binary_is_sanitized,
                          data_connect, make_tree, port_args, recv_all, write_config)

RST = struct.pack('ii', 1, 0)


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


class FdLeakTest(FtpdTestCase):
    config = {'workers': 2, 'threads': 4}

    def session_variants(self):
        """Sessions that end in every way we can think of."""
        # 1. PASV + RETR, EPSV + LIST, PORT + RETR, QUIT.
        c = RawClient('127.0.0.1', self.port)
        c.login()
        c.cmd('TYPE I')
        _, p = c.pasv()
        d = data_connect('127.0.0.1', p)
        c.cmd('RETR medium.bin')
        recv_all(d)
        d.close()
        c.reply()
        d = data_connect('127.0.0.1', c.epsv())
        c.cmd('LIST a')
        recv_all(d)
        d.close()
        c.reply()
        ls = socket.socket()
        ls.bind(('127.0.0.1', 0))
        ls.listen(1)
        ls.settimeout(10)
        c.cmd('PORT ' + port_args('127.0.0.1', ls.getsockname()[1]))
        c.cmd('RETR small.bin')
        d, _ = ls.accept()
        ls.close()
        d.settimeout(10)
        recv_all(d)
        d.close()
        c.reply()
        c.cmd('QUIT')
        c.close()
        # 2. Passive listeners left open, then the connection just closes.
        c = RawClient('127.0.0.1', self.port)
        c.login()
        for _ in range(5):
            c.pasv()
        c.epsv()
        c.close()
        # 3. ABOR mid-transfer, then RETR of a missing file, then QUIT.
        c = RawClient('127.0.0.1', self.port)
        c.login()
        c.cmd('TYPE I')
        _, p = c.pasv()
        d = data_connect('127.0.0.1', p, rcvbuf=4096)
        c.cmd('RETR big.bin')
        d.recv(100)
        c.send('ABOR\r\n')
        c.reply()
        if c.reply().code != 226:
            pass
        d.close()
        c.pasv()
        c.cmd('RETR no-such-file')
        c.cmd('QUIT')
        c.close()
        # 4. Both connections reset mid-transfer.
        c = RawClient('127.0.0.1', self.port)
        c.login()
        c.cmd('TYPE I')
        _, p = c.pasv()
        d = data_connect('127.0.0.1', p, rcvbuf=4096)
        c.cmd('RETR big.bin')
        d.recv(100)
        for s in (d, c.sock):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
            s.close()
        # 5. A PASV data connection that is never used, then QUIT.
        c = RawClient('127.0.0.1', self.port)
        c.login()
        _, p = c.pasv()
        d = data_connect('127.0.0.1', p)
        c.cmd('QUIT')
        d.close()
        c.close()

    def test_no_fd_leak(self):
        self.session_variants()  # warm up (lazy allocations, worker start)
        time.sleep(0.5)
        base = self.server.fd_count()
        for _ in range(5):
            self.session_variants()
        ok = wait_for(lambda: self.server.fd_count() <= base, 10)
        self.assertTrue(ok, 'ftpd holds %d fds, %d before the sessions (leak)'
                        % (self.server.fd_count(), base))
        self.assertFreshSessionWorks()


@unittest.skipIf(binary_is_sanitized(), 'memory use of a sanitizer build is not comparable')
class UnreadRepliesTest(FtpdTestCase):
    config = {'workers': 2, 'threads': 4}

    def test_client_that_never_reads_replies(self):
        """A client pipelines many commands with big replies and reads none:
        the server must stop reading (or cut the client), not buffer every
        reply."""
        c = RawClient('127.0.0.1', self.port)
        self.addCleanup(c.close)
        c.login()
        time.sleep(0.2)
        before = self.server.rss_kib()  # with this session's process, if any
        c.sock.setblocking(False)
        chunk = b'STAT /\r\nHELP\r\nFEAT\r\n' * 512
        sent = 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and sent < 64 * 1024 * 1024:
            try:
                sent += c.sock.send(chunk)
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:
                break
        time.sleep(0.5)
        grown = self.server.rss_kib() - before
        self.assertLess(grown, 64 * 1024, 'ftpd grew by %d KiB after %d bytes of unread '
                        'pipelined commands' % (grown, sent))
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
        c.close()
        self.assertFreshSessionWorks()


@unittest.skipIf(FTPD_ARCH == 'serial', 'serial leaves extra connections in the backlog')
class EmfileTest(unittest.TestCase):
    """accept() failing with EMFILE must not make the server spin."""

    NOFILE = 40
    CLIENTS = 60

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='ftpd-emfile-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        root = os.path.join(self.tmp, 'tree')
        os.mkdir(root)
        self.files = make_tree(root)
        conf = write_config(os.path.join(self.tmp, 'e.conf'),
                            {'max_per_ip': 0, 'workers': 2, 'threads': 16,
                             'max_clients': 1000, 'idle_timeout': 30})
        self.server = Server(root, config_path=conf, nofile=self.NOFILE)
        self.addCleanup(self.server.kill)
        self.server.wait_listening(10)
        self.port = self.server.port_of('127.0.0.1')

    def test_emfile_no_busy_loop(self):
        socks = []
        try:
            for _ in range(self.CLIENTS):
                s = socket.socket()
                s.settimeout(5)
                s.connect(('127.0.0.1', self.port))
                socks.append(s)
            time.sleep(0.5)
            self.assertIsNone(self.server.proc.poll(), 'ftpd died under EMFILE')
            cpu0 = self.server.cpu_seconds()
            time.sleep(2.0)
            used = self.server.cpu_seconds() - cpu0
            self.assertLess(used, 0.5, 'ftpd used %.2f s of CPU in 2 s while out of file '
                            'descriptors (busy accept loop)' % used)
        finally:
            for s in socks:
                s.close()
        # A client refused meanwhile (421, a line each, by design) is not noise.
        noisy = [ln for ln in self.server.lines
                 if (' warn ' in ln or ' error ' in ln) and ' refused: ' not in ln]
        self.assertLess(len(noisy), 10, 'EMFILE must be logged once per burst, not once per '
                        'attempt:\n' + '\n'.join(noisy[:12]))
        # Once the connections are gone, the server serves again.
        deadline = time.monotonic() + 10
        while True:
            try:
                c = RawClient('127.0.0.1', self.port, timeout=3)
                break
            except (OSError, EOFError, AssertionError):
                # Dropped while the server is still freeing descriptors.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        try:
            self.assertEqual(c.greeting.code, 220)
            c.login()
            self.assertEqual(c.cmd('NOOP').code, 200)
        finally:
            c.close()
        self.assertEqual(self.server.stop(10), 0)


if __name__ == '__main__':
    unittest.main()
