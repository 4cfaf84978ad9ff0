/*
 * sd_notify.h — tells systemd (Type=notify units) that the daemon is ready or stopping.
 *
 * The protocol is one datagram of "KEY=VALUE\n" lines to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or '@' for the abstract namespace); without the variable nothing
 * is sent. It is implemented here in a few lines rather than by linking libsystemd: hookd
 * runs the same on hosts and containers without systemd, and the package needs no
 * libsystemd0 dependency for one sendto(2).
 */
#ifndef HOOKD_SD_NOTIFY_H
#define HOOKD_SD_NOTIFY_H

/* Sends state ("READY=1", "STOPPING=1", "STATUS=…", lines joined by '\n') to the service
 * manager. Returns 1 when sent, 0 when not under a manager ($NOTIFY_SOCKET unset), -1 on an
 * error (logged at warn: a notify unit that never hears READY=1 is failed by systemd at
 * its start timeout, so the reason must be in the journal). */
int sd_notify_send(const char *state);

#endif
