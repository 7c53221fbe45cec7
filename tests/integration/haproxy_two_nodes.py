"""Two ftpd nodes behind a real HAProxy (issue 14), run once (not per arch):
node A with the arch under test's default pairing (reactor) and node B
with another (prefork), one served tree, HAProxy on loopback sending PROXY
v2 on the control port, and one passive port range per node forwarded to
that node. Clients connect from 127.0.0.5 so that the address the nodes
log and count can only be the real client's, never HAProxy's (127.0.0.1).

    client 127.0.0.5 --> HAProxy 127.0.0.2:CTRL --(PROXY v2)--> A 127.0.0.1:pa
                                               \\-------------> B 127.0.0.1:pb
                     --> HAProxy 127.0.0.2:A0-A1 (A's passive range) --> A
                     --> HAProxy 127.0.0.2:B0-B1 (B's passive range) --> B
    PORT/EPRT: the node connects to 127.0.0.5 directly.

Checks, in one HAProxy start: curl (passive: list, download, upload;
active), ftplib (passive and active, download and upload) through
HAProxy; the logs name 127.0.0.5; both nodes serve; a connection that
skips HAProxy is refused; stopping B moves new sessions to A (HAProxy's
health check); max_per_ip counts the real client."""
import ftplib
import io
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from ftpd_harness import TIMEOUT, Server, write_config

HAPROXY = shutil.which('haproxy') or (os.path.exists('/usr/sbin/haproxy') and '/usr/sbin/haproxy')
CURL = shutil.which('curl')
CLIENT = '127.0.0.5'   # the client's real address
OTHER = '127.0.0.6'    # another client
COUNTED = '127.0.0.7'  # the client whose sessions max_per_ip counts
FRONT = '127.0.0.2'    # HAProxy's public address (pasv_address)
NODE_ARCHS = ('reactor', 'prefork')
RANGE = 6              # passive ports per node

HAPROXY_CFG = """
global
    maxconn 512
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 1
    option redispatch
frontend ftp_control
    bind {front}:{ctrl}
    default_backend ftpd_nodes
backend ftpd_nodes
    balance roundrobin
    option tcp-check
    tcp-check expect string 220
    tcp-check send QUIT\\r\\n
    default-server send-proxy-v2 check inter 200ms fall 1 rise 2
    server a 127.0.0.1:{port_a}
    server b 127.0.0.1:{port_b}
frontend pasv_a
    bind {front}:{a0}-{a1}
    default_backend pasv_a
backend pasv_a
    server a 127.0.0.1
frontend pasv_b
    bind {front}:{b0}-{b1}
    default_backend pasv_b
backend pasv_b
    server b 127.0.0.1
"""


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


