"""Uploads and the write commands with anonymous_write = yes (upload-only:
w and m), against every back-end: curl, lftp, ftplib and the stock ftp
client upload; concurrent and large uploads arrive byte for byte; an upload
cut by a reset keeps its prefix and resumes with REST+STOR or APPE; a full
disk gives 452; anonymous can never delete, rename or overwrite; and no
hostile path touches a file outside the root."""

import ftplib
import hashlib
import io
import os
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from ftpd_harness import (ESCAPING_LINKS, FTPD_ARCH, TIMEOUT, FtpdTestCase, data_connect,
                          sha256_bytes, sha256_of, tree_snapshot)
from test_clients import CURL, FTP, LFTP, ClientTestCase, tree_digest

WRITE_CONFIG = {'write_enable': 'yes', 'anonymous_write': 'yes'}


def outside_sentinel(root):
    return os.path.join(os.path.dirname(root), 'outside-sentinel.txt')


def temp_files(top):
    return [n for n in os.listdir(top) if n.startswith('.ftpd-upload.')]


class AnonymousUploadTest(FtpdTestCase):
    config = WRITE_CONFIG

    @classmethod
    def extra_fixture(cls, root):
        with open(outside_sentinel(root), 'wb') as f:
            f.write(b'outside the root\n')
        os.makedirs(os.path.join(root, 'up'))

    def setUp(self):
        self.sentinel = sha256_of(outside_sentinel(self.root))
        self.passwd = sha256_of('/etc/passwd')

    def tearDown(self):
        self.doCleanups()
        self.assertEqual(sha256_of(outside_sentinel(self.root)), self.sentinel)
        self.assertEqual(sha256_of('/etc/passwd'), self.passwd)
        self.assertEqual(temp_files(self.root), [])
        self.assertEqual(temp_files(self.path('up')), [])

    def test_storbinary_new_name(self):
        data = os.urandom(300 * 1024 + 3)
        f = self.ftp()
        self.assertTrue(f.storbinary('STOR up/bin.dat', io.BytesIO(data)).startswith('226'))
        with open(self.path('up/bin.dat'), 'rb') as fh:
            self.assertEqual(fh.read(), data)
        self.assertEqual(os.stat(self.path('up/bin.dat')).st_mode & 0o7777, 0o644)

    def test_storlines_crlf_to_lf(self):
        f = self.ftp()
        text = b''.join(b'line %d\r\n' % i for i in range(20000)) + b'bare\rcr\r\n'
        self.assertTrue(f.storlines('STOR up/lines.txt', io.BytesIO(text)).startswith('226'))
        with open(self.path('up/lines.txt'), 'rb') as fh:
            self.assertEqual(fh.read(), text.replace(b'\r\n', b'\n'))

    def test_overwrite_delete_rename_refused(self):
        f = self.ftp()
        before = tree_snapshot(self.root)
        for call in (lambda: f.storbinary('STOR text.txt', io.BytesIO(b'x')),
                     lambda: f.storbinary('STOR escape_abs', io.BytesIO(b'x')),
                     lambda: f.delete('text.txt'), lambda: f.rmd('a/emptydir'),
                     lambda: f.rename('text.txt', 'up/t.txt'),
                     lambda: f.sendcmd('SITE CHMOD 777 text.txt'),
                     lambda: f.sendcmd('MFMT 20200102030405 text.txt')):
            with self.assertRaises(ftplib.error_perm) as cm:
                call()
            self.assertTrue(str(cm.exception).startswith('550'), cm.exception)
        self.assertEqual(tree_snapshot(self.root), before)

    def test_mkd_and_stou(self):
        f = self.ftp()
        self.assertEqual(f.mkd('up/new "dir"'), '/up/new "dir"')
        self.assertTrue(os.path.isdir(self.path('up/new "dir"')))
        f.close()
        c = self.raw_login()
        self.assertCode(c.cmd('CWD /up'), 250)
        host, port = c.pasv()
        r = c.cmd('STOU')
        self.assertCode(r, 150)
        self.assertTrue(r.text.startswith('150 FILE: '), r.text)
        name = r.text[len('150 FILE: '):].strip()
        s = data_connect(host, port)
        s.sendall(b'unique')
        s.close()
        self.assertCode(c.reply(), 226)
        with open(self.path('up/' + name), 'rb') as fh:
            self.assertEqual(fh.read(), b'unique')

    def test_appe_creates_and_appends(self):
        f = self.ftp()
        f.storbinary('APPE up/log.txt', io.BytesIO(b'one\n'))
        f.storbinary('APPE up/log.txt', io.BytesIO(b'two\n'))
        with open(self.path('up/log.txt'), 'rb') as fh:
            self.assertEqual(fh.read(), b'one\ntwo\n')

    def test_cut_upload_keeps_prefix_then_resumes(self):
        data = os.urandom(3 * 1024 * 1024)
        half = 1024 * 1024 + 17
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        host, port = c.pasv()
        self.assertCode(c.cmd('STOR up/cut.bin'), 150)
        s = data_connect(host, port)
        s.sendall(data[:half])
        # Wait until the server has written what was sent, then reset.
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            t = temp_files(self.path('up'))
            if t and os.path.getsize(self.path('up/' + t[0])) == half:
                break
            time.sleep(0.02)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        s.close()
        self.assertCode(c.reply(), 426)
        c.close()  # the serial back-end serves one session at a time
        # A new name keeps what arrived (upload_partial = keep) ...
        with open(self.path('up/cut.bin'), 'rb') as fh:
            self.assertEqual(fh.read(), data[:half])
        # ... and REST + STOR at its size completes it.
        f = self.ftp()
        self.assertEqual(f.size('up/cut.bin'), half)
        f.storbinary('STOR up/cut.bin', io.BytesIO(data[half:]), rest=half)
        self.assertEqual(sha256_of(self.path('up/cut.bin')), sha256_bytes(data))

    def test_rest_below_end_refused(self):
        f = self.ftp()
        f.storbinary('STOR up/r.bin', io.BytesIO(b'0123456789'))
        with self.assertRaises(ftplib.error_perm) as cm:
            f.storbinary('STOR up/r.bin', io.BytesIO(b'x'), rest=5)
        self.assertTrue(str(cm.exception).startswith('550'), cm.exception)
        with open(self.path('up/r.bin'), 'rb') as fh:
            self.assertEqual(fh.read(), b'0123456789')

    def test_big_upload_sha256(self):
        size = 100 * 1024 * 1024
        h = hashlib.sha256()
        block = os.urandom(1 << 20)

        class Gen(io.RawIOBase):
            def __init__(self):
                self.left = size

            def readable(self):
                return True

            def readinto(self, b):
                n = min(len(b), self.left, len(block))
                b[:n] = block[:n]
                h.update(block[:n])
                self.left -= n
                return n

        f = self.ftp()
        f.storbinary('STOR up/big100.bin', Gen(), blocksize=1 << 20)
        self.assertEqual(os.path.getsize(self.path('up/big100.bin')), size)
        self.assertEqual(sha256_of(self.path('up/big100.bin')), h.hexdigest())
        os.unlink(self.path('up/big100.bin'))

    @unittest.skipIf(FTPD_ARCH == 'serial',
                     'serial serves one session at a time: the others get 421 (test_saying_no)')
    def test_concurrent_uploads(self):
        datas = [os.urandom(100 * 1024 + i) for i in range(20)]
        errors = []

        def one(i):
            try:
                f = ftplib.FTP(timeout=60)
                f.connect(self.host, self.port)
                f.login('anonymous', 'x@')
                f.storbinary('STOR up/c%02d.bin' % i, io.BytesIO(datas[i]))
                f.quit()
            except Exception as e:  # reported below
                errors.append('%d: %r' % (i, e))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        for i, d in enumerate(datas):
            with open(self.path('up/c%02d.bin' % i), 'rb') as fh:
                self.assertEqual(fh.read(), d, i)

    def test_hostile_paths(self):
        c = self.raw_login()
        before = tree_snapshot(self.root)
        for target in ('../outside-sentinel.txt', '/../outside-sentinel.txt',
                       '../../outside-sentinel.txt', 'escape_dir/passwd', 'escape_dir/new',
                       'escape_abs', 'escape_rel', 'a/../../outside-sentinel.txt',
                       'link_dir/../../outside-sentinel.txt'):
            for verb in ('STOR', 'APPE', 'STOU'):
                with self.subTest(verb=verb, target=target):
                    host, port = c.pasv()
                    r = c.cmd('%s %s' % (verb, target))
                    if r.code == 150:  # a new name inside the root: fine
                        s = data_connect(host, port)
                        s.sendall(b'PWNED\n')
                        s.close()
                        self.assertCode(c.reply(), 226)
            for line in ('MKD ' + target, 'DELE ' + target, 'RNFR ' + target):
                c.cmd(line)
        # Whatever was created is inside the root, never through a link.
        after = tree_snapshot(self.root)
        for rel in ESCAPING_LINKS:
            self.assertEqual(after[rel], before[rel])
        for rel in set(after) - set(before):
            self.assertFalse(os.path.islink(self.path(rel)), rel)

    def test_swapped_symlink_after_cwd(self):
        os.makedirs(self.path('up/swap'))
        c = self.raw_login()
        self.assertCode(c.cmd('CWD /up/swap'), 250)
        os.rename(self.path('up/swap'), self.path('up/swap.old'))
        os.symlink(os.path.dirname(self.root), self.path('up/swap'))
        try:
            c.pasv()
            self.assertCode(c.cmd('STOR outside-sentinel.txt'), (550, 553))
            c.pasv()
            self.assertCode(c.cmd('APPE outside-sentinel.txt'), (550, 553))
            self.assertCode(c.cmd('MKD evil'), 550)
        finally:
            os.unlink(self.path('up/swap'))
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(self.root), 'evil')))

    def test_mlsd_perm_upload_only(self):
        f = self.ftp()
        facts = dict(f.mlsd('/'))
        self.assertEqual(facts['text.txt']['perm'], 'ra')
        self.assertEqual(facts['a']['perm'], 'elcm')
        self.assertIn(' MFMT', f.sendcmd('FEAT'))


