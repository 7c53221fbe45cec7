# Run by `cmake --install` (install(SCRIPT) in CMakeLists.txt): the systemd
# units and the example configuration, with the paths of the prefix given
# at install time (--prefix), which configure time cannot know.
# Set by the caller: FTPD_SRC, FTPD_SBINDIR, FTPD_SYSCONFDIR, FTPD_UNITDIR
# (each relative to the prefix, or absolute).
set(prefix "${CMAKE_INSTALL_PREFIX}")

function(ftpd_full out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${prefix}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

ftpd_full(sbindir "${FTPD_SBINDIR}")
ftpd_full(unitdir "${FTPD_UNITDIR}")
# GNUInstallDirs' rule: prefix /usr keeps its configuration in /etc.
if(prefix STREQUAL "/usr" AND NOT IS_ABSOLUTE "${FTPD_SYSCONFDIR}")
  set(sysconfdir "/etc")
else()
  ftpd_full(sysconfdir "${FTPD_SYSCONFDIR}")
endif()
set(config "${sysconfdir}/ftpd/ftpd.conf")

function(ftpd_write path text)
  message(STATUS "Installing: $ENV{DESTDIR}${path}")
  file(WRITE "$ENV{DESTDIR}${path}" "${text}")
endfunction()

foreach(unit ftpd.service ftpd.socket)
  file(READ "${FTPD_SRC}/conf/${unit}" text)
  string(REPLACE "/usr/local/sbin/ftpd" "${sbindir}/ftpd" text "${text}")
  string(REPLACE "/usr/local/etc/ftpd/ftpd.conf" "${config}" text "${text}")
  ftpd_write("${unitdir}/${unit}" "${text}")
endforeach()

# The example config: conf/ftpd.conf (every key at its default) with what a
# system service wants instead: the units' ports on every address, the
# served tree in /srv/ftp, the transfer log in /var/log/ftpd. An existing
# config is the administrator's: kept.
if(EXISTS "$ENV{DESTDIR}${config}")
  message(STATUS "Keeping: $ENV{DESTDIR}${config}")
else()
  file(READ "${FTPD_SRC}/conf/ftpd.conf" text)
  foreach(pair "listen = 127.0.0.1|listen = 0.0.0.0, ::" "port = 2121|port = 21"
               "root = .|root = /srv/ftp"
               "xferlog_file =|xferlog_file = /var/log/ftpd/xferlog")
    string(REPLACE "|" ";" pair "${pair}")
    list(GET pair 0 from)
    list(GET pair 1 to)
    string(REPLACE "\n${from}\n" "\n${to}\n" text "${text}")
  endforeach()
  string(REPLACE "# ftpd configuration. Use it with: ftpd --config conf/ftpd.conf"
                 "# ftpd configuration, installed for ftpd.service: ${config}" text "${text}")
  ftpd_write("${config}" "${text}")
endif()
