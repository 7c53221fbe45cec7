"""ftpd --status [--json] on the control socket and GET /metrics (issues 12
and 13), and the master/worker channel (ChannelTest, prefork and hybrid),
on one server per arch and class: an idle logged-in session and a RETR held
back by max_rate_download are in progress while `ftpd --status --json` is
parsed, the text table is read and curl scrapes /metrics (checked against
the Prometheus text exposition rules); after the transfer the counters
show it. Serial serves one session at a time: there only the transfer's
session is in progress."""

import ftplib
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

from ftpd_harness import FTPD_ARCH, FTPD_BIN, TIMEOUT, FtpdTestCase, ftpd_env, run_ftpd, \
    write_config

SIZE = 1500 * 1000
RATE = 1000 * 1000  # the RETR lasts about 1.5 s
SERIAL = FTPD_ARCH == 'serial'
SOCKET = os.path.join(tempfile.gettempdir(), 'ftpd-status-%s.sock' % uuid.uuid4().hex[:12])

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def check_exposition(test, text):
    """The Prometheus text format's rules: one HELP and one TYPE per family,
    before its samples; samples only of declared families, well formed,
    with numeric values; counters named *_total. Returns {sample: value}."""
    types, helps, samples = {}, set(), {}
    for line in text.splitlines():
        if line.startswith('# HELP '):
            name = line.split()[2]
            test.assertNotIn(name, helps, 'two HELP lines for ' + name)
            helps.add(name)
        elif line.startswith('# TYPE '):
            _, _, name, kind = line.split()
            test.assertNotIn(name, types, 'two TYPE lines for ' + name)
            test.assertIn(kind, ('counter', 'gauge'))
            if kind == 'counter':
                test.assertTrue(name.endswith('_total'), name)
            types[name] = kind
        else:
            m = SAMPLE_RE.match(line)
            test.assertIsNotNone(m, 'bad sample line %r' % line)
            name, labels, value = m.groups()
            test.assertIn(name, types, 'sample before its TYPE: ' + line)
            float(value)
            if labels:
                inner = labels[1:-1]
                test.assertEqual(LABEL_RE.sub('', inner).replace(',', ''), '', line)
            key = name + (labels or '')
            test.assertNotIn(key, samples, 'sample twice: ' + key)
            samples[key] = float(value)
    test.assertEqual(helps, set(types))
    test.assertTrue(text.endswith('\n'))
    return samples


