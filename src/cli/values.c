#include "cli/values.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1ull << 20)

static int invalid(const char **why, const char *msg)
{
	*why = msg;
	return -1;
}

/* Multiplier for a size suffix: K, M, G, T, optionally followed by "iB" or "B". */
static uint64_t suffix_multiplier(const char *suffix)
{
	static const char units[] = "KMGT";
	if (*suffix == '\0')
		return MIB; /* a bare number means MiB, as in QEMU's -m */
	const char *u = strchr(units, toupper((unsigned char)suffix[0]));
	if (!u || suffix[0] == '\0')
		return 0;
	const char *rest = suffix + 1;
	if (*rest != '\0' && strcmp(rest, "B") != 0 && strcmp(rest, "iB") != 0)
		return 0;
	return 1ull << (10 * (u - units + 1));
}

int cli_parse_memory(const char *s, uint64_t *bytes, const char **why)
{
	if (!isdigit((unsigned char)s[0]))
		return invalid(why, "is not a size (examples: 512M, 2G)");
	errno = 0;
	char *end;
	unsigned long long n = strtoull(s, &end, 10);
	uint64_t mult = suffix_multiplier(end);
	if (errno == ERANGE || mult == 0)
		return invalid(why, "is not a size (examples: 512M, 2G)");
	if (n == 0)
		return invalid(why, "must be larger than zero");
	if (n > UINT64_MAX / mult)
		return invalid(why, "is too large");
	if ((n * mult) % MIB != 0)
		return invalid(why, "must be a whole number of MiB");
	*bytes = n * mult;
	return 0;
}

int cli_parse_cpus(const char *s, unsigned *cpus, const char **why)
{
	if (!isdigit((unsigned char)s[0]))
		return invalid(why, "is not a number of CPUs");
	errno = 0;
	char *end;
	unsigned long n = strtoul(s, &end, 10);
	if (*end != '\0' || errno == ERANGE)
		return invalid(why, "is not a number of CPUs");
	if (n == 0)
		return invalid(why, "must be at least 1");
	if (n > VM_MAX_CPUS)
		return invalid(why, "is more than vmon supports (254)");
	*cpus = (unsigned)n;
	return 0;
}

/* "on"/"off" and their usual spellings, as QEMU takes them. */
static int parse_switch(const char *v, bool *out)
{
	static const char *const on[] = { "on", "yes", "true", "1" };
	static const char *const off[] = { "off", "no", "false", "0" };
	for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
		if (strcmp(v, on[i]) == 0 || strcmp(v, off[i]) == 0) {
			*out = strcmp(v, on[i]) == 0;
			return 0;
		}
	}
	return -1;
}

int cli_parse_count(const char *v, unsigned max, unsigned *count)
{
	char *end;
	errno = 0;
	unsigned long n = isdigit((unsigned char)v[0]) ? strtoul(v, &end, 10) : 0;
	if (n == 0 || n > max || errno || *end)
		return -1;
	*count = (unsigned)n;
	return 0;
}

/* The address before ":PORT": a name or IPv4 address, or [IPv6]; printable, no spaces. */
static int check_address(const char *addr, size_t len, const char **why)
{
	bool bracketed = addr[0] == '[';
	if (len == 0 || (bracketed && len == 2))
		return invalid(why, "has no address before :PORT");
	if (bracketed ? addr[len - 1] != ']' || memchr(addr + 1, ']', len - 2) : memchr(addr, ':', len) != NULL)
		return invalid(why, "must have its IPv6 address in brackets, as [::1]:4444");
	for (size_t i = 0; i < len; i++)
		if (!isgraph((unsigned char)addr[i]))
			return invalid(why, "has a space or a control character in its address");
	return 0;
}

int cli_parse_endpoint(const char *s, const char **endpoint, const char **why)
{
	if (strncmp(s, "tcp:", 4) == 0)
		s += 4;
	const char *colon = strrchr(s, ':');
	unsigned port;
	if (!colon || cli_parse_count(colon + 1, 65535, &port) < 0)
		return invalid(why, "must be ADDR:PORT with a port from 1 to 65535");
	if (check_address(s, (size_t)(colon - s), why) < 0)
		return -1;
	*endpoint = s;
	return 0;
}

static int parse_transport(const char *v, enum virtio_transport_kind *t)
{
	if (strcmp(v, "pci") != 0 && strcmp(v, "mmio") != 0)
		return -1;
	*t = strcmp(v, "pci") == 0 ? TRANSPORT_PCI : TRANSPORT_MMIO;
	return 0;
}

/* Applies one key=value of --disk. */
static int apply_disk_item(void *target, const char *key, const char *value, const char **why)
{
	struct disk_config *disk = target;
	if (strcmp(key, "path") == 0) {
		free(disk->path);
		disk->path = strdup(value);
		return disk->path && *value ? 0 : invalid(why, "needs a non-empty path=");
	}
	if (strcmp(key, "serial") == 0) {
		if (strlen(value) > DISK_SERIAL_MAX)
			return invalid(why, "has a serial longer than 20 characters");
		free(disk->serial);
		disk->serial = strdup(value);
		return disk->serial ? 0 : invalid(why, "is out of memory");
	}
	if (strcmp(key, "readonly") == 0)
		return parse_switch(value, &disk->readonly) == 0 ? 0 : invalid(why, "readonly= takes on or off");
	if (strcmp(key, "direct") == 0)
		return parse_switch(value, &disk->direct) == 0 ? 0 : invalid(why, "direct= takes on or off");
	if (strcmp(key, "transport") == 0)
		return parse_transport(value, &disk->transport) == 0 ? 0 :
			invalid(why, "transport= takes pci or mmio");
	if (strcmp(key, "queues") == 0)
		return cli_parse_count(value, DISK_MAX_QUEUES, &disk->queues) == 0 ? 0 :
			invalid(why, "queues= takes a number from 1 to 16");
	return invalid(why, "has an unknown key (known: path, readonly, serial, direct, queues, transport)");
}

