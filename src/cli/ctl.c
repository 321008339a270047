#include "cli/ctl.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* An answer larger than this is not one vmon gives. */
#define CTL_MAX_ANSWER (1u << 20)
#define CTL_TIMEOUT_S  30

/* Each action as the HTTP request it is. */
static const struct ctl_action {
	const char *name, *method, *path, *body;
} actions[] = {
	{ "pause", "PATCH", "/vm", "{\"state\": \"Paused\"}" },
	{ "resume", "PATCH", "/vm", "{\"state\": \"Resumed\"}" },
	{ "info", "GET", "/", NULL },
	{ "config", "GET", "/vm/config", NULL },
	{ "ctrl-alt-del", "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}" },
};

#define ACTION_COUNT (sizeof(actions) / sizeof(actions[0]))

static const struct ctl_action *find_action(const char *name)
{
	for (size_t i = 0; i < ACTION_COUNT; i++)
		if (strcmp(actions[i].name, name) == 0)
			return &actions[i];
	return NULL;
}

bool ctl_action_known(const char *name)
{
	return find_action(name) != NULL;
}

void ctl_action_names(char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < ACTION_COUNT && used < size; i++) {
		const char *separator = i == 0 ? "" : i + 1 < ACTION_COUNT ? ", " : " or ";
		used += (size_t)snprintf(buf + used, size - used, "%s%s", separator, actions[i].name);
	}
}

static int fail(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "vmon ctl: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return 1;
}

static int connect_to(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval timeout = { .tv_sec = CTL_TIMEOUT_S };
	if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0 ||
			connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads until the server closes (the request said Connection: close). NUL-terminated. */
static char *read_answer(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap + 1);
	for (ssize_t n = 1; buf && n > 0 && len < CTL_MAX_ANSWER;) {
		if (len == cap) {
			char *grown = realloc(buf, 2 * cap + 1);
			if (!grown)
				break;
			buf = grown;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n < 0 && errno == EINTR)
			n = 1;
		else if (n > 0)
			len += (size_t)n;
		else if (n < 0) {
			free(buf);
			return NULL;
		}
	}
	if (buf)
		buf[len] = 0;
	return buf;
}

static char *exchange(const char *path, const struct ctl_action *a)
{
	int fd = connect_to(path);
	if (fd < 0)
		return NULL;
	char request[512];
	size_t body_len = a->body ? strlen(a->body) : 0;
	int n = snprintf(request, sizeof(request),
			 "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			 a->method, a->path, body_len, a->body ? a->body : "");
	char *answer = NULL;
	if (n > 0 && (size_t)n < sizeof(request) && send_all(fd, request, (size_t)n) == 0)
		answer = read_answer(fd);
	int err = errno;
	close(fd);
	errno = err;
	return answer;
}

/* Prints a 200's JSON indented, or a 400's fault message; the exit status. */
static int report(const char *answer)
{
	unsigned status = 0;
	const char *body = strstr(answer, "\r\n\r\n");
	if (sscanf(answer, "HTTP/1.%*u %u", &status) != 1 || !body)
		return fail("%s%s", "the server's answer is not HTTP", "");
	body += 4;
	if (status == 204)
		return 0;
	json_t *doc = json_loads(body, 0, NULL);
	int ret = 1;
	if (status == 200 && doc) {
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		ret = 0;
	} else {
		const char *fault = doc ? json_string_value(json_object_get(doc, "fault_message")) : NULL;
		char code[16];
		snprintf(code, sizeof(code), "%u", status);
		fail("%s: %s", code, fault ? fault : body);
	}
	json_decref(doc);
	return ret;
}

int ctl_run(const char *sock_path, const char *action)
{
	const struct ctl_action *a = find_action(action);
	char names[128];
	if (!a) {
		ctl_action_names(names, sizeof(names));
		return fail("unknown action '%s'; use %s", action, names);
	}
	char *answer = exchange(sock_path, a);
	if (!answer)
		return fail("cannot reach vmon at '%s': %s", sock_path, strerror(errno));
	int ret = report(answer);
	free(answer);
	return ret;
}