class StatusTest(FtpdTestCase):
    config = {
        'control_socket': SOCKET,
        'metrics_listen': '127.0.0.1:0',
        'max_rate_download': RATE,
        'workers': 2,  # prefork: the idle session and the transfer at once
    }

    @classmethod
    def extra_fixture(cls, root):
        with open(os.path.join(root, 'held.bin'), 'wb') as f:
            f.truncate(SIZE)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.addClassCleanup(lambda: os.path.exists(SOCKET) and os.unlink(SOCKET))
        m = cls.server.wait_log(r'metrics on http://127\.0\.0\.1:(\d+)/metrics', 5)
        assert m, 'no "metrics on" line'
        cls.metrics_url = 'http://127.0.0.1:%s/metrics' % m.group(1)
        cls.config_path = os.path.join(cls.tmpdir, 'ftpd-test.conf')

    def status(self, json_out=True):
        args = [FTPD_BIN, '--config', self.config_path, '--status'] + (['--json'] if json_out
                                                                     else [])
        p = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=TIMEOUT, env=ftpd_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout) if json_out else p.stdout

    def curl(self, url):
        p = subprocess.run(['curl', '-sS', '--max-time', '10', '-w', '\n%{http_code}', url],
                           capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr)
        body, _, code = p.stdout.rpartition('\n')
        return int(code), body

    def http_raw(self, request):
        port = int(self.metrics_url.split(':')[2].split('/')[0])
        with socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT) as s:
            s.sendall(request)
            data = b''
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return data
                data += chunk

    def login(self):
        f = ftplib.FTP(timeout=TIMEOUT)
        f.connect(self.host, self.port)
        f.login()
        return f

    def test_status_and_metrics_during_a_transfer(self):
        idle = None
        if not SERIAL:
            idle = self.login()
            idle.cwd('/a/b')
        before = self.status()
        done = threading.Event()
        got = []
        xfer = self.login()

        def retr():
            try:
                xfer.retrbinary('RETR held.bin', lambda b: got.append(len(b)))
            finally:
                done.set()

        t = threading.Thread(target=retr)
        t.start()
        try:
            self.check_during(before, idle, xfer)
        finally:
            done.wait(TIMEOUT)
            t.join(TIMEOUT)
        self.assertEqual(sum(got), SIZE)
        xfer.quit()
        if idle is not None:
            idle.quit()
        self.check_after(before)

    def wait_transfer(self):
        """--status --json until the transfer has moved bytes for 0.3 s (its
        first slice goes at once: the rate means more later)."""
        deadline = time.monotonic() + 10
        while True:
            st = self.status()
            moving = [s for s in st['sessions'] if s['transfer'] and s['transfer']['bytes'] > 0
                      and s['transfer']['seconds'] >= 0.3]
            if moving or time.monotonic() > deadline:
                return st, moving
            time.sleep(0.05)

    def check_during(self, before, idle, xfer):
        st, moving = self.wait_transfer()
        self.assertEqual(len(moving), 1, st)
        self.assertEqual(st['pid'], self.proc.pid)
        self.assertEqual(st['arch'], FTPD_ARCH)
        self.assertRegex(st['version'], r'^\d+\.\d+\.\d+')
        self.assertLessEqual(st['started'], time.time() + 1)
        pids = set(self.server.pids())
        by_peer = {s['peer']: s for s in st['sessions']}
        x = by_peer['127.0.0.1:%d' % xfer.sock.getsockname()[1]]
        self.assertEqual(x['user'], 'anonymous')
        self.assertTrue(x['logged_in'])
        self.assertIn(x['pid'], pids)
        tr = x['transfer']
        self.assertEqual((tr['command'], tr['file'], tr['size']), ('RETR', '/held.bin', SIZE))
        self.assertTrue(0 < tr['bytes'] < SIZE, tr)
        self.assertGreater(tr['rate'], 0)
        self.assertLess(tr['rate'], RATE * 3)
        if idle is not None:
            i = by_peer['127.0.0.1:%d' % idle.sock.getsockname()[1]]
            self.assertTrue(i['logged_in'])
            self.assertIsNone(i['transfer'])
            self.assertGreaterEqual(i['idle'], 0)
        totals = st['totals']
        self.assertEqual(totals['sessions_active'], 1 if SERIAL else 2)
        self.assertEqual(totals['transfers_active'], 1)
        self.assertEqual(totals['counters']['logins_ok'],
                         before['totals']['counters']['logins_ok'] + 1)
        self.assertGreaterEqual(totals['counters']['bytes_out'], tr['bytes'])
        # Per worker: the workers' pids are the server's processes, and
        # their sessions and counters add up to the totals.
        self.assertTrue(st['workers'])
        self.assertEqual(sum(w['sessions'] for w in st['workers']), totals['sessions_active'])
        self.assertEqual(sum(w['counters']['logins_ok'] for w in st['workers']),
                         totals['counters']['logins_ok'])
        for w in st['workers']:
            if w['alive']:
                self.assertIn(w['pid'], pids)
        if FTPD_ARCH in ('prefork', 'hybrid'):
            self.assertEqual(totals['workers'], len([w for w in st['workers'] if w['alive']]))
            self.assertNotIn(x['pid'], (self.proc.pid,))

        text = self.status(json_out=False)
        self.assertIn('arch %s, pid %d' % (FTPD_ARCH, self.proc.pid), text)
        self.assertRegex(text, r'anonymous +127\.0\.0\.1:%d .*RETR /held\.bin \d+/%d bytes'
                         % (xfer.sock.getsockname()[1], SIZE))

        code, body = self.curl(self.metrics_url)
        self.assertEqual(code, 200)
        m = check_exposition(self, body)
        self.assertEqual(m['ftpd_transfers'], 1)
        self.assertEqual(m['ftpd_sessions'], 1 if SERIAL else 2)
        self.assertGreater(m['ftpd_sent_bytes_total'], 0)
        self.assertGreaterEqual(m['ftpd_logins_total{result="ok"}'], 1)
        self.assertIn('ftpd_refusals_total{reason="max_clients"}', m)
        self.assertIn('ftpd_transfers_total{result="conn_lost"}', m)
        self.assertIn('ftpd_idle_timeouts_total', m)
        self.assertGreaterEqual(m['ftpd_workers'], 1)
        gen = [k for k in m if k.startswith('ftpd_generation_info{')]
        self.assertEqual(len(gen), 1)
        self.assertIn('pid="%d"' % self.proc.pid, gen[0])
        self.assertEqual(self.curl(self.metrics_url.replace('/metrics', '/other'))[0], 404)
        self.assertEqual(self.http_raw(b'POST /metrics HTTP/1.0\r\n\r\n')[:12], b'HTTP/1.0 405')
        self.assertEqual(self.http_raw(b'GET /metrics HTTP/1.0\r\nX: ' + b'y' * 5000)[:12],
                         b'HTTP/1.0 431')

    def check_after(self, before):
        deadline = time.monotonic() + 5
        while True:
            st = self.status()
            c = st['totals']['counters']
            if c['transfers']['ok'] > before['totals']['counters']['transfers']['ok'] or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.05)
        b = before['totals']['counters']
        self.assertEqual(c['transfers']['ok'], b['transfers']['ok'] + 1)
        self.assertGreaterEqual(c['bytes_out'], b['bytes_out'] + SIZE)
        self.assertGreaterEqual(c['sessions'], b['sessions'] + 1)
        self.assertEqual(st['totals']['transfers_active'], 0)

    @unittest.skipUnless(FTPD_ARCH == 'reactor', 'checked before any back-end runs: once')
    def test_in_use_by_another_server(self):
        # A second server (not started by this one, as a live upgrade's new
        # generation is) must not steal the control socket or the metrics
        # port of a running one.
        port = self.metrics_url.split(':')[2].split('/')[0]
        for keys, what in (({'control_socket': SOCKET}, 'control_socket'),
                           ({'metrics_listen': '127.0.0.1:' + port}, 'metrics_listen')):
            path = write_config(os.path.join(self.tmpdir, 'second.conf'), keys)
            p = run_ftpd(['--config', path, '--arch', FTPD_ARCH, '--port', '0', '--root',
                          self.root])
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn('%s ' % what, p.stderr)
            self.assertIn('another server answers on it', p.stderr)
        self.assertEqual(self.status()['pid'], self.proc.pid)

    @unittest.skipUnless(FTPD_ARCH == 'reactor', 'no server involved: once')
    def test_no_control_socket(self):
        path = write_config(os.path.join(self.tmpdir, 'none.conf'), {'port': 2121})
        p = run_ftpd(['--config', path, '--status'])
        self.assertEqual(p.returncode, 1)
        self.assertIn('control_socket', p.stderr)


CHANNEL_WORKERS = 2


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


@unittest.skipUnless(FTPD_ARCH in ('prefork', 'hybrid'), 'no worker processes')
class ChannelTest(FtpdTestCase):
    """The master/worker channel of prefork and hybrid: every worker
    reports ready over it, and when the master dies (SIGKILL: no signal is
    forwarded) its workers see their channel close, drain and exit instead
    of serving on unsupervised."""

    config = {'workers': CHANNEL_WORKERS, 'min_spare_workers': 0}

    def test_ready_then_master_gone(self):
        for i in range(CHANNEL_WORKERS):
            self.assertTrue(self.server.wait_log(r'worker %d ready' % i, 10),
                            'worker %d never reported ready' % i)
        workers = [p for p in self.server.pids() if p != self.proc.pid]
        self.assertGreaterEqual(len(workers), CHANNEL_WORKERS)
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