@unittest.skipUnless(HAPROXY and CURL, 'haproxy or curl not installed (scripts/lib.sh)')
class HaproxyTwoNodes(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='ftpd-haproxy-')
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.root = os.path.join(cls.tmp, 'tree')
        os.makedirs(os.path.join(cls.root, 'up'))
        cls.payload = os.urandom(300 * 1024 + 3)
        with open(os.path.join(cls.root, 'file.bin'), 'wb') as f:
            f.write(cls.payload)
        # Passive ranges above the kernel's ephemeral ports (32768-60999).
        base = random.randrange(61000, 65000 - 2 * RANGE)
        cls.ranges = {'a': (base, base + RANGE - 1), 'b': (base + RANGE, base + 2 * RANGE - 1)}
        cls.nodes = {}
        for name, arch in zip('ab', NODE_ARCHS):
            lo, hi = cls.ranges[name]
            conf = write_config(os.path.join(cls.tmp, name + '.conf'), {
                'banner': 'node %s ready.' % name, 'max_per_ip': 2,
                'write_enable': 'yes', 'anonymous_write': 'yes',
                'pasv_address': FRONT, 'pasv_min_port': lo, 'pasv_max_port': hi,
                'proxy_protocol': 'v2', 'proxy_trusted': '127.0.0.1',
                'workers': 2})
            node = Server(cls.root, '127.0.0.1', config_path=conf, arch=arch)
            cls.addClassCleanup(node.stop)  # SIGTERM: prefork stops its workers
            node.wait_listening(10)
            cls.nodes[name] = node
        cls.ctrl = free_port(FRONT)
        cfg = os.path.join(cls.tmp, 'haproxy.cfg')
        with open(cfg, 'w') as f:
            f.write(HAPROXY_CFG.format(
                front=FRONT, ctrl=cls.ctrl, port_a=cls.nodes['a'].port_of(),
                port_b=cls.nodes['b'].port_of(), a0=cls.ranges['a'][0], a1=cls.ranges['a'][1],
                b0=cls.ranges['b'][0], b1=cls.ranges['b'][1]))
        cls.haproxy_log = open(os.path.join(cls.tmp, 'haproxy.log'), 'w+')
        cls.haproxy = subprocess.Popen([HAPROXY, '-db', '-f', cfg], stdin=subprocess.DEVNULL,
                                       stdout=cls.haproxy_log, stderr=subprocess.STDOUT)
        cls.addClassCleanup(cls.stop_haproxy)
        deadline = time.monotonic() + 10
        while not port_open(FRONT, cls.ctrl):
            if cls.haproxy.poll() is not None or time.monotonic() > deadline:
                cls.haproxy_log.seek(0)
                raise AssertionError('haproxy did not start:\n' + cls.haproxy_log.read())
            time.sleep(0.05)
        # Both nodes up in HAProxy's eyes (rise 2 checks each) before the
        # round robin is relied on.
        for node in cls.nodes.values():
            if not node.wait_log(r'127\.0\.0\.1:\d+ connected', timeout=10):
                cls.haproxy_log.seek(0)
                raise AssertionError('no health check reached a node:\n%s\n%s'
                                     % (node.log_text()[-2000:], cls.haproxy_log.read()))

    @classmethod
    def stop_haproxy(cls):
        if cls.haproxy.poll() is None:
            cls.haproxy.terminate()
            try:
                cls.haproxy.wait(5)
            except subprocess.TimeoutExpired:
                cls.haproxy.kill()
                cls.haproxy.wait()
        cls.haproxy_log.close()

    def tearDown(self):
        for n, node in self.nodes.items():
            self.assertEqual(node.sanitizer_reports(), [], 'node %s' % n)

    def ftp(self, source=CLIENT, passive=True):
        f = ftplib.FTP(timeout=TIMEOUT, source_address=(source, 0))
        try:
            f.connect(FRONT, self.ctrl)
        except Exception:
            f.close()
            raise
        f.login()
        f.set_pasv(passive)
        self.addCleanup(f.close)
        return f

    def curl(self, *args, data=None):
        cmd = [CURL, '-sS', '--max-time', '20', '--interface', CLIENT] + list(args)
        return subprocess.run(cmd, input=data, capture_output=True, timeout=30)

    def url(self, path=''):
        return 'ftp://%s:%d/%s' % (FRONT, self.ctrl, path)

    def served_by(self, f):
        return 'a' if 'node a' in f.welcome else 'b'

    def test_through_haproxy(self):
        marks = {n: node.log_mark() for n, node in self.nodes.items()}
        # curl, passive (EPSV to HAProxy's address): list, download, upload.
        r = self.curl(self.url())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b'file.bin', r.stdout)
        r = self.curl(self.url('file.bin'))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.payload)
        r = self.curl('-T', '-', self.url('up/curl.bin'), data=self.payload[:5000])
        self.assertEqual(r.returncode, 0, r.stderr)
        # curl, active: the node connects to the client's real address.
        r = self.curl('-P', CLIENT, self.url('file.bin'))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.payload)
        # ftplib, passive and active, download and upload; two sessions at
        # once land on both nodes (round robin).
        seen = set()
        for passive in (True, False):
            f = self.ftp(passive=passive)
            # PASV's address is the node's pasv_address (HAProxy's), used
            # as given rather than replaced by the control peer's.
            f.trust_server_pasv_ipv4_address = True
            if passive:
                self.assertIn('(127,0,0,2,', f.sendcmd('PASV'))
            seen.add(self.served_by(f))
            got = io.BytesIO()
            f.retrbinary('RETR file.bin', got.write)
            self.assertEqual(got.getvalue(), self.payload)
            name = 'up/ftplib-%s.bin' % ('pasv' if passive else 'port')
            f.storbinary('STOR ' + name, io.BytesIO(self.payload[:7000]))
            self.assertIn(name.split('/')[1], ' '.join(f.nlst('up')))
            f.quit()
        self.assertEqual(seen, {'a', 'b'}, 'both nodes serve')
        with open(os.path.join(self.root, 'up', 'ftplib-port.bin'), 'rb') as fh:
            self.assertEqual(fh.read(), self.payload[:7000])
        # The nodes know the client by its real address, never HAProxy's.
        for n, node in self.nodes.items():
            self.assertTrue(node.wait_log(r'127\.0\.0\.5:\d+ connected via 127\.0\.0\.1',
                                          start=marks[n]), node.log_text()[-3000:])
            self.assertIsNone(node.wait_log(r'^\S+ \S+ \S+ +127\.0\.0\.1:\d+ (anonymous )?'
                                            r'(RETR|STOR|LIST)', timeout=0, start=marks[n]))

        # Skipping HAProxy: a PROXY port refuses the direct connection.
        a = self.nodes['a']
        mark = a.log_mark()
        with socket.create_connection(('127.0.0.1', a.port_of()), TIMEOUT,
                                      source_address=(CLIENT, 0)) as s:
            s.settimeout(TIMEOUT)
            try:
                self.assertEqual(s.recv(100), b'')
            except ConnectionResetError:
                pass
        self.assertTrue(a.wait_log(r'127\.0\.0\.5:\d+ refused: not in proxy_trusted', start=mark))

        # Stopping B: HAProxy's health check sends new sessions to A.
        self.nodes['b'].stop()
        in_a = 0
        deadline = time.monotonic() + 10
        while in_a < 4 and time.monotonic() < deadline:
            try:
                f = ftplib.FTP(timeout=TIMEOUT, source_address=(OTHER, 0))
                f.connect(FRONT, self.ctrl)
                in_a = in_a + 1 if 'node a' in f.welcome else 0
                f.quit()
            except (OSError, EOFError, ftplib.Error):
                f.close()
                in_a = 0
                time.sleep(0.1)
        self.assertEqual(in_a, 4, 'sessions did not move to node A')

        # max_per_ip (2) counts the real client on node A, not HAProxy's
        # address (through which every session comes).
        mark = a.log_mark()
        first, second = self.ftp(source=COUNTED), self.ftp(source=COUNTED)
        self.assertEqual({self.served_by(first), self.served_by(second)}, {'a'})
        with self.assertRaises(ftplib.error_temp) as refused:
            self.ftp(source=COUNTED)
        self.assertIn('421', str(refused.exception))
        self.assertTrue(a.wait_log(r'127\.0\.0\.7:\d+ refused: max_per_ip reached', start=mark))
        third = self.ftp(source=OTHER)  # another client is still welcome
        self.assertEqual(third.voidcmd('NOOP')[:3], '200')


if __name__ == '__main__':
    unittest.main()
