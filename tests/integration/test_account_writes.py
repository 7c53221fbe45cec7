"""Uploads by named users: each permission letter allows exactly its
commands, and an upload over an existing file that is cut by a reset
leaves the previous version intact."""

import io
import os
import socket
import struct
import time
import unittest

from ftpd_harness import TIMEOUT, FtpdTestCase, data_connect
from test_accounts import PASSWORD, hash_password
from test_writes import temp_files

# user -> letters; every user has r so that the tree can be listed.
USERS = {
    'writer': 'rwmdfc',
    'uploader': 'rw',
    'mkdirer': 'rm',
    'deleter': 'rd',
    'renamer': 'rf',
    'chmoder': 'rc',
}


class AccountWritesTest(FtpdTestCase):
    config = {'write_enable': 'yes', 'login_fail_delay': '0'}

    @classmethod
    def extra_fixture(cls, root):
        base = os.path.dirname(root)
        cls.homes = {}
        digest = hash_password(PASSWORD)
        lines = []
        for name, letters in USERS.items():
            home = os.path.join(base, 'home-' + name)
            os.makedirs(os.path.join(home, 'olddir'))
            with open(os.path.join(home, 'old.txt'), 'wb') as f:
                f.write(b'the previous version\n')
            cls.homes[name] = home
            lines.append('%s:%s:%s:%s' % (name, digest, home, letters))
        path = os.path.join(base, 'users')
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        cls.config = dict(cls.config, users_file=path)

    def login(self, name):
        c = self.raw()
        c.login(name, PASSWORD)
        return c

    def stor(self, c, name, data=b'new bytes\n'):
        """STOR over a passive connection; returns the final reply (or the
        refusal)."""
        host, port = c.pasv()
        r = c.cmd('STOR ' + name)
        if r.code != 150:
            return r
        s = data_connect(host, port)
        s.sendall(data)
        s.close()
        return c.reply()

    def test_each_letter_allows_exactly_its_commands(self):
        for name, letters in USERS.items():
            with self.subTest(user=name):
                home = self.homes[name]
                c = self.login(name)
                want = lambda letter, ok: ok if letter in letters else 550  # noqa: E731
                self.assertCode(self.stor(c, 'new.txt'), want('w', 226))
                # Overwriting needs d as well as w.
                self.assertCode(self.stor(c, 'old.txt', b'replaced\n'),
                                226 if {'w', 'd'} <= set(letters) else 550)
                self.assertCode(c.cmd('MKD made'), want('m', 257))
                self.assertCode(c.cmd('SITE CHMOD 600 olddir'), want('c', 200))
                self.assertCode(c.cmd('MFMT 20200102030405 olddir'), want('c', 213))
                r = c.cmd('RNFR olddir')
                self.assertCode(r, want('f', 350))
                if r.code == 350:
                    self.assertCode(c.cmd('RNTO renamed'), 250)
                self.assertCode(c.cmd('DELE old.txt'), want('d', 250))
                c.cmd('QUIT')
                c.close()
                # What the refusals left untouched is as it was.
                if 'w' not in letters:
                    self.assertFalse(os.path.exists(os.path.join(home, 'new.txt')))
                if 'd' not in letters:
                    with open(os.path.join(home, 'old.txt'), 'rb') as f:
                        self.assertEqual(f.read(), b'the previous version\n')
                if 'm' not in letters:
                    self.assertFalse(os.path.exists(os.path.join(home, 'made')))
                if 'f' not in letters:
                    self.assertTrue(os.path.isdir(os.path.join(home, 'olddir')))

    def test_cut_upload_over_existing_file_keeps_the_old_one(self):
        home = self.homes['writer']
        target = os.path.join(home, 'keep.bin')
        with open(target, 'wb') as f:
            f.write(b'old content that must survive\n')
        c = self.login('writer')
        self.assertCode(c.cmd('TYPE I'), 200)
        host, port = c.pasv()
        self.assertCode(c.cmd('STOR keep.bin'), 150)
        s = data_connect(host, port)
        half = 512 * 1024
        s.sendall(os.urandom(half))
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            t = temp_files(home)
            if t and os.path.getsize(os.path.join(home, t[0])) == half:
                break
            time.sleep(0.02)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        s.close()
        self.assertCode(c.reply(), 426)
        c.close()
        with open(target, 'rb') as f:
            self.assertEqual(f.read(), b'old content that must survive\n')
        self.assertEqual(temp_files(home), [])
        # A clean upload then replaces it.
        c = self.login('writer')
        self.assertCode(self.stor(c, 'keep.bin', b'replaced cleanly\n'), 226)
        c.close()
        with open(target, 'rb') as f:
            self.assertEqual(f.read(), b'replaced cleanly\n')


class AccountWritesDisabledTest(FtpdTestCase):
    """write_enable = no takes every write letter away, whatever the file
    grants."""
    config = {'write_enable': 'no', 'login_fail_delay': '0'}

    @classmethod
    def extra_fixture(cls, root):
        base = os.path.dirname(root)
        cls.home = os.path.join(base, 'home-all')
        os.makedirs(cls.home)
        path = os.path.join(base, 'users')
        with open(path, 'w') as f:
            f.write('all:%s:%s:rwmdfc\n' % (hash_password(PASSWORD), cls.home))
        cls.config = dict(cls.config, users_file=path)

    def test_everything_but_read_refused(self):
        c = self.raw()
        c.login('all', PASSWORD)
        host, port = c.pasv()
        self.assertCode(c.cmd('STOR x'), 550)
        for line in ('MKD d', 'DELE x', 'RNFR x', 'SITE CHMOD 600 x', 'APPE x'):
            self.assertCode(c.cmd(line), 550)
        self.assertCode(c.cmd('MLST /'), 250)  # r stays
        self.assertEqual(os.listdir(self.home), [])


if __name__ == '__main__':
    unittest.main()
