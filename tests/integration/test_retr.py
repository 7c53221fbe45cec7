"""Downloads: RETR in every data-connection mode, REST, SIZE, MDTM, TYPE A,
ABOR and STAT during a transfer. RFC 959, RFC 2428, RFC 3659."""

import ftplib
import os
import socket
import struct
import time
import unittest

from ftpd_harness import (FIXTURE_MDTM, FtpdTestCase, data_connect, ipv6_available,
                          lf_to_crlf, parse_229, port_args, recv_all, sha256_bytes)


HUGE_SIZE = 5 * 1024 * 1024 * 1024 + 3  # sparse: offsets past 4 GiB
HUGE_TAIL = b'the last bytes of a sparse file past 4 GiB\n'
ABOR_FILE = 'abor.sparse'  # too big to fit in the socket buffers
ABOR_SIZE = 64 * 1024 * 1024


class RetrTest(FtpdTestCase):

    @classmethod
    def extra_fixture(cls, root):
        with open(os.path.join(root, 'huge.sparse'), 'wb') as f:
            f.truncate(HUGE_SIZE)
            f.seek(HUGE_SIZE - len(HUGE_TAIL))
            f.write(HUGE_TAIL)
        with open(os.path.join(root, ABOR_FILE), 'wb') as f:
            f.truncate(ABOR_SIZE)

    # ---- whole files -------------------------------------------------------

    def test_retr_every_file_sha256(self):
        f = self.ftp()
        for name, data in sorted(self.files.items()):
            with self.subTest(name=name):
                got = self.retr_bytes(f, name)
                self.assertEqual(len(got), len(data))
                self.assertEqual(sha256_bytes(got), sha256_bytes(data))

    def test_retr_every_file_by_cwd(self):
        f = self.ftp()
        f.cwd('a/b/c')
        self.assertEqual(self.retr_bytes(f, 'c.bin'), self.files['a/b/c/c.bin'])
        self.assertEqual(self.retr_bytes(f, 'empty'), b'')

    def test_150_before_226_after(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        _, port = c.pasv()
        d = data_connect('127.0.0.1', port)
        self.addCleanup(d.close)
        r = c.cmd('RETR medium.bin')
        self.assertCode(r, 150)
        data = recv_all(d)
        d.close()
        self.assertCode(c.reply(), 226)
        self.assertEqual(data, self.files['medium.bin'])
        self.assertCode(c.cmd('NOOP'), 200)

    def test_retr_empty_file(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        _, port = c.pasv()
        d = data_connect('127.0.0.1', port)
        self.addCleanup(d.close)
        self.assertCode(c.cmd('RETR empty.txt'), 150)
        self.assertEqual(recv_all(d), b'')
        self.assertCode(c.reply(), 226)

    def test_retr_without_data_channel_425(self):
        c = self.raw_login()
        self.assertCode(c.cmd('RETR text.txt'), 425)
        self.assertCode(c.cmd('LIST'), 425)
        self.assertCode(c.cmd('NOOP'), 200)

    def test_retr_directory_550(self):
        f = self.ftp()
        with self.assertRaises(ftplib.error_perm) as cm:
            self.retr_bytes(f, 'a')
        self.assertTrue(str(cm.exception).startswith('550'), cm.exception)
        f.voidcmd('NOOP')

    def test_retr_missing_550(self):
        f = self.ftp()
        with self.assertRaises(ftplib.error_perm) as cm:
            self.retr_bytes(f, 'no-such-file')
        self.assertTrue(str(cm.exception).startswith('550'), cm.exception)
        # The session and its next transfer are fine.
        self.assertEqual(self.retr_bytes(f, 'small.bin'), self.files['small.bin'])

    def test_retr_names_with_spaces_and_utf8(self):
        f = self.ftp()
        for name in ('name with spaces.txt', 'caf\u00e9.txt', 'dir with spaces/inside.txt',
                     '\u00fcber/datei.txt', 'quote"dir/q.txt'):
            with self.subTest(name=name):
                self.assertEqual(self.retr_bytes(f, name), self.files[name])

    # ---- REST --------------------------------------------------------------

    def test_rest_then_retr(self):
        f = self.ftp()
        data = self.files['big.bin']
        for off in (1, 1000, 1 << 20, len(data) - 1, len(data)):
            with self.subTest(offset=off):
                self.assertEqual(self.retr_bytes(f, 'big.bin', rest=off), data[off:])

    def test_rest_reply_350(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        self.assertCode(c.cmd('REST 100'), 350)
        _, port = c.pasv()
        d = data_connect('127.0.0.1', port)
        self.addCleanup(d.close)
        self.assertCode(c.cmd('RETR small.bin'), 150)
        self.assertEqual(recv_all(d), self.files['small.bin'][100:])
        self.assertCode(c.reply(), 226)
        # REST applies to one transfer only.
        _, port = c.pasv()
        d2 = data_connect('127.0.0.1', port)
        self.addCleanup(d2.close)
        self.assertCode(c.cmd('RETR small.bin'), 150)
        self.assertEqual(recv_all(d2), self.files['small.bin'])
        self.assertCode(c.reply(), 226)

    def test_rest_past_4gib(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        self.assertEqual(c.cmd('SIZE huge.sparse').lines, ['213 %d' % HUGE_SIZE])
        off = HUGE_SIZE - len(HUGE_TAIL)
        self.assertCode(c.cmd('REST %d' % off), 350)
        _, port = c.pasv()
        d = data_connect('127.0.0.1', port)
        self.addCleanup(d.close)
        self.assertCode(c.cmd('RETR huge.sparse'), 150)
        self.assertEqual(recv_all(d), HUGE_TAIL)
        d.close()
        self.assertCode(c.reply(), 226)

    def test_list_size_past_4gib(self):
        f = self.ftp()
        lines = []
        f.retrlines('LIST huge.sparse', lines.append)
        self.assertIn(' %d ' % HUGE_SIZE, lines[-1])
        facts = dict(f.mlsd('/'))['huge.sparse']
        self.assertEqual(int(facts['size']), HUGE_SIZE)

    def test_rest_at_end_sends_nothing(self):
        f = self.ftp()
        n = len(self.files['small.bin'])
        self.assertEqual(self.retr_bytes(f, 'small.bin', rest=n), b'')

    def test_rest_past_end(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        self.assertCode(c.cmd('REST 999999'), 350)
        _, port = c.pasv()
        d = data_connect('127.0.0.1', port)
        self.addCleanup(d.close)
        r = c.cmd('RETR small.bin')
        if r.code in (125, 150):
            self.assertEqual(recv_all(d), b'')
            r = c.reply()
            self.assertCode(r, 226)
        else:
            self.assertCode(r, (550, 554))
        self.assertCode(c.cmd('NOOP'), 200)

    def test_rest_overflow_501(self):
        c = self.raw_login()
        self.assertCode(c.cmd('REST 99999999999999999999999999'), 501)
        self.assertCode(c.cmd('REST 18446744073709551616'), 501)

    # ---- SIZE / MDTM -------------------------------------------------------

    def test_size(self):
        f = self.ftp()
        f.voidcmd('TYPE I')
        for name in ('big.bin', 'empty.txt', 'text.txt', 'caf\u00e9.txt', 'a/b/c/c.bin',
                     'link_inside'):
            with self.subTest(name=name):
                self.assertEqual(f.size(name), len(self.files[name]))

    def test_size_raw_reply(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        r = c.cmd('SIZE medium.bin')
        self.assertEqual(r.lines, ['213 %d' % len(self.files['medium.bin'])])

    def test_size_of_dir_and_missing_550(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        self.assertCode(c.cmd('SIZE a'), 550)
        self.assertCode(c.cmd('SIZE no-such-file'), 550)

    def test_mdtm(self):
        c = self.raw_login()
        r = c.cmd('MDTM text.txt')
        self.assertEqual(r.lines, ['213 ' + FIXTURE_MDTM])
        r = c.cmd('MDTM a/b/c/c.bin')
        self.assertCode(r, 213)
        self.assertRegex(r.lines[0], r'^213 \d{14}(\.\d{1,3})?$')
        self.assertCode(c.cmd('MDTM no-such-file'), 550)

    # ---- TYPE --------------------------------------------------------------

    def retr_raw(self, c, name, mode='pasv'):
        """RETR over a raw control connection; returns the data bytes."""
        if mode == 'pasv':
            _, port = c.pasv()
            d = data_connect('127.0.0.1', port)
        elif mode == 'epsv':
            d = data_connect('127.0.0.1', c.epsv())
        else:
            lsock = socket.socket()
            lsock.settimeout(10)
            lsock.bind(('127.0.0.1', 0))
            lsock.listen(1)
            self.addCleanup(lsock.close)
            lport = lsock.getsockname()[1]
            if mode == 'port':
                self.assertCode(c.cmd('PORT ' + port_args('127.0.0.1', lport)), 200)
            else:
                self.assertCode(c.cmd('EPRT |1|127.0.0.1|%d|' % lport), 200)
        r = c.cmd('RETR ' + name)
        self.assertCode(r, (125, 150))
        if mode in ('port', 'eprt'):
            d, _ = lsock.accept()
            d.settimeout(10)
        self.addCleanup(d.close)
        data = recv_all(d)
        d.close()
        self.assertCode(c.reply(), 226)
        return data

    def test_type_a_converts_lf_to_crlf(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE A'), 200)
        got = self.retr_raw(c, 'text.txt')
        self.assertEqual(got, lf_to_crlf(self.files['text.txt']))
        self.assertEqual(got.count(b'\r\n'), self.files['text.txt'].count(b'\n'))

    def test_type_a_keeps_existing_crlf(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE A'), 200)
        got = self.retr_raw(c, 'mixed.txt')
        self.assertEqual(got, b'crlf line\r\nlf line\r\n\r\nlast line without newline')

    def test_type_i_exact_bytes(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        self.assertEqual(self.retr_raw(c, 'text.txt'), self.files['text.txt'])
        self.assertEqual(self.retr_raw(c, 'mixed.txt'), self.files['mixed.txt'])

    def test_ftplib_retrlines_ascii(self):
        f = self.ftp()
        lines = []
        f.retrlines('RETR text.txt', lines.append)
        self.assertEqual(lines, self.files['text.txt'].decode().splitlines())

    # ---- data connection modes --------------------------------------------

    def test_pasv_reply_format(self):
        c = self.raw_login()
        r = c.cmd('PASV')
        self.assertCode(r, 227)
        self.assertRegex(r.lines[0], r'^227 .*\(127,0,0,1,\d{1,3},\d{1,3}\)')

    def test_epsv_reply_format(self):
        c = self.raw_login()
        r = c.cmd('EPSV')
        self.assertCode(r, 229)
        self.assertRegex(r.lines[0], r'^229 .*\(\|\|\|\d+\|\)')
        self.assertCode(c.cmd('EPSV 1'), 229)
        self.assertCode(c.cmd('EPSV 2'), 522)

    def test_retr_pasv(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        self.assertEqual(self.retr_raw(c, 'big.bin', 'pasv'), self.files['big.bin'])

    def test_retr_epsv(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        self.assertEqual(self.retr_raw(c, 'big.bin', 'epsv'), self.files['big.bin'])

    def test_retr_port(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        self.assertEqual(self.retr_raw(c, 'big.bin', 'port'), self.files['big.bin'])

    def test_retr_eprt(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        self.assertEqual(self.retr_raw(c, 'medium.bin', 'eprt'), self.files['medium.bin'])

    def test_ftplib_active(self):
        f = self.ftp()
        f.set_pasv(False)
        self.assertEqual(self.retr_bytes(f, 'big.bin'), self.files['big.bin'])
        lines = []
        f.retrlines('NLST a', lines.append)
        self.assertIn('a/a.txt', lines)

    def test_consecutive_transfers_one_session(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        for mode in ('pasv', 'epsv', 'port', 'eprt', 'pasv', 'epsv'):
            with self.subTest(mode=mode):
                self.assertEqual(self.retr_raw(c, 'small.bin', mode), self.files['small.bin'])

    def test_port_to_closed_port_425(self):
        c = self.raw_login()
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        self.assertCode(c.cmd('PORT ' + port_args('127.0.0.1', port)), 200)
        r = c.cmd('RETR small.bin')
        if r.code in (125, 150):
            r = c.reply()
        self.assertCode(r, 425)
        self.assertCode(c.cmd('NOOP'), 200)

    # ---- ABOR / STAT during a transfer -------------------------------------

    def start_slow_retr(self, c):
        """Start RETR big.bin on a data connection with a tiny receive window
        that nobody reads: the transfer cannot finish by itself."""
        self.assertCode(c.cmd('TYPE I'), 200)
        _, port = c.pasv()
        d = data_connect('127.0.0.1', port, rcvbuf=4096)
        self.addCleanup(d.close)
        self.assertCode(c.cmd('RETR big.bin'), 150)
        first = d.recv(1024)
        self.assertTrue(first)
        time.sleep(0.2)  # let the server fill the pipe and block
        return d, first

    def test_abor_during_retr(self):
        c = self.raw_login()
        d, _ = self.start_slow_retr(c)
        c.send(b'\xff\xf4\xff\xf2ABOR\r\n')  # IAC IP IAC DM ABOR, as clients do
        r = c.reply()
        if r.code == 426:
            self.assertCode(c.reply(), 226)
        else:
            self.assertCode(r, (225, 226))
        d.close()
        self.assertCode(c.cmd('NOOP'), 200)
        self.assertEqual(self.retr_raw(c, 'small.bin'), self.files['small.bin'])

    def test_abor_plain_during_retr(self):
        c = self.raw_login()
        d, _ = self.start_slow_retr(c)
        c.send('ABOR\r\n')
        r = c.reply()
        self.assertCode(r, 426)
        self.assertCode(c.reply(), 226)
        d.close()
        self.assertCode(c.cmd('NOOP'), 200)

    def test_abor_pipelined_behind_retr(self):
        """Regression: RETR and ABOR in one segment. The ABOR is already in
        the server's line buffer when the transfer starts, where poll()
        cannot see it; it must still abort the transfer at once."""
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        _, port = c.pasv()
        d = data_connect('127.0.0.1', port, rcvbuf=4096)
        self.addCleanup(d.close)
        c.send('RETR big.bin\r\nABOR\r\n')
        self.assertCode(c.reply(), 150)
        self.assertCode(c.reply(), 426)
        self.assertCode(c.reply(), 226)
        self.assertCode(c.cmd('NOOP'), 200)

    def test_abor_ftplib_urgent(self):
        """ftplib.abort() sends IAC IP IAC DM + ABOR with MSG_OOB (the urgent
        byte): the server must still see the whole line (SO_OOBINLINE) and
        abort the transfer it is blocked in: 426, then 226.

        The transfer cannot end before the ABOR: a 64 MiB file on a data
        connection with a 4 KiB receive buffer (set before connect, so the
        window never grows) that nobody reads; the socket buffers of
        loopback hold a few MiB at most."""
        f = self.ftp()
        f.voidcmd('TYPE I')
        host, port = f.makepasv()
        d = data_connect(host, port, rcvbuf=4096)
        self.addCleanup(d.close)
        self.assertTrue(f.sendcmd('RETR ' + ABOR_FILE).startswith('150'))
        self.assertTrue(d.recv(1024))
        time.sleep(0.2)  # let the server fill the pipe and block
        resp = f.abort()  # the first reply; ftplib accepts 426, 225, 226
        self.assertTrue(resp.startswith('426'), resp)
        self.assertTrue(f.getresp().startswith('226'))
        d.close()
        self.assertTrue(f.voidcmd('NOOP').startswith('200'))

    def test_abor_without_transfer(self):
        c = self.raw_login()
        self.assertCode(c.cmd('ABOR'), (225, 226))
        self.assertCode(c.cmd('NOOP'), 200)

    def test_stat_during_transfer(self):
        c = self.raw_login()
        d, first = self.start_slow_retr(c)
        r = c.cmd('STAT')
        self.assertCode(r, (211, 213))
        # NOOP is answered mid-transfer too.
        self.assertCode(c.cmd('NOOP'), 200)
        rest = recv_all(d)
        d.close()
        self.assertEqual(first + rest, self.files['big.bin'])
        self.assertCode(c.reply(), 226)

    def test_command_during_transfer_waits_for_226(self):
        c = self.raw_login()
        d, first = self.start_slow_retr(c)
        c.send('PWD\r\n')
        rest = recv_all(d)
        d.close()
        self.assertEqual(len(first + rest), len(self.files['big.bin']))
        self.assertCode(c.reply(), 226)
        self.assertCode(c.reply(), 257)

    def test_data_close_mid_transfer_426(self):
        c = self.raw_login()
        d, _ = self.start_slow_retr(c)
        d.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        d.close()  # RST
        r = c.reply()
        self.assertCode(r, (426, 451))
        self.assertCode(c.cmd('NOOP'), 200)

    def test_quit_during_transfer(self):
        """RFC 959: QUIT during a transfer gets its 221 when the transfer's
        result is out (or at once, aborting it); then the server closes."""
        c = self.raw_login()
        d, _ = self.start_slow_retr(c)
        c.send('QUIT\r\n')
        try:
            recv_all(d)
        except (ConnectionError, OSError):
            pass
        d.close()
        codes = []
        try:
            while True:
                codes.append(c.reply().code)
        except (EOFError, ConnectionError):
            pass
        self.assertTrue(codes, 'no reply to QUIT')
        self.assertEqual(codes[-1], 221, codes)
        self.assertLessEqual(set(codes), {221, 226, 426})
        c.close()
        self.assertFreshSessionWorks()

    def test_control_close_mid_transfer(self):
        c = self.raw_login()
        d, _ = self.start_slow_retr(c)
        c.close()
        d.close()
        self.assertFreshSessionWorks()


@unittest.skipUnless(ipv6_available(), 'no IPv6 loopback (::1) on this machine')
class RetrIPv6Test(FtpdTestCase):
    listen = '127.0.0.1,::1'

    def test_both_listeners(self):
        self.assertIn('::1', self.server.ports)
        self.assertIn('127.0.0.1', self.server.ports)

    def test_epsv_over_ipv6(self):
        f = self.ftp(host='::1')  # ftplib uses EPSV on IPv6
        self.assertEqual(self.retr_bytes(f, 'big.bin'), self.files['big.bin'])

    def test_eprt_over_ipv6(self):
        f = self.ftp(host='::1')
        f.set_pasv(False)  # ftplib uses EPRT |2|::1|port| on IPv6
        self.assertEqual(self.retr_bytes(f, 'medium.bin'), self.files['medium.bin'])

    def test_eprt_raw_ipv6(self):
        c = self.raw(host='::1')
        c.login()
        ls = socket.socket(socket.AF_INET6)
        ls.settimeout(10)
        ls.bind(('::1', 0))
        ls.listen(1)
        self.addCleanup(ls.close)
        self.assertCode(c.cmd('EPRT |2|::1|%d|' % ls.getsockname()[1]), 200)
        self.assertCode(c.cmd('TYPE I'), 200)
        self.assertCode(c.cmd('RETR small.bin'), 150)
        d, _ = ls.accept()
        d.settimeout(10)
        self.addCleanup(d.close)
        self.assertEqual(recv_all(d), self.files['small.bin'])
        d.close()
        self.assertCode(c.reply(), 226)

    def test_epsv_reply_ipv6(self):
        c = self.raw(host='::1')
        c.login()
        r = c.cmd('EPSV')
        self.assertCode(r, 229)
        d = socket.create_connection(('::1', parse_229(r.text)), timeout=10)
        self.addCleanup(d.close)
        self.assertCode(c.cmd('RETR text.txt'), 150)
        recv_all(d)
        d.close()
        self.assertCode(c.reply(), 226)

    def test_eprt_ipv4_address_from_ipv6_session_refused(self):
        c = self.raw(host='::1')
        c.login()
        r = c.cmd('EPRT |1|127.0.0.1|4000|')
        self.assertGreaterEqual(r.code, 500, r)

    def test_ipv4_still_works(self):
        f = self.ftp(host='127.0.0.1')
        self.assertEqual(self.retr_bytes(f, 'small.bin'), self.files['small.bin'])


if __name__ == '__main__':
    unittest.main()
