/*
 * The API over HTTP/1.1 on a Unix socket (libmicrohttpd on a socket vmon
 * creates and binds). One internal thread serves every connection and no
 * client can make it wait: a slow client, a half-closed one or one that
 * never finishes its body only holds its own connection, until the
 * connection timeout drops it. Requests are answered one at a time, each
 * after its work on the VM is done (building and starting it, parking the
 * vCPUs, swapping a disk image, a snapshot, a migration). An answer that
 * ends vmon (a migration's) ends it once sent, or once its client is gone.
 */
#ifndef VMON_API_SERVER_H
#define VMON_API_SERVER_H

#include "api/api.h"

#define API_CONNECTION_TIMEOUT_S 30
#define API_MAX_CONNECTIONS      64

struct api_server {
	struct MHD_Daemon *daemon;
	int listen_fd;   /* until the daemon owns it; then -1 */
	char *path;      /* the socket file, removed at stop */
};

/*
 * Creates the socket at path (which must not exist): clients can connect,
 * and wait until api_server_serve. 0, or -errno with *why a sentence for
 * the user.
 */
int api_server_listen(struct api_server *s, const char *path, const char **why);
/* Starts serving api on the socket. 0, or -errno with *why. */
int api_server_serve(struct api_server *s, struct api *api, const char **why);
/* Stops serving (no handler runs afterwards) and removes the socket file. */
void api_server_stop(struct api_server *s);

#endif
