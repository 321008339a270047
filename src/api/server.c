#include "api/server.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"

/* Past this much body the connection is closed rather than read to its end. */
#define DISCARD_LIMIT (16 * API_MAX_BODY)

/* One request being received: its body so far. */
struct exchange {
	char *body;
	size_t len;      /* kept: at most API_MAX_BODY + 1 */
	size_t seen;     /* bytes the client sent, kept or not */
	bool ends_vmon;  /* its answer ends vmon once sent (api_end) */
};

/* Keeps what fits under API_MAX_BODY + 1 (enough to know it is too large); counts the rest. */
static bool take_upload(struct exchange *x, const char *data, size_t size)
{
	x->seen += size;
	if (x->seen > DISCARD_LIMIT)
		return false;
	size_t room = API_MAX_BODY + 1 - x->len;
	size_t keep = size < room ? size : room;
	if (keep == 0)
		return true;
	char *grown = realloc(x->body, x->len + keep);
	if (!grown)
		return false;
	memcpy(grown + x->len, data, keep);
	x->body = grown;
	x->len += keep;
	return true;
}

static enum MHD_Result respond(struct MHD_Connection *conn, struct api_response *r)
{
	size_t len = r->body ? strlen(r->body) : 0;
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, r->body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		api_response_free(r);
		return MHD_NO;
	}
	r->body = NULL; /* the response owns it now */
	if (len)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	enum MHD_Result ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* libmicrohttpd calls this first with no context, then per body chunk, then once with none left. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct api *api = cls;
	struct exchange *x = *con_cls;
	if (!x) {
		x = calloc(1, sizeof(*x));
		*con_cls = x;
		return x ? MHD_YES : MHD_NO;
	}
	if (*upload_data_size) {
		bool ok = take_upload(x, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return ok ? MHD_YES : MHD_NO;
	}
	/* What was kept: API_MAX_BODY + 1 bytes of a longer body are enough for the router to refuse it. */
	struct api_response r;
	api_handle(api, method, url, x->body, x->len, &r);
	x->ends_vmon = r.ends_vmon;
	return respond(conn, &r);
}

/* The request is over: its answer sent, or the client gone. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode why)
{
	(void)conn, (void)why;
	struct exchange *x = *con_cls;
	if (x && x->ends_vmon)
		api_end(cls);
	if (x)
		free(x->body);
	free(x);
	*con_cls = NULL;
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = 0;
	log_debug("api server: %s", line);
}

static int listen_on(const char *path, const char **why)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path)) {
		*why = "the socket path is longer than 107 bytes";
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*why = strerror(errno);
		return -errno;
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, API_MAX_CONNECTIONS) < 0) {
		int err = errno;
		*why = err == EADDRINUSE ? "the path exists (remove it, or choose another)" : strerror(err);
		close(fd);
		return -err;
	}
	return fd;
}

int api_server_listen(struct api_server *s, const char *path, const char **why)
{
	*s = (struct api_server){ .listen_fd = -1 };
	int fd = listen_on(path, why);
	if (fd < 0)
		return fd;
	s->listen_fd = fd;
	s->path = strdup(path);
	if (!s->path) {
		*why = "out of memory";
		api_server_stop(s);
		return -ENOMEM;
	}
	return 0;
}

int api_server_serve(struct api_server *s, struct api *api, const char **why)
{
	s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
				     0, NULL, NULL, on_request, api,
				     MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_CONNECTION_TIMEOUT_S,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_MAX_CONNECTIONS,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
				     MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, NULL,
				     MHD_OPTION_END);
	if (!s->daemon) {
		*why = "libmicrohttpd cannot serve on it";
		return -EIO;
	}
	s->listen_fd = -1; /* the daemon's now: MHD_stop_daemon closes it */
	return 0;
}

void api_server_stop(struct api_server *s)
{
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->path)
		unlink(s->path);
	free(s->path);
	*s = (struct api_server){ .listen_fd = -1 };
}
