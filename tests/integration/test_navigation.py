"""Working directory: PWD CWD CDUP and the X* aliases (RFC 959, RFC 775)."""

import unittest

from ftpd_harness import FtpdTestCase


def pwd_path(reply):
    """The path in a 257 reply, with "" unquoted (RFC 959 appendix II)."""
    text = reply.lines[0][4:]
    assert text.startswith('"'), reply
    out = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            if text[i + 1:i + 2] == '"':
                out.append('"')
                i += 2
                continue
            return ''.join(out)
        out.append(ch)
        i += 1
    raise AssertionError('unterminated path in %r' % reply)


class NavigationTest(FtpdTestCase):

    def pwd(self, c):
        r = c.cmd('PWD')
        self.assertCode(r, 257)
        return pwd_path(r)

    def test_pwd_at_login_is_root(self):
        c = self.raw_login()
        r = c.cmd('PWD')
        self.assertCode(r, 257)
        self.assertTrue(r.lines[0].startswith('257 "/"'), r)

    def test_cwd_and_pwd(self):
        c = self.raw_login()
        self.assertCode(c.cmd('CWD a'), 250)
        self.assertEqual(self.pwd(c), '/a')
        self.assertCode(c.cmd('CWD b/c'), 250)
        self.assertEqual(self.pwd(c), '/a/b/c')
        self.assertCode(c.cmd('CWD /a/b'), 250)
        self.assertEqual(self.pwd(c), '/a/b')

    def test_cwd_normalises(self):
        c = self.raw_login()
        self.assertCode(c.cmd('CWD /a/./b/../b/'), 250)
        self.assertEqual(self.pwd(c), '/a/b')
        self.assertCode(c.cmd('CWD //a//b//c'), 250)
        self.assertEqual(self.pwd(c), '/a/b/c')
        self.assertCode(c.cmd('CWD ../..'), 250)
        self.assertEqual(self.pwd(c), '/a')

    def test_cdup(self):
        c = self.raw_login()
        self.assertCode(c.cmd('CWD /a/b/c'), 250)
        self.assertCode(c.cmd('CDUP'), (200, 250))
        self.assertEqual(self.pwd(c), '/a/b')
        self.assertCode(c.cmd('CDUP'), (200, 250))
        self.assertCode(c.cmd('CDUP'), (200, 250))
        self.assertEqual(self.pwd(c), '/')

    def test_x_aliases(self):
        c = self.raw_login()
        self.assertCode(c.cmd('XCWD a/b'), 250)
        r = c.cmd('XPWD')
        self.assertCode(r, 257)
        self.assertEqual(pwd_path(r), '/a/b')
        self.assertCode(c.cmd('XCUP'), (200, 250))
        self.assertEqual(self.pwd(c), '/a')

    def test_cwd_dotdot_at_root_stays_root(self):
        c = self.raw_login()
        self.assertCode(c.cmd('CWD ..'), (250, 550))
        self.assertEqual(self.pwd(c), '/')
        self.assertCode(c.cmd('CDUP'), (200, 250, 550))
        self.assertEqual(self.pwd(c), '/')
        self.assertCode(c.cmd('CWD ../../../..'), (250, 550))
        self.assertEqual(self.pwd(c), '/')

    def test_cwd_into_file_550(self):
        c = self.raw_login()
        self.assertCode(c.cmd('CWD text.txt'), 550)
        self.assertEqual(self.pwd(c), '/')

    def test_cwd_missing_550(self):
        c = self.raw_login()
        self.assertCode(c.cmd('CWD no-such-dir'), 550)
        self.assertCode(c.cmd('CWD a/no-such-dir'), 550)
        self.assertEqual(self.pwd(c), '/')

    def test_cwd_without_argument_501(self):
        c = self.raw_login()
        self.assertCode(c.cmd('CWD'), 501)

    def test_cwd_name_with_spaces(self):
        c = self.raw_login()
        self.assertCode(c.cmd('CWD dir with spaces'), 250)
        self.assertEqual(self.pwd(c), '/dir with spaces')

    def test_cwd_utf8_name(self):
        c = self.raw_login()
        self.assertCode(c.cmd('CWD \u00fcber'), 250)
        self.assertEqual(self.pwd(c), '/\u00fcber')

    def test_pwd_doubles_quotes(self):
        c = self.raw_login()
        self.assertCode(c.cmd('CWD quote"dir'), 250)
        r = c.cmd('PWD')
        self.assertCode(r, 257)
        self.assertTrue(r.lines[0].startswith('257 "/quote""dir"'), r)

    def test_ftplib_pwd_cwd(self):
        f = self.ftp()
        self.assertEqual(f.pwd(), '/')
        f.cwd('a')
        self.assertEqual(f.pwd(), '/a')
        f.cwd('/quote"dir')
        self.assertEqual(f.pwd(), '/quote"dir')

    def test_relative_paths_follow_cwd(self):
        f = self.ftp()
        f.cwd('/a/b/c')
        self.assertEqual(self.retr_bytes(f, 'c.txt'), self.files['a/b/c/c.txt'])
        self.assertEqual(self.retr_bytes(f, '../b.txt'), self.files['a/b/b.txt'])
        self.assertEqual(self.retr_bytes(f, '/text.txt'), self.files['text.txt'])

    def test_cwd_symlink_inside_tree(self):
        c = self.raw_login()
        self.assertCode(c.cmd('CWD link_dir'), 250)
        self.assertCode(c.cmd('CWD c'), 250)
        self.assertCode(c.cmd('TYPE I'), 200)
        self.assertCode(c.cmd('SIZE c.txt'), 213)

    def test_cwd_escaping_symlink_550(self):
        c = self.raw_login()
        self.assertCode(c.cmd('CWD escape_dir'), 550)
        self.assertEqual(self.pwd(c), '/')


if __name__ == '__main__':
    unittest.main()
