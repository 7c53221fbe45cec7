"""A read-only server (the default), and the two ways to stay read-only for
anonymous with the write commands implemented (write_enable = no strips
every write letter even with anonymous_write = yes; write_enable = yes
without anonymous_write gives anonymous none): every command that would
change the tree is refused with 550 and the tree is left exactly as it
was. The upload world is in test_writes.py."""

import io
import unittest

from ftpd_harness import FtpdTestCase, tree_snapshot


class WritesDeniedTest(FtpdTestCase):

    def setUp(self):
        self.before = tree_snapshot(self.root)

    def tearDown(self):
        self.doCleanups()
        self.assertEqual(tree_snapshot(self.root), self.before, 'the served tree changed')

    def test_write_commands_550(self):
        c = self.raw_login()
        for line in ('STOR new.txt', 'STOR text.txt', 'STOU', 'STOU new.txt', 'APPE text.txt',
                     'APPE new.txt', 'DELE text.txt', 'DELE a/a.txt', 'MKD newdir', 'XMKD newdir',
                     'RMD a/emptydir', 'XRMD a/emptydir', 'RMD a', 'RNFR text.txt',
                     'SITE CHMOD 777 text.txt', 'SITE CHMOD 000 a'):
            with self.subTest(line=line):
                self.assertCode(c.cmd(line), 550)
        self.assertCode(c.cmd('NOOP'), 200)

    def test_rnto_refused(self):
        c = self.raw_login()
        self.assertCode(c.cmd('RNFR text.txt'), 550)
        # 550 (no write permission) or 503 (no accepted RNFR before it).
        self.assertCode(c.cmd('RNTO renamed.txt'), (550, 503))
        self.assertCode(c.cmd('RNTO renamed.txt'), (550, 503))

    def test_write_commands_with_data_channel_550(self):
        c = self.raw_login()
        for verb in ('STOR', 'APPE', 'STOU'):
            with self.subTest(verb=verb):
                c.pasv()
                self.assertCode(c.cmd(verb + ' upload.bin'), 550)
        self.assertCode(c.cmd('NOOP'), 200)

    def test_ftplib_storbinary_550(self):
        f = self.ftp()
        with self.assertRaises(Exception) as cm:
            f.storbinary('STOR upload.bin', io.BytesIO(b'payload' * 1000))
        self.assertTrue(str(cm.exception).startswith('550'), cm.exception)
        f.voidcmd('NOOP')

    def test_ftplib_helpers_550(self):
        f = self.ftp()
        for call, args in ((f.delete, ('text.txt',)), (f.mkd, ('x',)), (f.rmd, ('a/emptydir',)),
                           (f.rename, ('text.txt', 'y.txt'))):
            with self.subTest(call=call.__name__):
                with self.assertRaises(Exception) as cm:
                    call(*args)
                self.assertTrue(str(cm.exception).startswith('550'), cm.exception)

    def test_mlsd_perm_has_no_write_facts(self):
        f = self.ftp()
        for name, facts in f.mlsd('/'):
            perm = facts.get('perm', '')
            for w in 'acdfmpw':
                self.assertNotIn(w, perm, '%s perm=%s' % (name, perm))

    def test_write_commands_before_login_530(self):
        c = self.raw()
        for line in ('STOR x', 'DELE text.txt', 'MKD x', 'RMD a', 'RNFR text.txt', 'SITE CHMOD 777 a'):
            with self.subTest(line=line):
                self.assertCode(c.cmd(line), 530)


class WriteEnableOffWinsTest(WritesDeniedTest):
    config = {'write_enable': 'no', 'anonymous_write': 'yes'}


class AnonymousWriteOffTest(WritesDeniedTest):
    config = {'write_enable': 'yes', 'anonymous_write': 'no'}


if __name__ == '__main__':
    unittest.main()
