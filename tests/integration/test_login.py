"""Login, session commands and reply codes: USER PASS QUIT SYST FEAT OPTS
NOOP HELP, unknown and unimplemented commands."""

import ftplib
import unittest

from ftpd_harness import FtpdTestCase


class LoginTest(FtpdTestCase):
    # The failed login's delay has tests of its own (test_accounts.py).
    config = {'login_fail_delay': '0'}

    def test_greeting_is_220(self):
        c = self.raw()
        self.assertCode(c.greeting, 220)

    def test_anonymous_login(self):
        c = self.raw()
        self.assertCode(c.cmd('USER anonymous'), 331)
        self.assertCode(c.cmd('PASS whatever@example.org'), 230)
        self.assertCode(c.cmd('NOOP'), 200)

    def test_ftp_user_login(self):
        c = self.raw()
        self.assertCode(c.cmd('USER ftp'), 331)
        self.assertCode(c.cmd('PASS x'), 230)

    def test_user_name_case_insensitive_command(self):
        c = self.raw()
        self.assertCode(c.cmd('user anonymous'), 331)
        self.assertCode(c.cmd('pass x'), 230)

    def test_ftplib_login(self):
        f = self.ftp()
        self.assertTrue(f.voidcmd('NOOP').startswith('200'))

    def test_other_user_refused(self):
        c = self.raw()
        r = c.cmd('USER bob')
        self.assertCode(r, (331, 530))
        if r.code == 331:
            self.assertCode(c.cmd('PASS secret'), 530)
        # Still not logged in.
        self.assertCode(c.cmd('PWD'), 530)

    def test_root_user_refused(self):
        with self.assertRaises(ftplib.error_perm) as cm:
            self.ftp(user='root', passwd='root')
        self.assertTrue(str(cm.exception).startswith('530'), cm.exception)

    def test_failed_logins_then_anonymous_works(self):
        c = self.raw()
        r = c.cmd('USER bob')
        if r.code == 331:
            self.assertCode(c.cmd('PASS bad'), 530)
        c.login()
        self.assertCode(c.cmd('PWD'), 257)

    def test_repeated_failed_logins_disconnect(self):
        c = self.raw()
        closed = False
        for _ in range(6):
            try:
                r = c.cmd('USER bob')
                if r.code == 331:
                    r = c.cmd('PASS bad')
                self.assertCode(r, (530, 421))
            except (EOFError, ConnectionError):
                closed = True
                break
        self.assertTrue(closed or c.wait_eof(5),
                        'connection still open after 6 failed logins')
        self.assertFreshSessionWorks()

    def test_pass_without_user_is_503(self):
        c = self.raw()
        self.assertCode(c.cmd('PASS x'), 503)

    def test_commands_before_login_are_530(self):
        c = self.raw()
        for line in ('PWD', 'CWD a', 'LIST', 'NLST', 'RETR text.txt', 'SIZE text.txt',
                     'PASV', 'EPSV', 'PORT 127,0,0,1,4,1', 'MLSD', 'STOR x', 'MKD x',
                     'DELE text.txt', 'CDUP', 'MDTM text.txt', 'REST 0'):
            self.assertCode(c.cmd(line), 530, line)
        c.login()
        self.assertCode(c.cmd('PWD'), 257)

    def test_quit_221_and_close(self):
        c = self.raw()
        c.login()
        self.assertCode(c.cmd('QUIT'), 221)
        self.assertTrue(c.wait_eof(5), 'connection not closed after QUIT')

    def test_quit_before_login(self):
        c = self.raw()
        self.assertCode(c.cmd('QUIT'), 221)
        self.assertTrue(c.wait_eof(5))

    def test_syst(self):
        c = self.raw_login()
        r = c.cmd('SYST')
        self.assertCode(r, 215)
        self.assertIn('UNIX', r.text)

    def test_feat(self):
        c = self.raw()
        r = c.cmd('FEAT')
        self.assertCode(r, 211)
        self.assertTrue(r.lines[0].startswith('211-'), r)
        self.assertTrue(r.lines[-1].startswith('211 '), r)
        feats = r.lines[1:-1]
        for ln in feats:
            self.assertTrue(ln.startswith(' '), 'feature line must start with a space: %r' % ln)
        names = {ln.strip().split(' ')[0].upper() for ln in feats}
        for want in ('EPSV', 'EPRT', 'MDTM', 'SIZE', 'MLST', 'UTF8', 'TVFS'):
            self.assertIn(want, names, r.text)
        self.assertIn('REST STREAM', [ln.strip().upper() for ln in feats], r.text)
        mlst = [ln.strip() for ln in feats if ln.strip().upper().startswith('MLST')][0]
        for fact in ('type', 'size', 'modify', 'perm', 'unique'):
            self.assertIn(fact, mlst.lower(), mlst)

    def test_feat_after_login(self):
        c = self.raw_login()
        self.assertCode(c.cmd('FEAT'), 211)

    def test_opts_utf8_on(self):
        c = self.raw_login()
        self.assertCode(c.cmd('OPTS UTF8 ON'), 200)

    def test_opts_unknown_option(self):
        c = self.raw_login()
        self.assertCode(c.cmd('OPTS FROBNICATE yes'), (501, 502, 504))

    def test_noop(self):
        c = self.raw_login()
        self.assertCode(c.cmd('NOOP'), 200)

    def test_help(self):
        c = self.raw_login()
        r = c.cmd('HELP')
        self.assertCode(r, 214)
        self.assertTrue(r.lines[-1].startswith('214 '), r)

    def test_unknown_command_500(self):
        c = self.raw_login()
        self.assertCode(c.cmd('FROBNICATE now'), 500)
        self.assertCode(c.cmd('XYZZY'), 500)
        self.assertCode(c.cmd('NOOP'), 200)

    def test_unknown_command_before_login_500_or_530(self):
        c = self.raw()
        self.assertCode(c.cmd('XYZZY'), (500, 530))

    def test_known_unimplemented_502(self):
        c = self.raw_login()
        for line in ('REIN', 'SMNT /', 'ACCT x'):
            self.assertCode(c.cmd(line), (502, 202), line)
        self.assertCode(c.cmd('REIN'), 502)

    def test_missing_argument_501(self):
        c = self.raw_login()
        for line in ('CWD', 'RETR', 'SIZE', 'MDTM', 'TYPE', 'PORT', 'EPRT', 'REST'):
            self.assertCode(c.cmd(line), 501, line)

    def test_bad_arguments_501(self):
        c = self.raw_login()
        self.assertCode(c.cmd('PORT garbage'), 501)
        self.assertCode(c.cmd('PORT 1,2,3'), 501)
        self.assertCode(c.cmd('PORT 127,0,0,1,300,1'), 501)
        self.assertCode(c.cmd('EPRT |9|127.0.0.1|4000|'), (501, 522))
        self.assertCode(c.cmd('EPRT garbage'), 501)
        self.assertCode(c.cmd('REST abc'), 501)
        self.assertCode(c.cmd('REST -5'), 501)

    def test_type_mode_stru(self):
        c = self.raw_login()
        self.assertCode(c.cmd('TYPE I'), 200)
        self.assertCode(c.cmd('TYPE A'), 200)
        self.assertCode(c.cmd('TYPE A N'), 200)
        self.assertCode(c.cmd('TYPE L 8'), (200, 504))
        self.assertCode(c.cmd('TYPE E'), 504)
        self.assertCode(c.cmd('TYPE Z'), (501, 504))
        self.assertCode(c.cmd('MODE S'), 200)
        self.assertCode(c.cmd('MODE B'), 504)
        self.assertCode(c.cmd('STRU F'), 200)
        self.assertCode(c.cmd('STRU R'), 504)

    def test_auth_tls_refused_session_continues(self):
        c = self.raw()
        self.assertCode(c.cmd('AUTH TLS'), (500, 502, 504, 534))
        self.assertCode(c.cmd('AUTH SSL'), (500, 502, 504, 534))
        c.login()
        self.assertCode(c.cmd('PBSZ 0'), (500, 502, 503))
        self.assertCode(c.cmd('PROT P'), (500, 502, 503, 504, 536))
        self.assertCode(c.cmd('NOOP'), 200)

    def test_epsv_bad_arguments(self):
        c = self.raw_login()
        self.assertCode(c.cmd('EPSV 3'), (501, 522))
        self.assertCode(c.cmd('EPSV foo'), 501)

    def test_help_command(self):
        c = self.raw_login()
        self.assertCode(c.cmd('HELP RETR'), 214)

    def test_lowercase_commands(self):
        c = self.raw_login()
        self.assertCode(c.cmd('noop'), 200)
        self.assertCode(c.cmd('pwd'), 257)
        self.assertCode(c.cmd('syst'), 215)

    def test_bare_lf_line_ending(self):
        c = self.raw()
        c.send('USER anonymous\n')
        self.assertCode(c.reply(), 331)
        c.send('PASS x\n')
        self.assertCode(c.reply(), 230)
        c.send('NOOP\n')
        self.assertCode(c.reply(), 200)

    def test_telnet_iac_before_command_is_dropped(self):
        c = self.raw_login()
        c.send(b'\xff\xf4\xff\xf2NOOP\r\n')  # IAC IP IAC DM NOOP
        self.assertCode(c.reply(), 200)


if __name__ == '__main__':
    unittest.main()
