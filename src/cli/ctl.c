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
/* How long a quick call may take; a snapshot or a migration takes as long as it takes. */
#define CTL_TIMEOUT_S  30
#define NO_TIMEOUT     0

#define PAUSE_BODY  "{\"state\": \"Paused\"}"
#define RESUME_BODY "{\"state\": \"Resumed\"}"

/* Each action as the HTTP request it is. */
static const struct ctl_action {
	const char *name, *method, *path, *body;
	unsigned timeout_s;
	bool to_destination;  /* the body comes from --to and --max-downtime-ms */
} actions[] = {
	{ "pause", "PATCH", "/vm", PAUSE_BODY, CTL_TIMEOUT_S, false },
	{ "resume", "PATCH", "/vm", RESUME_BODY, CTL_TIMEOUT_S, false },
	{ "info", "GET", "/", NULL, CTL_TIMEOUT_S, false },
	{ "config", "GET", "/vm/config", NULL, CTL_TIMEOUT_S, false },
	{ "ctrl-alt-del", "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}", CTL_TIMEOUT_S, false },
	{ "migrate", "PUT", "/migrate", NULL, NO_TIMEOUT, true },
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

/* "vmon ctl: ..." (who: the command) on one line of stderr; the exit status 1. */
static int fail(const char *who, const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "%s: ", who);
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return 1;
}

/* timeout_s 0: wait for the answer as long as it takes. */
static int connect_to(const char *path, unsigned timeout_s)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval timeout = { .tv_sec = timeout_s };
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

/* One HTTP exchange; the whole answer (malloc'd), or NULL with errno. */
static char *exchange(const char *sock_path, const char *method, const char *path, const char *body,
		      unsigned timeout_s)
{
	int fd = connect_to(sock_path, timeout_s);
	if (fd < 0)
		return NULL;
	char *request, *answer = NULL;
	int n = asprintf(&request, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			 method, path, body ? strlen(body) : 0, body ? body : "");
	if (n < 0) {
		request = NULL;
		errno = ENOMEM;
	} else if (send_all(fd, request, (size_t)n) == 0) {
		answer = read_answer(fd);
	}
	int err = errno;
	free(request);
	close(fd);
	errno = err;
	return answer;
}

/* 0 for a 204, or a 200 with JSON (*doc, if doc); 1 after a line with the fault or what is wrong. */
static int take_answer(const char *who, const char *answer, json_t **doc)
{
	unsigned status = 0;
	const char *body = strstr(answer, "\r\n\r\n");
	if (sscanf(answer, "HTTP/1.%*u %u", &status) != 1 || !body)
		return fail(who, "%s%s", "the server's answer is not HTTP", "");
	body += 4;
	if (status == 204)
		return 0;
	json_t *parsed = json_loads(body, 0, NULL);
	if (status == 200 && parsed) {
		if (doc)
			*doc = parsed;
		else
			json_decref(parsed);
		return 0;
	}
	const char *fault = json_string_value(json_object_get(parsed, "fault_message"));
	char code[16];
	snprintf(code, sizeof(code), "%u", status);
	fail(who, "%s: %s", code, fault ? fault : body);
	json_decref(parsed);
	return 1;
}

/* One call to the API: 0 when it succeeded (*doc: a 200's JSON), or 1 after one line on stderr. */
static int call(const char *who, const char *sock_path, const char *method, const char *path, const char *body,
		unsigned timeout_s, json_t **doc)
{
	char *answer = exchange(sock_path, method, path, body, timeout_s);
	if (!answer)
		return fail(who, "cannot reach vmon at '%s': %s", sock_path, strerror(errno));
	int ret = take_answer(who, answer, doc);
	free(answer);
	return ret;
}

/* The JSON text of doc (taken over), or NULL: out of memory, or a string that is not UTF-8. */
static char *json_text(json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return text;
}

static char *migrate_body(const struct ctl_migrate *m)
{
	if (!m->max_downtime_ms)
		return json_text(json_pack("{s:s}", "destination_url", m->to));
	return json_text(json_pack("{s:s, s:I}", "destination_url", m->to, "max_downtime_ms",
				   (json_int_t)m->max_downtime_ms));
}

int ctl_run(const char *sock_path, const char *action, const struct ctl_migrate *migrate)
{
	const char *who = "vmon ctl";
	const struct ctl_action *a = find_action(action);
	char names[128];
	if (!a) {
		ctl_action_names(names, sizeof(names));
		return fail(who, "unknown action '%s'; use %s", action, names);
	}
	char *made = a->to_destination ? migrate_body(migrate) : NULL;
	if (a->to_destination && !made)
		return fail(who, "cannot put --to '%s' in a JSON request%s", migrate->to, " (it must be UTF-8)");
	json_t *doc = NULL;
	int ret = call(who, sock_path, a->method, a->path, made ? made : a->body, a->timeout_s, &doc);
	free(made);
	if (doc) {
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	}
	json_decref(doc);
	return ret;
}

/* Whether the VM runs (not paused, not before its start), as GET / says. -1 after a line on stderr. */
static int vm_runs(const char *who, const char *sock_path)
{
	json_t *info = NULL;
	if (call(who, sock_path, "GET", "/", NULL, CTL_TIMEOUT_S, &info) != 0)
		return -1;
	const char *state = json_string_value(json_object_get(info, "state"));
	int runs = state && strcmp(state, "Running") == 0;
	json_decref(info);
	return runs;
}

int ctl_snapshot(const char *sock_path, const char *state_path, const char *mem_path)
{
	const char *who = "vmon snapshot";
	char *body = json_text(json_pack("{s:s, s:s}", "snapshot_path", state_path, "mem_file_path", mem_path));
	if (!body)
		return fail(who, "cannot put the file names in a JSON request%s%s", " (they must be UTF-8)", "");
	int runs = vm_runs(who, sock_path);
	int ret = runs < 0 ? 1 : runs ? call(who, sock_path, "PATCH", "/vm", PAUSE_BODY, CTL_TIMEOUT_S, NULL) : 0;
	bool paused_here = runs > 0 && ret == 0;
	if (ret == 0)
		ret = call(who, sock_path, "PUT", "/snapshot/create", body, NO_TIMEOUT, NULL);
	if (paused_here && call(who, sock_path, "PATCH", "/vm", RESUME_BODY, CTL_TIMEOUT_S, NULL) != 0)
		ret = 1;
	free(body);
	if (ret == 0)
		printf("snapshot: state in %s, memory in %s\n", state_path, mem_path);
	return ret;
}
