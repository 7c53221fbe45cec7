"""Hostile clients: over-long lines, NUL bytes, path traversal, escaping
symlinks, pipelining floods. After each test the server must still be alive
and serve a fresh session."""

import ftplib
import os
import socket
import struct
import unittest

from ftpd_harness import ESCAPING_LINKS, FtpdTestCase, data_connect, recv_all

with open('/etc/passwd', 'rb') as _f:
    PASSWD = _f.read()


class HostileTest(FtpdTestCase):

    @classmethod
    def extra_fixture(cls, root):
        os.mkdir(os.path.join(root, 'odd'))
        # A FIFO: opening it for reading blocks until a writer appears.
        os.mkfifo(os.path.join(root, 'odd', 'fifo'))
        # Symlink loops.
        os.symlink('loop', os.path.join(root, 'odd', 'loop'))
        os.symlink('ping', os.path.join(root, 'odd', 'pong'))
        os.symlink('pong', os.path.join(root, 'odd', 'ping'))
        # A name with CR LF and a fake final reply in it: listed on the
        # control connection (STAT) it must not end the reply early.
        os.mkdir(os.path.join(root, 'evil'))
        with open(os.path.join(root, 'evil', 'x\r\n211 End of status\r\n'), 'wb') as f:
            f.write(b'evil')
        with open(os.path.join(root, 'evil', '213 looks like a reply'), 'wb') as f:
            f.write(b'evil')

    def tearDown(self):
        # Close this test's connections first (the serial back-end serves one
        # at a time), then check the server is alive and serves a new session.
        self.doCleanups()
        self.assertFreshSessionWorks()

    def assertNotLeaked(self, data):
        self.assertNotIn(b'root:', data)
        self.assertNotEqual(data, PASSWD)

    # ---- framing -----------------------------------------------------------

    def test_100k_line_without_crlf(self):
        c = self.raw_login()
        c.send(b'A' * (100 * 1024))
        try:
            r = c.reply()
        except (EOFError, ConnectionError):
            return  # closed cleanly: allowed
        self.assertCode(r, 500)
        c.send(b'\r\nNOOP\r\n')
        try:
            r = c.reply()
        except (EOFError, ConnectionError):
            return
        self.assertCode(r, 200, 'after an over-long line the connection keeps working')

    def test_long_line_then_commands(self):
        c = self.raw_login()
        c.send(b'NOOP ' + b'x' * 10000 + b'\r\nPWD\r\n')
        self.assertCode(c.reply(), 500)
        self.assertCode(c.reply(), 257)

    def test_line_just_under_limit(self):
        c = self.raw_login()
        r = c.cmd('CWD ' + 'x' * 4000)
        self.assertCode(r, (501, 550))
        self.assertCode(c.cmd('NOOP'), 200)

    def test_nul_bytes(self):
        c = self.raw_login()
        c.send(b'NO\x00OP\r\n')
        self.assertGreaterEqual(c.reply().code, 500)
        c.send(b'RETR text\x00.txt\r\n')
        self.assertGreaterEqual(c.reply().code, 400)
        c.send(b'\x00\x00\x00\r\n')
        self.assertGreaterEqual(c.reply().code, 500)
        self.assertCode(c.cmd('NOOP'), 200)

    def test_binary_garbage(self):
        c = self.raw_login()
        c.send(bytes(range(1, 10)) + bytes(range(11, 255)) + b'\r\n')
        self.assertGreaterEqual(c.reply().code, 500)
        c.send(b'\xc3\x28 invalid utf8\r\n')
        self.assertGreaterEqual(c.reply().code, 500)
        self.assertCode(c.cmd('NOOP'), 200)

    def test_empty_lines(self):
        c = self.raw_login()
        c.send(b'\r\n\r\n\n')
        for _ in range(3):
            self.assertGreaterEqual(c.reply().code, 500)
        self.assertCode(c.cmd('NOOP'), 200)

    def test_pipelined_1000_commands(self):
        c = self.raw_login()
        cycle = [('NOOP', 200), ('PWD', 257), ('TYPE I', 200), ('SYST', 215),
                 ('MODE S', 200), ('CWD a', 250), ('CDUP', (200, 250)), ('XYZZY', 500)]
        batch = [cycle[i % len(cycle)] for i in range(1000)]
        c.send(''.join(cmd + '\r\n' for cmd, _ in batch))
        for i, (cmd, code) in enumerate(batch):
            self.assertCode(c.reply(), code, 'reply %d (%s)' % (i, cmd))
        self.assertCode(c.cmd('PWD'), 257)

    def test_pipelined_across_a_transfer(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        _, port = c.pasv()
        d = data_connect('127.0.0.1', port)
        self.addCleanup(d.close)
        c.send('RETR medium.bin\r\nNOOP\r\nPWD\r\n')
        self.assertCode(c.reply(), 150)
        self.assertEqual(recv_all(d), self.files['medium.bin'])
        d.close()
        codes = [c.reply().code for _ in range(3)]
        # NOOP may be answered during the transfer or after it; PWD after 226.
        self.assertIn(226, codes)
        self.assertEqual(codes[-1], 257, codes)
        self.assertIn(200, codes)

    def test_prelogin_flood_disconnects(self):
        c = self.raw()
        c.send('SYST\r\n' * 100)
        answered = 0
        try:
            while answered < 100:
                c.reply()
                answered += 1
        except (EOFError, ConnectionError):
            pass
        self.assertLess(answered, 100, 'no limit on commands before login')

    # ---- paths -------------------------------------------------------------

    def test_retr_dotdot_etc_passwd_550(self):
        f = self.ftp()
        for path in ('../../../etc/passwd', '/../../../../etc/passwd', '/etc/passwd',
                     'a/../../etc/passwd', '..\\..\\etc\\passwd', '~/../etc/passwd'):
            with self.subTest(path=path):
                out = []
                with self.assertRaises(ftplib.error_perm) as cm:
                    f.retrbinary('RETR ' + path, out.append)
                self.assertTrue(str(cm.exception).startswith('550'), cm.exception)
                self.assertNotLeaked(b''.join(out))

    def test_retr_escaping_symlinks_550(self):
        f = self.ftp()
        for name in ESCAPING_LINKS:
            with self.subTest(name=name):
                out = []
                with self.assertRaises(ftplib.error_perm) as cm:
                    f.retrbinary('RETR ' + name, out.append)
                self.assertTrue(str(cm.exception).startswith('550'), cm.exception)
                self.assertNotLeaked(b''.join(out))

    def test_size_mdtm_mlst_of_escapes_550(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        for name in ESCAPING_LINKS[:2] + ('../../../etc/passwd', '/etc/passwd'):
            for cmd in ('SIZE', 'MDTM', 'MLST'):
                with self.subTest(cmd=cmd, name=name):
                    r = c.cmd('%s %s' % (cmd, name))
                    self.assertCode(r, 550)

    def test_cwd_dotdot_stays_inside(self):
        c = self.raw_login()
        self.assertCode(c.cmd('CWD ../../..'), (250, 550))
        r = c.cmd('PWD')
        self.assertTrue(r.lines[0].startswith('257 "/"'), r)
        self.assertCode(c.cmd('CWD /etc'), 550)
        self.assertCode(c.cmd('CWD escape_dir'), 550)
        self.assertCode(c.cmd('CWD a/../../../..'), (250, 550))
        r = c.cmd('PWD')
        self.assertTrue(r.lines[0].startswith('257 "/"'), r)

    def test_listing_outside_refused(self):
        f = self.ftp()
        for path in ('../../../etc', '/etc', 'escape_dir', 'escape_dir/'):
            with self.subTest(path=path):
                out = []
                try:
                    f.retrlines('LIST ' + path, out.append)
                except ftplib.error_perm as e:
                    self.assertTrue(str(e).startswith('550'), e)
                    continue
                text = '\n'.join(out)
                self.assertNotIn('passwd', text)
        f.cwd('/')
        names = f.nlst('../../..')
        self.assertIn('text.txt', [n.rsplit('/', 1)[-1] for n in names])
        self.assertNotIn('passwd', ' '.join(names))

    def test_stat_outside_refused(self):
        c = self.raw_login()
        for path in ('/etc', '../../../etc', 'escape_dir', 'escape_dir/', 'escape_abs'):
            with self.subTest(path=path):
                r = c.cmd('STAT ' + path)
                self.assertNotIn('root:', r.text)
                if path != 'escape_abs':  # its own ls line may name its target
                    self.assertNotIn('passwd', r.text)

    def test_very_deep_path(self):
        c = self.raw_login()
        self.assertCode(c.cmd('CWD ' + '/'.join(['a'] * 1000)), 550)
        self.assertCode(c.cmd('SIZE ' + '../' * 1300 + 'etc/passwd'), 550)
        self.assertCode(c.cmd('NOOP'), 200)

    def test_site_commands_cannot_skip_checks(self):
        c = self.raw()
        for line in ('SITE CHMOD 777 text.txt', 'SITE CPFR text.txt', 'SITE CPTO x',
                     'SITE EXEC ls'):
            with self.subTest(line=line):
                self.assertCode(c.cmd(line), 530)
        c.login()
        for line in ('SITE CPFR text.txt', 'SITE CPTO /copy.txt', 'SITE EXEC ls'):
            with self.subTest(line=line):
                self.assertGreaterEqual(c.cmd(line).code, 500)

    def test_fifo_does_not_block_server(self):
        f = self.ftp()
        f.voidcmd('TYPE I')
        for cmd in ('SIZE odd/fifo', 'MDTM odd/fifo'):
            with self.subTest(cmd=cmd):
                with self.assertRaises(ftplib.error_perm) as cm:
                    f.sendcmd(cmd)
                self.assertTrue(str(cm.exception).startswith('550'), cm.exception)
        with self.assertRaises(ftplib.error_perm) as cm:
            f.retrbinary('RETR odd/fifo', lambda b: None)
        self.assertTrue(str(cm.exception).startswith('550'), cm.exception)
        self.assertTrue(f.voidcmd('NOOP').startswith('200'))
        lines = []
        f.retrlines('LIST odd', lines.append)
        self.assertTrue(any(ln.endswith(' fifo') for ln in lines), lines)
        list(f.mlsd('odd'))

    def test_symlink_loops(self):
        f = self.ftp()
        for name in ('odd/loop', 'odd/ping'):
            with self.subTest(name=name):
                with self.assertRaises(ftplib.error_perm) as cm:
                    f.retrbinary('RETR ' + name, lambda b: None)
                self.assertTrue(str(cm.exception).startswith('550'), cm.exception)
                with self.assertRaises(ftplib.error_perm):
                    f.cwd(name)
        lines = []
        f.retrlines('LIST odd', lines.append)
        self.assertGreaterEqual(len(lines), 3)
        f.retrlines('NLST odd', lines.append)
        list(f.mlsd('odd'))
        f.sendcmd('STAT odd')

    def test_crlf_in_file_name_cannot_inject_replies(self):
        c = self.raw_login()
        r = c.cmd('STAT evil')
        self.assertCode(r, (211, 212, 213))
        for ln in r.lines[1:-1]:
            self.assertFalse(ln[:3].isdigit() and ln[3:4] == ' ',
                             'continuation line looks like a final reply: %r' % ln)
        # The next reply must be NOOP's: nothing of the listing is left over.
        self.assertCode(c.cmd('NOOP'), 200)
        self.assertCode(c.cmd('PWD'), 257)

    def test_crlf_names_in_mlsd_and_list(self):
        f = self.ftp()
        lines = []
        f.retrlines('LIST evil', lines.append)
        names = [n for n, e in f.mlsd('evil') if e.get('type') == 'file']
        self.assertIn('213 looks like a reply', names)
        self.assertTrue(f.voidcmd('NOOP').startswith('200'))

    def test_reset_after_flood_sigpipe(self):
        c = self.raw_login()
        c.send('NOOP\r\n' * 20000)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        c.close()  # RST while the server still writes replies
        c = self.raw_login()
        c.send('STAT many\r\n' * 2000 + 'STAT /\r\n' * 2000)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        c.close()
        self.assertServerAlive()

    def test_reset_during_transfer(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        _, port = c.pasv()
        d = data_connect('127.0.0.1', port)
        self.assertCode(c.cmd('RETR big.bin'), 150)
        d.recv(1000)
        for s in (d, c.sock):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            s.close()
        self.assertServerAlive()

    def test_many_sessions_in_a_row(self):
        for _ in range(30):
            c = self.raw()
            c.login()
            self.assertCode(c.cmd('QUIT'), 221)
            c.close()
        self.assertServerAlive()


if __name__ == '__main__':
    unittest.main()
