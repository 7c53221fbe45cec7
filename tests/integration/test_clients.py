"""Real clients against the server: curl, lftp and the stock ftp (tnftp).
Each is skipped when it is not installed."""

import os
import shutil
import subprocess
import tempfile
import unittest

from ftpd_harness import FtpdTestCase, lf_to_crlf, sha256_bytes, sha256_of

CLIENT_TIMEOUT = 60

CURL = shutil.which('curl')
LFTP = shutil.which('lftp')
FTP = shutil.which('tnftp') or shutil.which('ftp')


def tree_digest(top):
    """relative path -> sha256 for every file, plus the set of directories."""
    files, dirs = {}, set()
    for dirpath, dirnames, filenames in os.walk(top):
        rel = os.path.relpath(dirpath, top)
        for d in dirnames:
            dirs.add(os.path.normpath(os.path.join(rel, d)))
        for f in filenames:
            p = os.path.join(dirpath, f)
            files[os.path.normpath(os.path.join(rel, f))] = sha256_of(p)
    return files, dirs


class ClientTestCase(FtpdTestCase):

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix='ftpd-client-')
        self.addCleanup(shutil.rmtree, self.work, True)
        # No user configuration (~/.netrc, ~/.lftprc) may leak in.
        self.env = dict(os.environ, HOME=self.work, LC_ALL='C.UTF-8')
        self.env.pop('ftp_proxy', None)
        self.env.pop('FTP_PROXY', None)
        self.env.pop('all_proxy', None)
        self.env.pop('ALL_PROXY', None)

    def run_client(self, args, input_text=None, binary=False):
        """Run a client; stdout is bytes when binary (no newline translation)."""
        try:
            p = subprocess.run(args, input=input_text, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=CLIENT_TIMEOUT, env=self.env,
                               cwd=self.work,
                               stdin=None if input_text is not None else subprocess.DEVNULL)
            p.stderr = p.stderr.decode('utf-8', 'replace')
            if not binary:
                p.stdout = p.stdout.decode('utf-8', 'replace')
        except subprocess.TimeoutExpired as e:
            self.fail('%s timed out after %d s\nstdout: %s\nstderr: %s\n--- ftpd ---\n%s'
                      % (args[0], CLIENT_TIMEOUT, e.stdout, e.stderr,
                         '\n'.join(self.server.lines[-40:])))
        return p

    def check(self, p):
        if p.returncode != 0:
            self.fail('%s exited %d\nstdout: %s\nstderr: %s\n--- ftpd ---\n%s'
                      % (p.args[0], p.returncode, p.stdout[-3000:], p.stderr[-3000:],
                         '\n'.join(self.server.lines[-40:])))
        return p

    def url(self, path=''):
        return 'ftp://127.0.0.1:%d/%s' % (self.port, path)

    def assertFileEqual(self, local, rel):
        self.assertTrue(os.path.exists(local), local)
        self.assertEqual(sha256_of(local), sha256_bytes(self.files[rel]), rel)


@unittest.skipUnless(CURL, 'curl is not installed')
class CurlTest(ClientTestCase):

    def curl(self, *args, binary=False):
        return self.check(self.run_client([CURL, '-sS', '--fail', '--connect-timeout', '10',
                                           '--max-time', '40'] + list(args), binary=binary))

    def test_epsv_download(self):
        dest = os.path.join(self.work, 'big.bin')
        self.curl('-o', dest, self.url('big.bin'))
        self.assertFileEqual(dest, 'big.bin')

    def test_pasv_download(self):
        dest = os.path.join(self.work, 'big.bin')
        self.curl('--disable-epsv', '-o', dest, self.url('big.bin'))
        self.assertFileEqual(dest, 'big.bin')

    def test_active_eprt_download(self):
        dest = os.path.join(self.work, 'medium.bin')
        self.curl('--ftp-port', '127.0.0.1', '-o', dest, self.url('medium.bin'))
        self.assertFileEqual(dest, 'medium.bin')

    def test_active_port_download(self):
        dest = os.path.join(self.work, 'medium.bin')
        self.curl('--ftp-port', '127.0.0.1', '--disable-eprt', '-o', dest, self.url('medium.bin'))
        self.assertFileEqual(dest, 'medium.bin')

    def test_resume(self):
        dest = os.path.join(self.work, 'big.bin')
        with open(dest, 'wb') as f:
            f.write(self.files['big.bin'][:1234567])
        self.curl('-C', '-', '-o', dest, self.url('big.bin'))
        self.assertFileEqual(dest, 'big.bin')

    def test_nested_and_encoded_names(self):
        for rel, url_path in (('a/b/c/c.bin', 'a/b/c/c.bin'),
                              ('name with spaces.txt', 'name%20with%20spaces.txt'),
                              ('caf\u00e9.txt', 'caf%C3%A9.txt'),
                              ('\u00fcber/datei.txt', '%C3%BCber/datei.txt')):
            with self.subTest(rel=rel):
                dest = os.path.join(self.work, 'out')
                self.curl('-o', dest, self.url(url_path))
                self.assertFileEqual(dest, rel)

    def test_ascii_download(self):
        # The wire carries CRLF (test_retr checks that); curl turns CRLF back
        # into LF on Unix for ASCII downloads, so the text arrives intact.
        p = self.curl(self.url('mixed.txt;type=a'), binary=True)
        self.assertEqual(p.stdout, lf_to_crlf(self.files['mixed.txt']).replace(b'\r\n', b'\n'))

    def test_directory_listing(self):
        p = self.curl(self.url('a/'))
        names = {ln.split()[-1] for ln in p.stdout.splitlines() if ln.strip()}
        self.assertEqual(names, {'a.txt', 'a.bin', 'b', 'emptydir'})

    def test_list_only(self):
        p = self.curl('--list-only', self.url('a/b/'))
        self.assertEqual(set(p.stdout.split()), {'b.txt', 'b.bin', 'c'})

    def test_missing_file_fails(self):
        p = self.run_client([CURL, '-sS', '--max-time', '20', '-o', os.devnull,
                             self.url('no-such-file')])
        self.assertEqual(p.returncode, 78, p.stderr)  # CURLE_REMOTE_FILE_NOT_FOUND