@unittest.skipUnless(os.geteuid() == 0, 'mounting a small tmpfs needs root')
class DiskFullTest(FtpdTestCase):
    """A 1 MiB tmpfs inside the root: an upload that does not fit gets 452,
    and the partial file handling still holds."""
    config = WRITE_CONFIG
    mounted = False

    @classmethod
    def extra_fixture(cls, root):
        small = os.path.join(root, 'small')
        os.makedirs(small)
        p = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small],
                           capture_output=True, timeout=TIMEOUT)
        cls.mounted = p.returncode == 0
        if cls.mounted:
            cls.addClassCleanup(subprocess.run, ['umount', '-l', small], timeout=TIMEOUT)

    def setUp(self):
        if not self.mounted:
            self.skipTest('mount -t tmpfs is not permitted here')

    def test_disk_full_452(self):
        c = self.raw_login()
        host, port = c.pasv()
        self.assertCode(c.cmd('STOR small/full.bin'), 150)
        s = data_connect(host, port)
        try:
            s.sendall(os.urandom(3 << 20))
        except OSError:
            pass  # the server stopped reading when the disk was full
        s.close()
        self.assertCode(c.reply(), 452)
        c.close()
        # A new name keeps what fitted; no temp file is left behind.
        self.assertEqual(temp_files(self.path('small')), [])
        size = os.path.getsize(self.path('small/full.bin'))
        self.assertGreater(size, 0)
        self.assertLessEqual(size, 1 << 20)
        os.unlink(self.path('small/full.bin'))
        # With the space back, the session and the server go on.
        f = self.ftp()
        f.storbinary('STOR small/fits.bin', io.BytesIO(b'fits'))
        f.close()
        self.assertFreshSessionWorks()


