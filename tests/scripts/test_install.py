"""cmake --install (issue 13): ftpd in sbin, the man pages, the systemd units
and an example config, under the prefix given; the units name the installed
binary and config, and pass `systemd-analyze verify`; the man pages pass
`mandoc -T lint`; the installed config passes `ftpd --check-config`.

The build directory is FTPD_BIN's. systemd-analyze and mandoc are used when
installed (scripts/lib.sh installs mandoc).
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

FTPD_BIN = os.environ.get('FTPD_BIN', '')
BUILD = os.path.dirname(os.path.abspath(FTPD_BIN)) if FTPD_BIN else ''
CMAKE = shutil.which('cmake')
TIMEOUT = 60


def run(args, **kw):
    return subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT, **kw)


@unittest.skipUnless(FTPD_BIN and CMAKE, 'needs FTPD_BIN and cmake')
class InstallTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.prefix = tempfile.mkdtemp(prefix='ftpd-install-')
        cls.addClassCleanup(shutil.rmtree, cls.prefix, True)
        p = run([CMAKE, '--install', BUILD, '--prefix', cls.prefix])
        if p.returncode != 0:
            raise AssertionError('cmake --install failed:\n' + p.stdout)
        cls.output = p.stdout

    def path(self, rel):
        return os.path.join(self.prefix, rel)

    def test_layout(self):
        for rel in ('sbin/ftpd', 'share/man/man8/ftpd.8', 'share/man/man5/ftpd.conf.5',
                    'lib/systemd/system/ftpd.service', 'lib/systemd/system/ftpd.socket',
                    'etc/ftpd/ftpd.conf'):
            self.assertTrue(os.path.isfile(self.path(rel)), rel + ' not installed\n' + self.output)
        self.assertTrue(os.access(self.path('sbin/ftpd'), os.X_OK))
        p = run([self.path('sbin/ftpd'), '--version'])
        self.assertEqual(p.returncode, 0, p.stdout)

    def test_units_name_the_installed_files(self):
        with open(self.path('lib/systemd/system/ftpd.service')) as f:
            service = f.read()
        m = re.search(r'^ExecStart=(\S+) --config (\S+)$', service, re.M)
        self.assertIsNotNone(m, service)
        self.assertEqual(m.group(1), self.path('sbin/ftpd'))
        self.assertEqual(m.group(2), self.path('etc/ftpd/ftpd.conf'))
        self.assertIn('Type=notify-reload', service)

    def test_installed_config_checks(self):
        """The example config is valid as installed (its served root, /srv/ftp,
        is replaced: it need not exist here)."""
        with open(self.path('etc/ftpd/ftpd.conf')) as f:
            conf = f.read()
        for line in ('listen = 0.0.0.0, ::', 'port = 21', 'root = /srv/ftp',
                     'xferlog_file = /var/log/ftpd/xferlog'):
            self.assertRegex(conf, '(?m)^' + re.escape(line) + '$')
        args = [self.path('sbin/ftpd'), '--config', self.path('etc/ftpd/ftpd.conf'),
                '--root', self.prefix, '--check-config']
        if os.geteuid() == 0 and run(['getent', 'passwd', 'ftp']).returncode != 0:
            args[1:1] = ['--user', 'root']  # no ftp user on this machine
        p = run(args)
        self.assertEqual(p.returncode, 0, p.stdout)

    def test_reinstall_keeps_the_config(self):
        conf = self.path('etc/ftpd/ftpd.conf')
        with open(conf, 'a') as f:
            f.write('# edited by the administrator\n')
        p = run([CMAKE, '--install', BUILD, '--prefix', self.prefix])
        self.assertEqual(p.returncode, 0, p.stdout)
        with open(conf) as f:
            self.assertIn('# edited by the administrator', f.read())

    @unittest.skipUnless(shutil.which('systemd-analyze'), 'systemd-analyze not installed')
    def test_systemd_analyze_verify(self):
        units = [self.path('lib/systemd/system/ftpd.socket'),
                 self.path('lib/systemd/system/ftpd.service')]
        p = run(['systemd-analyze', 'verify', '--man=no'] + units)
        version = run(['systemd-analyze', '--version']).stdout
        m = re.search(r'systemd (\d+)', version)
        lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
        if m and int(m.group(1)) < 253:
            # Type=notify-reload came with systemd 253; older ones say so
            # and fall back (the README shows the drop-in for them).
            lines = [ln for ln in lines if 'notify-reload' not in ln]
        self.assertEqual(lines, [], p.stdout)

    @unittest.skipUnless(shutil.which('mandoc'), 'mandoc not installed')
    def test_man_pages_lint_clean(self):
        pages = [self.path('share/man/man8/ftpd.8'), self.path('share/man/man5/ftpd.conf.5')]
        p = run(['mandoc', '-T', 'lint', '-W', 'warning'] + pages)
        self.assertEqual((p.returncode, p.stdout), (0, ''))


if __name__ == '__main__':
    unittest.main()
