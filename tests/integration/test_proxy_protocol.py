"""PROXY protocol (issue 14) on every back-end, one server start: the
harness plays the balancer (127.0.0.1, trusted) and sends the headers
itself, naming clients 127.0.0.5 and 127.0.0.6. proxy_protocol_data = yes,
so passive data connections carry a header too (the HAProxy test covers
the other mode, data from the balancer's address).

  - v1 header and the first command in one segment: the header is taken,
    the command answered (nothing read past the header); the log names the
    real client;
  - passive data: a header naming another client, and no header, are
    refused; the real client's header gets the listing;
  - PORT to the balancer's address is refused (not the client's); EPRT to
    the client's real address works;
  - max_per_ip counts the real client (every TCP peer is 127.0.0.1);
  - v2 LOCAL (a health check) is served as the balancer itself;
  - on the implicit FTPS port the header comes first, then the TLS
    handshake;
  - an untrusted peer, a connection without a header, and a header that
    never ends are closed without a 220, each with its log line."""
import shutil
import socket
import struct
import tempfile
import unittest

from ftpd_harness import FTPD_ARCH, TIMEOUT, FtpdTestCase, RawClient, port_args
from test_tls import OPENSSL, client_context, free_port, make_cert

V2_SIG = b'\r\n\r\n\x00\r\nQUIT\n'
BALANCER = '127.0.0.1'
CLIENT = '127.0.0.5'
OTHER = '127.0.0.6'
UNTRUSTED = '127.0.0.2'


def v1(src, sport=40000):
    return ('PROXY TCP4 %s 127.0.0.1 %d 21\r\n' % (src, sport)).encode()


def v2(src, sport=40001, local=False):
    addrs = socket.inet_aton(src) + socket.inet_aton('127.0.0.1') + struct.pack('!HH', sport, 21)
    return V2_SIG + bytes([0x20 if local else 0x21, 0x11]) + struct.pack('!H', 12) + addrs


class Proxied(RawClient):
    """A control connection from source that starts with header + first."""

    def __init__(self, port, header, source=BALANCER, first=b''):
        self.host = '127.0.0.1'
        self.buf = b''
        self.sock = socket.create_connection(('127.0.0.1', port), TIMEOUT,
                                             source_address=(source, 0))
        self.sock.settimeout(TIMEOUT)
        self.sock.sendall(header + first)
        self.greeting = None


def data_from_balancer(port, header):
    s = socket.create_connection(('127.0.0.1', port), TIMEOUT, source_address=(BALANCER, 0))
    s.settimeout(TIMEOUT)
    if header:
        s.sendall(header)
    return s


def read_to_eof(s):
    out = b''
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    except ConnectionResetError:
        return out