class FileSizeLimitTest(FtpdTestCase):
    """An upload past the server's RLIMIT_FSIZE fails with 552 (EFBIG);
    SIGXFSZ is ignored, so the server lives on."""
    config = WRITE_CONFIG
    fsize = 1 << 20

    def test_past_rlimit_fsize_552(self):
        c = self.raw_login()
        host, port = c.pasv()
        self.assertCode(c.cmd('STOR big-past-limit.bin'), 150)
        s = data_connect(host, port)
        try:
            s.sendall(os.urandom(3 << 20))
        except OSError:
            pass  # the server stopped reading at the limit
        s.close()
        self.assertCode(c.reply(), 552)
        c.close()
        self.assertTrue(self.server.alive())
        self.assertEqual(temp_files(self.root), [])
        self.assertFreshSessionWorks()


class WriteClientsTest(ClientTestCase):
    config = WRITE_CONFIG

    def make_local_tree(self):
        top = os.path.join(self.work, 'src')
        for rel, size in (('one.bin', 70000), ('d1/two.bin', 1), ('d1/d2/three.bin', 300000),
                          ('d1/d2/empty', 0), ('d1/sp ace.txt', 12)):
            p = os.path.join(top, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, 'wb') as f:
                f.write(os.urandom(size))
        os.makedirs(os.path.join(top, 'd1', 'emptydir'))
        return top

    @unittest.skipUnless(CURL, 'curl is not installed')
    def test_curl_upload_create_dirs(self):
        src = os.path.join(self.work, 'c.bin')
        with open(src, 'wb') as f:
            f.write(os.urandom(500000))
        self.check(self.run_client([CURL, '-sS', '--ftp-create-dirs', '-T', src,
                                    self.url('curl/x/y/c.bin')]))
        self.assertEqual(sha256_of(self.path('curl/x/y/c.bin')), sha256_of(src))
        self.check(self.run_client([CURL, '-sS', '--ftp-pasv', '-T', src, self.url('curl/')]))
        self.assertEqual(sha256_of(self.path('curl/c.bin')), sha256_of(src))

    @unittest.skipUnless(LFTP, 'lftp is not installed')
    def test_lftp_put_and_mirror_reverse(self):
        top = self.make_local_tree()
        script = ('set net:max-retries 1; set net:timeout 10; set cmd:fail-exit yes; '
                  'open -u anonymous,x ftp://127.0.0.1:%d; put %s -o /lftp-put.bin; '
                  'mirror -R --no-perms %s /lftp-mirror'
                  % (self.port, os.path.join(top, 'one.bin'), top))
        self.check(self.run_client([LFTP, '-c', script]))
        self.assertEqual(sha256_of(self.path('lftp-put.bin')),
                         sha256_of(os.path.join(top, 'one.bin')))
        self.assertEqual(tree_digest(self.path('lftp-mirror')), tree_digest(top))

    @unittest.skipUnless(FTP, 'the stock ftp client is not installed')
    def test_stock_ftp_put(self):
        src = os.path.join(self.work, 'p.bin')
        with open(src, 'wb') as f:
            f.write(os.urandom(200000))
        script = ('open 127.0.0.1 %d\nuser anonymous x\nbinary\nput %s ftp-put.bin\nquit\n'
                  % (self.port, src))
        self.check(self.run_client([FTP, '-n', '-p'], input_text=script.encode()))
        self.assertEqual(sha256_of(self.path('ftp-put.bin')), sha256_of(src))


if __name__ == '__main__':
    unittest.main()