@unittest.skipUnless(LFTP, 'lftp is not installed')
class LftpTest(ClientTestCase):

    def lftp(self, commands, passive=True):
        script = ('set ftp:passive-mode %s; set net:max-retries 1; set net:timeout 10; '
                  'set net:reconnect-interval-base 1; set net:connection-limit 1; '
                  'set cmd:fail-exit yes; set xfer:clobber on; '
                  'open -u anonymous,x ftp://127.0.0.1:%d; %s'
                  % ('on' if passive else 'off', self.port, commands))
        return self.check(self.run_client([LFTP, '-c', script]))

    def test_mirror_nested_tree(self):
        dest = os.path.join(self.work, 'mirror')
        self.lftp('mirror /a %s' % dest)
        got_files, got_dirs = tree_digest(dest)
        want_files, want_dirs = tree_digest(os.path.join(self.root, 'a'))
        self.assertEqual(got_dirs, want_dirs)
        self.assertEqual(got_files, want_files)

    def test_mirror_active(self):
        dest = os.path.join(self.work, 'mirror')
        self.lftp('mirror /a/b %s' % dest, passive=False)
        self.assertEqual(tree_digest(dest), tree_digest(os.path.join(self.root, 'a', 'b')))

    def test_mirror_utf8_and_spaces(self):
        for remote in ('\u00fcber', 'dir with spaces'):
            with self.subTest(remote=remote):
                dest = os.path.join(self.work, 'm-' + remote.replace(' ', '_'))
                self.lftp('mirror "/%s" "%s"' % (remote, dest))
                self.assertEqual(tree_digest(dest), tree_digest(os.path.join(self.root, remote)))

    def test_ls(self):
        p = self.lftp('ls')
        self.assertIn('text.txt', p.stdout)
        self.assertIn('big.bin', p.stdout)
        self.assertIn('caf\u00e9.txt', p.stdout)

    def test_get(self):
        dest = os.path.join(self.work, 'big.bin')
        self.lftp('get /big.bin -o %s' % dest)
        self.assertFileEqual(dest, 'big.bin')

    def test_get_active(self):
        dest = os.path.join(self.work, 'big.bin')
        self.lftp('get /big.bin -o %s' % dest, passive=False)
        self.assertFileEqual(dest, 'big.bin')

    def test_get_resume(self):
        dest = os.path.join(self.work, 'big.bin')
        with open(dest, 'wb') as f:
            f.write(self.files['big.bin'][:2000000])
        self.lftp('get -c /big.bin -o %s' % dest)
        self.assertFileEqual(dest, 'big.bin')


@unittest.skipUnless(FTP, 'the stock ftp client (tnftp) is not installed')
class StockFtpTest(ClientTestCase):

    def ftp_script(self, mode_flag, commands):
        script = 'open 127.0.0.1 %d\nuser anonymous x\nbinary\n%s\nquit\n' % (self.port, commands)
        return self.check(self.run_client([FTP, '-n', mode_flag], input_text=script.encode()))

    def test_passive_get(self):
        dest = os.path.join(self.work, 'big.bin')
        self.ftp_script('-p', 'get big.bin %s' % dest)
        self.assertFileEqual(dest, 'big.bin')

    def test_active_get(self):
        dest = os.path.join(self.work, 'medium.bin')
        self.ftp_script('-A', 'get medium.bin %s' % dest)
        self.assertFileEqual(dest, 'medium.bin')

    def test_nested_get(self):
        dest = os.path.join(self.work, 'c.bin')
        self.ftp_script('-p', 'cd a/b/c\nget c.bin %s' % dest)
        self.assertFileEqual(dest, 'a/b/c/c.bin')

    def test_ls(self):
        p = self.ftp_script('-p', 'ls a')
        self.assertIn('a.txt', p.stdout)
        self.assertIn('emptydir', p.stdout)


if __name__ == '__main__':
    unittest.main()
