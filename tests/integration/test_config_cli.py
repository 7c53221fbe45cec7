"""The command line and the config file: --help, bad flags, --check-config,
--list-archs, --version, start-up errors and SIGTERM."""

import os
import shutil
import signal
import socket
import tempfile
import time
import unittest

from ftpd_harness import FTPD_ARCH, RawClient, Server, run_ftpd, write_config

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
ARCHS = ('serial', 'process', 'thread', 'prefork', 'threadpool', 'reactor', 'hybrid')


class CliTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='ftpd-cli-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def conf(self, text, name='test.conf'):
        path = os.path.join(self.tmp, name)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        return path

    def test_help(self):
        p = run_ftpd(['--help'])
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout + p.stderr
        self.assertIn('usage', out.lower())
        for flag in ('--config', '--arch', '--listen', '--port', '--root', '--check-config',
                     '--list-archs', '--version'):
            self.assertIn(flag, out)

    def test_bad_flag_exit_2_with_usage(self):
        p = run_ftpd(['--no-such-flag'])
        self.assertEqual(p.returncode, 2)
        self.assertIn('usage', p.stderr.lower())
        self.assertEqual(p.stdout, '')

    def test_stray_argument_exit_2(self):
        p = run_ftpd(['stray-argument'])
        self.assertEqual(p.returncode, 2)

    def test_version(self):
        p = run_ftpd(['--version'])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r'\d+\.\d+\.\d+')

    def test_list_archs(self):
        p = run_ftpd(['--list-archs'])
        self.assertEqual(p.returncode, 0, p.stderr)
        listed = [ln.split()[0] for ln in p.stdout.splitlines() if ln.strip()]
        # The seven back-ends, then their variants as "arch+variant".
        self.assertEqual(tuple(n for n in listed if '+' not in n), ARCHS)
        for name in listed:
            self.assertIn(name.partition('+')[0], ARCHS)
        self.assertIn(FTPD_ARCH, listed)
        self.assertIn('threadpool+accept', listed)
        self.assertIn('threadpool+queue', listed)
        self.assertIn('hybrid+reuseport', listed)

    def test_check_config_good(self):
        path = self.conf('port = 2121\nlisten = 127.0.0.1\narch = serial\nidle_timeout = 60\n'
                         'pasv_min_port = 50000\npasv_max_port = 50100\n')
        p = run_ftpd(['--config', path, '--check-config'])
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_check_config_repo_conf(self):
        path = os.path.join(REPO, 'conf', 'ftpd.conf')
        if not os.path.exists(path):
            self.skipTest('conf/ftpd.conf does not exist yet')
        p = run_ftpd(['--config', path, '--check-config'])
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_check_config_unknown_key(self):
        path = self.conf('# comment\nport = 2121\nno_such_key = 1\n')
        p = run_ftpd(['--config', path, '--check-config'])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('%s:3' % path, p.stderr)
        self.assertIn('no_such_key', p.stderr)

    def test_check_config_bad_value(self):
        for line, key in (('port = notanumber', 'port'), ('port = 70000', 'port'),
                          ('idle_timeout = -5', 'idle_timeout'), ('arch = nosuch', 'arch'),
                          ('anonymous = maybe', 'anonymous'), ('listen = 999.1.1.1', 'listen'),
                          ('log_level = loud', 'log_level')):
            with self.subTest(line=line):
                path = self.conf('\n' + line + '\n')
                p = run_ftpd(['--config', path, '--check-config'])
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn('%s:2' % path, p.stderr)
                self.assertIn(key, p.stderr)

    def test_check_config_cross_key(self):
        path = self.conf('pasv_min_port = 50100\npasv_max_port = 50000\n')
        p = run_ftpd(['--config', path, '--check-config'])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('pasv', p.stderr)

    def test_missing_config_file(self):
        p = run_ftpd(['--config', os.path.join(self.tmp, 'missing.conf'), '--check-config'])
        self.assertEqual(p.returncode, 1)
        self.assertIn('missing.conf', p.stderr)

    def test_bad_arch_flag(self):
        p = run_ftpd(['--arch', 'nosuch', '--check-config'])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('nosuch', p.stderr)

    def test_unknown_arch_in_file_names_file_and_line(self):
        # The parser leaves the name to the back-end registry, which main()
        # asks; the message still points at the file's line.
        path = self.conf('port = 2121\n\narch = nosuch\n')
        p = run_ftpd(['--config', path, '--arch', 'serial', '--check-config'])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("%s:3: key 'arch': unknown arch 'nosuch' (valid: serial," % path, p.stderr)

    def test_port_in_use_fails(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('127.0.0.1', 0))
        s.listen(1)
        self.addCleanup(s.close)
        port = s.getsockname()[1]
        p = run_ftpd(['--arch', FTPD_ARCH, '--listen', '127.0.0.1', '--port', str(port),
                      '--root', self.tmp])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('127.0.0.1', p.stderr)

    def test_missing_root_fails(self):
        p = run_ftpd(['--arch', FTPD_ARCH, '--listen', '127.0.0.1', '--port', '0',
                      '--root', os.path.join(self.tmp, 'no-such-dir')])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('no-such-dir', p.stderr)

    def test_flags_override_config(self):
        root = os.path.join(self.tmp, 'root')
        os.mkdir(root)
        with open(os.path.join(root, 'hello.txt'), 'w') as f:
            f.write('hi\n')
        path = write_config(os.path.join(self.tmp, 'o.conf'),
                            {'port': 1, 'listen': '127.0.0.9', 'root': '/nonexistent',
                             'banner': 'Hello from the config'})
        srv = Server(root, config_path=path)
        self.addCleanup(srv.kill)
        srv.wait_listening(10)
        c = RawClient('127.0.0.1', srv.port_of('127.0.0.1'))
        self.addCleanup(c.close)
        self.assertEqual(c.greeting.code, 220)
        self.assertIn('Hello from the config', c.greeting.text)
        c.login()
        self.assertEqual(c.cmd('SIZE hello.txt').code, 213)
        c.close()
        self.assertEqual(srv.stop(10), 0)

    def test_sigterm_graceful_exit(self):
        root = os.path.join(self.tmp, 'root')
        os.mkdir(root)
        path = write_config(os.path.join(self.tmp, 'g.conf'), {'shutdown_grace': 2})
        srv = Server(root, config_path=path)
        self.addCleanup(srv.kill)
        srv.wait_listening(10)
        c = RawClient('127.0.0.1', srv.port_of('127.0.0.1'))
        self.addCleanup(c.close)
        c.login()
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        # The idle session is told the server is going away (421) or closed.
        try:
            r = c.reply()
            self.assertEqual(r.code, 421, r)
        except (EOFError, ConnectionError):
            pass
        self.assertEqual(srv.proc.wait(10), 0)
        self.assertLess(time.monotonic() - t0, 8)
        # The listener is gone.
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(('127.0.0.1', srv.port_of('127.0.0.1')), timeout=5).close()

    def test_sigint_exit(self):
        root = os.path.join(self.tmp, 'root')
        os.mkdir(root)
        srv = Server(root)
        self.addCleanup(srv.kill)
        srv.wait_listening(10)
        srv.proc.send_signal(signal.SIGINT)
        self.assertEqual(srv.proc.wait(10), 0)


if __name__ == '__main__':
    unittest.main()
