"""Data-connection security: no FTP bounce (PORT/EPRT to another host), no
PASV theft (a data connection from another IP), EPSV ALL, one data channel
per session, pasv_address and the passive port range."""

import random
import select
import socket
import unittest

from ftpd_harness import (FtpdTestCase, data_connect, parse_227, parse_229, port_args,
                          recv_all)


def listener(host):
    s = socket.socket()
    s.settimeout(10)
    s.bind((host, 0))
    s.listen(4)
    return s


def got_connection(lsock, wait):
    r, _, _ = select.select([lsock], [], [], wait)
    return bool(r)


class DataSecurityTest(FtpdTestCase):

    def test_port_to_other_ip_refused(self):
        bait = listener('127.0.0.2')
        self.addCleanup(bait.close)
        c = self.raw_login()
        r = c.cmd('PORT ' + port_args('127.0.0.2', bait.getsockname()[1]))
        self.assertGreaterEqual(r.code, 500, r)
        self.assertLess(r.code, 600, r)
        # No data channel was set up, so a transfer cannot start.
        self.assertCode(c.cmd('RETR small.bin'), 425)
        self.assertFalse(got_connection(bait, 1.0), 'server connected to 127.0.0.2 (FTP bounce)')
        self.assertCode(c.cmd('NOOP'), 200)

    def test_eprt_to_other_ip_refused(self):
        bait = listener('127.0.0.2')
        self.addCleanup(bait.close)
        c = self.raw_login()
        r = c.cmd('EPRT |1|127.0.0.2|%d|' % bait.getsockname()[1])
        self.assertGreaterEqual(r.code, 500, r)
        self.assertCode(c.cmd('LIST'), 425)
        self.assertFalse(got_connection(bait, 1.0), 'server connected to 127.0.0.2 (FTP bounce)')

    def test_refused_port_clears_previous_channel(self):
        """A refused PORT must not leave an earlier PORT target armed for a
        bounce either: after it, the session has no usable data channel or
        still uses the legitimate one, never the refused one."""
        bait = listener('127.0.0.2')
        self.addCleanup(bait.close)
        good = listener('127.0.0.1')
        self.addCleanup(good.close)
        c = self.raw_login()
        self.assertCode(c.cmd('PORT ' + port_args('127.0.0.1', good.getsockname()[1])), 200)
        r = c.cmd('PORT ' + port_args('127.0.0.2', bait.getsockname()[1]))
        self.assertGreaterEqual(r.code, 500, r)
        r = c.cmd('RETR small.bin')
        if r.code in (125, 150):
            d, _ = good.accept()
            d.settimeout(10)
            self.addCleanup(d.close)
            recv_all(d)
            d.close()
            r = c.reply()
            self.assertCode(r, 226)
        else:
            self.assertCode(r, 425)
        self.assertFalse(got_connection(bait, 0.5))

    def test_pasv_theft_refused_and_legit_client_served(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        host, port = c.pasv()
        self.assertEqual(host, '127.0.0.1')
        mark = self.server.log_mark()
        thief = data_connect('127.0.0.1', port, source='127.0.0.2')
        self.addCleanup(thief.close)
        legit = data_connect('127.0.0.1', port)
        self.addCleanup(legit.close)
        self.assertCode(c.cmd('RETR medium.bin'), 150)
        data = recv_all(legit)
        legit.close()
        self.assertCode(c.reply(), 226)
        self.assertEqual(data, self.files['medium.bin'])
        try:
            stolen = thief.recv(65536)
        except (ConnectionError, OSError):
            stolen = b''
        self.assertEqual(stolen, b'', 'the connection from 127.0.0.2 received file data')
        self.assertIsNotNone(self.server.wait_log(r'127\.0\.0\.2', timeout=3, start=mark),
                             'the refused data connection was not logged')

    def test_pasv_theft_alone_then_legit_after_retr(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        _, port = c.pasv()
        thief = data_connect('127.0.0.1', port, source='127.0.0.2')
        self.addCleanup(thief.close)
        self.assertCode(c.cmd('RETR small.bin'), 150)
        legit = data_connect('127.0.0.1', port)
        self.addCleanup(legit.close)
        data = recv_all(legit)
        legit.close()
        self.assertCode(c.reply(), 226)
        self.assertEqual(data, self.files['small.bin'])
        try:
            self.assertEqual(thief.recv(65536), b'')
        except (ConnectionError, OSError):
            pass

    def test_epsv_all(self):
        c = self.raw_login()
        self.assertCode(c.cmd('EPSV ALL'), 200)
        self.assertGreaterEqual(c.cmd('PASV').code, 500)
        self.assertGreaterEqual(c.cmd('PORT ' + port_args('127.0.0.1', 40000)).code, 500)
        self.assertGreaterEqual(c.cmd('EPRT |1|127.0.0.1|40000|').code, 500)
        # EPSV itself still works.
        self.assertCode(c.cmd('TYPE I'), 200)
        d = data_connect('127.0.0.1', c.epsv())
        self.addCleanup(d.close)
        self.assertCode(c.cmd('RETR small.bin'), 150)
        self.assertEqual(recv_all(d), self.files['small.bin'])
        d.close()
        self.assertCode(c.reply(), 226)

    def test_new_pasv_closes_previous_listener(self):
        c = self.raw_login()
        ports = [c.pasv()[1] for _ in range(50)]
        last = ports[-1]
        old = [p for p in ports[:-1] if p != last]
        self.assertTrue(old)
        s = socket.socket()
        s.settimeout(5)
        self.addCleanup(s.close)
        with self.assertRaises(ConnectionRefusedError, msg='old PASV port %d still open' % old[0]):
            s.connect(('127.0.0.1', old[0]))
        self.assertCode(c.cmd('NOOP'), 200)

    def test_pasv_ports_are_unpredictable(self):
        # Probes are random over 1024-65535: 50 PASVs of one session (or of
        # two sessions) repeating or counting up would be a broken generator.
        runs = []
        for _ in range(2):  # one after the other: serial serves one at a time
            c = self.raw_login()
            runs.append([c.pasv()[1] for _ in range(50)])
            c.close()
        a, b = runs
        self.assertGreaterEqual(len(set(a)), 45, a)
        self.assertNotEqual(a, b)
        steps = {y - x for x, y in zip(a, a[1:])}
        self.assertGreater(len(steps), 40, 'ports follow a pattern: %r' % a)

    def test_port_after_pasv_closes_listener(self):
        c = self.raw_login()
        _, pport = c.pasv()
        good = listener('127.0.0.1')
        self.addCleanup(good.close)
        self.assertCode(c.cmd('PORT ' + port_args('127.0.0.1', good.getsockname()[1])), 200)
        s = socket.socket()
        s.settimeout(5)
        self.addCleanup(s.close)
        with self.assertRaises(ConnectionRefusedError):
            s.connect(('127.0.0.1', pport))

    def test_pasv_listener_bound_to_control_address(self):
        c = self.raw_login()
        _, port = c.pasv()
        s = socket.socket()
        s.settimeout(5)
        self.addCleanup(s.close)
        # The control connection is on 127.0.0.1; the passive port must not be
        # reachable on another local address (it listens on 127.0.0.1 only).
        with self.assertRaises(OSError):
            s.connect(('127.0.0.3', port))


def pick_range(width=20):
    # Above the kernel's ephemeral range (ip_local_port_range, 32768-60999 by
    # default), so outgoing connections of a busy machine cannot take them.
    base = random.randrange(61000, 65000 - width)
    return base, base + width - 1


class OnePortRangeTest(FtpdTestCase):
    """Regression: the server closes data connections first, so the port of
    the last one sits in TIME_WAIT; without SO_REUSEADDR on the passive
    listener a one-port range failed from the second transfer on."""
    PMIN, PMAX = pick_range(width=1)
    config = {'pasv_min_port': PMIN, 'pasv_max_port': PMAX}

    def test_many_transfers_through_one_port(self):
        f = self.ftp()
        for _ in range(5):
            self.assertEqual(self.retr_bytes(f, 'small.bin'), self.files['small.bin'])
        f.close()


class PasvConfigTest(FtpdTestCase):
    PMIN, PMAX = pick_range()
    config = {
        'pasv_min_port': PMIN,
        'pasv_max_port': PMAX,
        'pasv_address': '10.1.2.3',
    }

    def test_pasv_reply_uses_pasv_address(self):
        c = self.raw_login()
        r = c.cmd('PASV')
        self.assertCode(r, 227)
        host, port = parse_227(r.text)
        self.assertEqual(host, '10.1.2.3')
        self.assertTrue(self.PMIN <= port <= self.PMAX, (port, self.PMIN, self.PMAX))

    def test_ports_in_range(self):
        c = self.raw_login()
        for _ in range(30):
            r = c.cmd('PASV')
            self.assertCode(r, 227)
            port = parse_227(r.text)[1]
            self.assertTrue(self.PMIN <= port <= self.PMAX, (port, self.PMIN, self.PMAX))
            r = c.cmd('EPSV')
            self.assertCode(r, 229)
            port = parse_229(r.text)
            self.assertTrue(self.PMIN <= port <= self.PMAX, (port, self.PMIN, self.PMAX))

    def test_transfer_through_range(self):
        f = self.ftp()  # ftplib connects to the control host, not 10.1.2.3
        self.assertEqual(self.retr_bytes(f, 'big.bin'), self.files['big.bin'])
        f.sendcmd('EPSV')  # leave a listener open, then transfer again
        self.assertEqual(self.retr_bytes(f, 'small.bin'), self.files['small.bin'])


if __name__ == '__main__':
    unittest.main()