/* Calls apply(target, key, value, why) for each comma-separated key=value of s. */
static int parse_key_values(const char *s, void *target,
			    int (*apply)(void *target, const char *key, const char *value,
					 const char **why),
			    const char **why)
{
	char *copy = strdup(s), *save = NULL;
	int ret = copy ? 0 : invalid(why, "is out of memory");
	for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item && ret == 0;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		if (!eq) {
			ret = invalid(why, "has an item without key=value");
			break;
		}
		*eq = '\0';
		ret = apply(target, item, eq + 1, why);
	}
	free(copy);
	return ret;
}

int cli_parse_disk(const char *s, struct disk_config *disk, const char **why)
{
	*disk = (struct disk_config){ .queues = 1 };
	int ret = parse_key_values(s, disk, apply_disk_item, why);
	if (ret == 0 && !disk->path)
		ret = invalid(why, "needs path=FILE");
	if (ret < 0) {
		free(disk->path);
		free(disk->serial);
		*disk = (struct disk_config){ 0 };
	}
	return ret;
}

static int hex_digit(char c)
{
	return isdigit((unsigned char)c) ? c - '0' :
	       isxdigit((unsigned char)c) ? tolower((unsigned char)c) - 'a' + 10 : -1;
}

int cli_parse_mac(const char *s, uint8_t mac[6], const char **why)
{
	for (unsigned i = 0; i < 6; i++, s += 3) {
		int hi = hex_digit(s[0]), lo = hi < 0 ? -1 : hex_digit(s[1]);
		char sep = lo < 0 ? 'x' : s[2];
		if (lo < 0 || sep != (i < 5 ? ':' : '\0'))
			return invalid(why, "mac= takes six hex bytes like 52:54:00:12:34:56");
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	if (mac[0] & 1)
		return invalid(why, "mac= must be a unicast address (first byte even)");
	static const uint8_t zero[6];
	if (memcmp(mac, zero, 6) == 0)
		return invalid(why, "mac= must not be all zeros");
	return 0;
}

static int parse_nic_queues(const char *v, unsigned *queues)
{
	if (strcmp(v, "auto") == 0) {
		*queues = 0; /* one per vCPU, once --cpus is known */
		return 0;
	}
	return cli_parse_count(v, NIC_MAX_QUEUES, queues);
}

static int parse_vhost(const char *v, enum vhost_choice *vhost)
{
	bool on;
	if (strcmp(v, "auto") == 0) {
		*vhost = VHOST_AUTO;
		return 0;
	}
	if (parse_switch(v, &on) < 0)
		return -1;
	*vhost = on ? VHOST_ON : VHOST_OFF;
	return 0;
}

static int apply_nic_item(void *target, const char *key, const char *value, const char **why)
{
	struct nic_config *nic = target;
	if (strcmp(key, "tap") == 0) {
		if (!*value || strlen(value) > NIC_NAME_MAX || strchr(value, '/'))
			return invalid(why, "tap= takes an interface name of 1 to 15 characters");
		strcpy(nic->tap, value);
		return 0;
	}
	if (strcmp(key, "mac") == 0) {
		nic->mac_set = true;
		return cli_parse_mac(value, nic->mac, why);
	}
	if (strcmp(key, "queues") == 0)
		return parse_nic_queues(value, &nic->queues) == 0 ? 0 :
			invalid(why, "queues= takes a number from 1 to 8, or auto (one per vCPU)");
	if (strcmp(key, "vhost") == 0)
		return parse_vhost(value, &nic->vhost) == 0 ? 0 : invalid(why, "vhost= takes on, off or auto");
	if (strcmp(key, "transport") == 0)
		return parse_transport(value, &nic->transport) == 0 ? 0 :
			invalid(why, "transport= takes pci or mmio");
	return invalid(why, "has an unknown key (known: tap, mac, queues, vhost, transport)");
}

int cli_parse_net(const char *s, struct nic_config *nic, const char **why)
{
	*nic = (struct nic_config){ .queues = 1 };
	int ret = parse_key_values(s, nic, apply_nic_item, why);
	if (ret == 0 && !nic->tap[0])
		ret = invalid(why, "needs tap=NAME");
	if (ret < 0)
		*nic = (struct nic_config){ 0 };
	return ret;
}

/* Applies one key=value of --iommu, after its kind. */
static int apply_iommu_item(void *target, const char *key, const char *value, const char **why)
{
	struct iommu_config *iommu = target;
	if (strcmp(key, "intremap") == 0)
		return parse_switch(value, &iommu->intremap) == 0 ? 0 : invalid(why, "intremap= takes on or off");
	if (strcmp(key, "caching_mode") == 0)
		return parse_switch(value, &iommu->caching_mode) == 0 ? 0 :
			invalid(why, "caching_mode= takes on or off");
	return invalid(why, "has an unknown key (known: intremap, caching_mode)");
}

int cli_parse_iommu(const char *s, struct iommu_config *iommu, const char **why)
{
	*iommu = (struct iommu_config){ .kind = IOMMU_INTEL };
	const char *rest = strncmp(s, "intel", 5) == 0 ? s + 5 : NULL;
	int ret;
	if (!rest || (*rest != '\0' && *rest != ','))
		ret = invalid(why, "must start with intel (the only IOMMU vmon emulates)");
	else
		ret = *rest ? parse_key_values(rest + 1, iommu, apply_iommu_item, why) : 0;
	if (ret < 0)
		*iommu = (struct iommu_config){ .kind = IOMMU_NONE };
	return ret;
}
