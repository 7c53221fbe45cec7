"""Reload (SIGHUP) on every back-end, with one server start: a new banner,
writes allowed, FTPS turned on and a new account reach the sessions that
start after the reload while a session opened before keeps its settings
(it still may not write, nor AUTH TLS) and goes on working; a broken
configuration is logged and the server goes on with the last good one; a
listen address added is served, and refused again once removed, while the
one that stays keeps its port; a new certificate reaches new sessions.

On serial, which serves one session at a time, a reload read during a
session takes effect when it ends: the old session finishes first. On
prefork and hybrid the old workers drain while new ones start, and a
worker may take a connection in the instant before it reads the signal:
those two retry a new session (for 3 s) until it greets with the new
banner."""
import os
import re
import shutil
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from ftpd_harness import (FTPD_ARCH, FTPD_BIN, TIMEOUT, VARIANT_CONFIG, RawClient, Server,
                          make_tree, write_config)

OLD_BANNER = 'Before the reload.'
NEW_BANNER = 'After the reload.'
THIRD_BANNER = 'Third generation.'
PASSWORD = 'reload-pw'
SERIAL = FTPD_ARCH == 'serial'
NEW_WORKERS = FTPD_ARCH in ('prefork', 'hybrid')
# One process whose sessions hold the generation they started with: there
# the old one is freed when its last session ends (a master frees it at
# once, it has no sessions).
SESSIONS_IN_ONE_PROCESS = FTPD_ARCH in ('thread', 'threadpool', 'reactor')
# Back-ends whose accepting threads or workers cannot take a new set of
# listeners: a change is logged as needing a restart.
FIXED_LISTENERS = (VARIANT_CONFIG.get('hybrid_balance') == 'reuseport'
                   or VARIANT_CONFIG.get('threadpool_dispatch') == 'accept')


OPENSSL = shutil.which('openssl')


def make_cert(directory, name):
    """A self-signed P-256 certificate whose subject names `name`."""
    cert = os.path.join(directory, name + '.pem')
    key = os.path.join(directory, name + '.key')
    subprocess.run([OPENSSL, 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                    'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
                    '-days', '2', '-subj', '/CN=' + name],
                   check=True, capture_output=True, timeout=30)
    return dict(tls='optional', tls_cert_file=cert, tls_key_file=key)


def hash_password(password):
    p = subprocess.run([FTPD_BIN, '--hash-password'], input=password + '\n',
                       capture_output=True, text=True, timeout=TIMEOUT)
    if p.returncode != 0:
        raise AssertionError('--hash-password: %r %r' % (p.stdout, p.stderr))
    return p.stdout.strip()


class ReloadTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='ftpd-reload-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.root = os.path.join(self.tmp, 'tree')
        os.makedirs(self.root)
        make_tree(self.root)
        self.users = os.path.join(self.tmp, 'users')
        self.conf = os.path.join(self.tmp, 'ftpd.conf')
        self.hash = hash_password(PASSWORD)

    def write_users(self, *names):
        with open(self.users, 'w', encoding='utf-8') as f:
            for name in names:
                f.write('%s:%s:%s:r\n' % (name, self.hash, self.root))

    def write_conf(self, **keys):
        base = dict(workers=2, threads=4, listen='127.0.0.1', users_file=self.users)
        write_config(self.conf, dict(base, **keys))

    def hup(self, server):
        mark = server.log_mark()
        os.kill(server.proc.pid, signal.SIGHUP)
        return mark

    def wait_log(self, server, pattern, mark):
        m = server.wait_log(pattern, 5, mark)
        self.assertTrue(m, 'no log line %r\n%s' % (pattern, server.log_text()))
        return m

    def fresh(self, host, port, banner):
        """A new session greeting with banner (retried on prefork/hybrid,
        see the top of this file)."""
        deadline = time.monotonic() + 3
        while True:
            c = RawClient(host, port)
            if banner in c.greeting.text or not NEW_WORKERS or time.monotonic() > deadline:
                self.assertIn(banner, c.greeting.text)
                return c
            c.close()
            time.sleep(0.05)

    def server_cert(self, c):
        """AUTH TLS on session c; the DER certificate the server shows."""
        self.assertEqual(c.cmd('AUTH TLS').code, 234)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        tls = ctx.wrap_socket(c.sock)
        der = tls.getpeercert(binary_form=True)
        tls.close()
        return der

    def refused(self, host, port):
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host, port), timeout=1).close()
            except ConnectionRefusedError:
                return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def test_reload(self):
        self.write_users('alice')
        self.write_conf(banner=OLD_BANNER)
        server = Server(self.root, config_path=self.conf, listen_flag=False)
        self.addCleanup(server.kill)
        server.wait_listening(10)
        port = server.port_of('127.0.0.1')

        old = RawClient('127.0.0.1', port)
        self.addCleanup(old.close)
        self.assertIn(OLD_BANNER, old.greeting.text)
        old.login()
        self.assertEqual(old.cmd('MKD before').code, 550)

        # 1. A new banner, writes for anonymous, FTPS, a new account, a
        # second address, and a key that needs a restart.
        tls1 = make_cert(self.tmp, 'ftpd-reload-one') if OPENSSL else {}
        self.write_users('alice', 'bob')
        self.write_conf(banner=NEW_BANNER, write_enable='yes', anonymous_write='yes',
                        listen='127.0.0.1, 127.0.0.2', max_clients=1000, **tls1)
        mark = self.hup(server)
        if SERIAL:  # the session runs on, untouched; the reload waits for its end
            self.assertEqual(old.cmd('NOOP').code, 200)
            self.assertEqual(old.cmd('MKD during').code, 550)
            self.assertEqual(old.cmd('AUTH TLS').code, 502)  # FTPS was off
            self.assertEqual(old.cmd('QUIT').code, 221)
            old.close()
        self.wait_log(server, r'reload: generation 2 in use for new sessions', mark)
        self.wait_log(server, r"reload: 'max_clients' changed: needs a restart", mark)
        if SESSIONS_IN_ONE_PROCESS:  # the old session still holds generation 1
            self.assertIsNone(server.wait_log(r'generation 1 freed', 0.1, mark))

        new = self.fresh('127.0.0.1', port, NEW_BANNER)
        self.assertEqual(new.login('bob', PASSWORD).code, 230)
        self.assertEqual(new.cmd('MKD after').code, 550)  # bob has 'r' only
        self.assertEqual(new.cmd('QUIT').code, 221)
        new.close()
        anon = self.fresh('127.0.0.1', port, NEW_BANNER)
        anon.login()
        self.assertEqual(anon.cmd('MKD after').code, 257)  # the new anonymous_write
        self.assertEqual(anon.cmd('QUIT').code, 221)
        anon.close()
        self.assertTrue(os.path.isdir(os.path.join(self.root, 'after')))
        if OPENSSL:
            c = self.fresh('127.0.0.1', port, NEW_BANNER)
            self.assertIn(b'ftpd-reload-one', self.server_cert(c))
            c.close()

        if not SERIAL:  # the old session: still working, still read-only
            self.assertEqual(old.cmd('NOOP').code, 200)
            self.assertEqual(old.cmd('PWD').code, 257)
            self.assertEqual(old.cmd('MKD during').code, 550)
            self.assertEqual(old.cmd('AUTH TLS').code, 502)  # FTPS was off
            mark_quit = server.log_mark()
            self.assertEqual(old.cmd('QUIT').code, 221)
            old.close()
            if SESSIONS_IN_ONE_PROCESS:
                self.wait_log(server, r'generation 1 freed \(no longer current', mark_quit)
        self.assertFalse(os.path.exists(os.path.join(self.root, 'during')))

        port2 = None
        if FIXED_LISTENERS:
            self.wait_log(server, r'reload: the listen addresses changed: .*needs a restart', mark)
        else:
            port2 = int(self.wait_log(server, r'listening on 127\.0\.0\.2:(\d+)', mark).group(1))
            second = self.fresh('127.0.0.2', port2, NEW_BANNER)
            self.assertEqual(second.cmd('QUIT').code, 221)
            second.close()

        # 2. A broken file: logged with the file and line, nothing changes.
        with open(self.conf, 'a', encoding='utf-8') as f:
            f.write('max_per_ip = lots\n')
        mark = self.hup(server)
        self.wait_log(server, r'reload: %s:\d+: .*max_per_ip.*; still running the previous '
                      r'configuration' % re.escape(self.conf), mark)
        kept = self.fresh('127.0.0.1', port, NEW_BANNER)
        self.assertEqual(kept.login('bob', PASSWORD).code, 230)
        self.assertEqual(kept.cmd('QUIT').code, 221)
        kept.close()

        # 3. The second address removed: refused; the first keeps its port.
        # A new certificate.
        tls2 = make_cert(self.tmp, 'ftpd-reload-two') if OPENSSL else {}
        self.write_conf(banner=THIRD_BANNER, **tls2)
        mark = self.hup(server)
        self.wait_log(server, r'reload: generation 3 in use for new sessions', mark)
        if port2 is not None:
            self.wait_log(server, r'no longer listening on 127\.0\.0\.2:%d' % port2, mark)
            self.assertTrue(self.refused('127.0.0.2', port2),
                            '127.0.0.2:%d still accepts connections' % port2)
        third = self.fresh('127.0.0.1', port, THIRD_BANNER)
        if OPENSSL:
            self.assertIn(b'ftpd-reload-two', self.server_cert(third))
        else:
            self.assertEqual(third.cmd('QUIT').code, 221)
        third.close()

        self.assertTrue(server.alive())
        self.assertEqual(server.stop(10), 0)
        self.assertFalse(server.killed)
        self.assertEqual(server.sanitizer_reports(), [])


if __name__ == '__main__':
    unittest.main()
