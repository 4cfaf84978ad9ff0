/*
 * sd_notify.c — see sd_notify.h: the NOTIFY_SOCKET datagram of systemd's sd_notify(3),
 * sent from serve_main.c and receive_main.c once the sockets listen (READY=1) and when the
 * orderly stop begins (STOPPING=1).
 */
#include "sd_notify.h"
#include "log.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int sd_notify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof addr.sun_path) {
        log_warn("systemd", "NOTIFY_SOCKET is not a socket path; not notifying");
        return -1;
    }
    memcpy(addr.sun_path, path, len);
    if (path[0] == '@')
        addr.sun_path[0] = '\0'; /* the abstract namespace: no NUL terminator counted */
    socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_warn("systemd", "cannot notify the service manager: %s", strerror(errno));
        return -1;
    }
    ssize_t sent =
        sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len);
    int saved = errno;
    close(fd);
    if (sent < 0) {
        log_warn("systemd", "cannot notify the service manager: %s", strerror(saved));
        return -1;
    }
    return 1;
}