@unittest.skipUnless(OPENSSL, 'openssl is not installed')
class ProxyProtocolTest(FtpdTestCase):

    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.mkdtemp(prefix='ftpd-proxy-')
        cls.addClassCleanup(shutil.rmtree, cls.certdir, True)
        cert, key = make_cert(cls.certdir)
        cls.implicit_port = free_port()
        cls.config = {'proxy_protocol': 'any', 'proxy_trusted': '127.0.0.1/32, ::1',
                      'proxy_protocol_data': 'yes', 'proxy_timeout': 1, 'max_per_ip': 1,
                      'tls': 'optional', 'tls_cert_file': cert, 'tls_key_file': key,
                      'implicit_tls_port': cls.implicit_port}
        super().setUpClass()
        if not cls.server.wait_log(r'implicit FTPS on 127\.0\.0\.1:%d' % cls.implicit_port, 5):
            raise AssertionError('no implicit FTPS listener:\n' + cls.server.log_text())

    def connect(self, header, **kw):
        c = Proxied(self.port, header, **kw)
        self.addCleanup(c.close)
        return c

    def refused_without_greeting(self, c, log_pattern, mark):
        self.assertEqual(read_to_eof(c.sock), b'', 'closed without a 220')
        self.assertTrue(self.server.wait_log(log_pattern, start=mark), log_pattern)

    def test_proxy_protocol(self):
        mark = self.server.log_mark()
        c = self.connect(v1(CLIENT), first=b'USER anonymous\r\n')
        self.assertCode(c.reply(), 220)
        self.assertCode(c.reply(), 331)
        self.assertCode(c.cmd('PASS x@y'), 230)
        self.assertTrue(self.server.wait_log(
            r'127\.0\.0\.5:40000 connected via 127\.0\.0\.1:\d+', start=mark))

        # Passive data through the "balancer": only the real client's header.
        host, port = c.pasv()
        self.assertCode(c.cmd('LIST'), 150)
        thief = data_from_balancer(port, v2(OTHER))
        self.assertEqual(read_to_eof(thief), b'')
        bare = data_from_balancer(port, b'')
        bare.sendall(b'GET / HTTP/1.0\r\n\r\n')
        self.assertEqual(read_to_eof(bare), b'')
        good = data_from_balancer(port, v1(CLIENT, 40002))
        listing = read_to_eof(good)
        for s in (thief, bare, good):
            s.close()
        self.assertIn(b'text.txt', listing)
        self.assertCode(c.reply(), 226)
        self.assertTrue(self.server.wait_log(
            r'data connection from 127\.0\.0\.6:\d+ refused: control connection is from '
            r'127\.0\.0\.5', start=mark))
        self.assertTrue(self.server.wait_log(
            r'data connection for 127\.0\.0\.5:\d+ refused: no PROXY header', start=mark))

        # Active data goes to the real client, never to the balancer.
        self.assertCode(c.cmd('PORT ' + port_args(BALANCER, 40100)), 500)
        with socket.socket() as lsock:
            lsock.bind((CLIENT, 0))
            lsock.listen(1)
            lsock.settimeout(TIMEOUT)
            self.assertCode(c.cmd('EPRT |1|%s|%d|' % (CLIENT, lsock.getsockname()[1])), 200)
            self.assertCode(c.cmd('NLST'), 150)
            conn, peer = lsock.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                self.assertIn(b'text.txt', read_to_eof(conn))
        self.assertCode(c.reply(), 226)

        # max_per_ip = 1 counts 127.0.0.5, not the balancer all come from.
        if FTPD_ARCH != 'serial':  # serial serves one connection at a time
            again = self.connect(v2(CLIENT))
            self.assertCode(again.reply(), 421)
            other = self.connect(v2(OTHER))
            self.assertCode(other.reply(), 220)
            self.assertCode(other.cmd('QUIT'), 221)
        self.assertCode(c.cmd('QUIT'), 221)
        c.close()

        # A health check: v2 LOCAL is the balancer speaking for itself.
        mark = self.server.log_mark()
        check = self.connect(v2(OTHER, local=True))
        self.assertCode(check.reply(), 220)
        check.close()
        self.assertTrue(self.server.wait_log(r'127\.0\.0\.1:\d+ connected$', start=mark))

        # Implicit FTPS: the header, then the handshake, then the 220.
        raw = socket.create_connection(('127.0.0.1', self.implicit_port), TIMEOUT)
        raw.sendall(v2('127.0.0.8', 40003))
        with client_context().wrap_socket(raw, server_hostname='localhost') as tls:
            tls.settimeout(TIMEOUT)
            self.assertEqual(tls.recv(3), b'220')
        self.assertTrue(self.server.wait_log(
            r'127\.0\.0\.8:40003 connected via 127\.0\.0\.1:\d+', start=mark))

        # Refused before any byte: untrusted, no header, header never ends.
        self.refused_without_greeting(
            self.connect(v1(CLIENT), source=UNTRUSTED),
            r'127\.0\.0\.2:\d+ refused: not in proxy_trusted', mark)
        self.refused_without_greeting(
            self.connect(b'USER anonymous\r\n'),
            r'127\.0\.0\.1:\d+ refused: bad PROXY header: no PROXY header', mark)
        self.refused_without_greeting(
            self.connect(v1(CLIENT)[:20]),
            r'127\.0\.0\.1:\d+ refused: no complete PROXY header within 1 s', mark)


if __name__ == '__main__':
    unittest.main()
