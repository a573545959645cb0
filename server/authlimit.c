/*
 * authlimit.c - failed authentications, counted per client address
 * (server_int.h): past AUTH_FAILS_MAX in a window of AUTH_WINDOW_S, an
 * address gets 429 for every credential it presents until the window
 * ends, so tokens and S3 secrets cannot be guessed at network speed.
 * Requests without credentials (anonymous reads of public buckets) are
 * never refused by it.
 *
 * A fixed table of slots, the address hashed into it; a slot another
 * address takes over starts counting afresh (so a crowd of addresses can
 * only ever lose their own history, never block someone else's).
 *
 * A request a region's cache node passes on is counted against the
 * reader's address, which the node names (X-Cairn-Client, under its MAC:
 * s3.c), not the node's: else one guesser in a region would make every
 * reader there wait.
 */
#include "server_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define AUTH_SLOTS 4096
#define AUTH_WINDOW_S 60
#define AUTH_FAILS_MAX 30

static struct {
	uint8_t addr[16];
	time_t start;
	unsigned fails;
} slots[AUTH_SLOTS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* The client's address as 16 bytes (IPv4 mapped); false if MHD has none. */
static bool client_addr(struct MHD_Connection *c, uint8_t out[16])
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	memset(out, 0, 16);
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &in->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

bool cairn__addr_parse(const char *text, uint8_t out[16])
{
	struct in_addr v4;

	memset(out, 0, 16);
	if (text == NULL)
		return false;
	if (inet_pton(AF_INET, text, &v4) == 1) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &v4, 4);
		return true;
	}
	return inet_pton(AF_INET6, text, out) == 1;
}

void cairn__addr_text(struct MHD_Connection *c, char out[INET6_ADDRSTRLEN])
{
	uint8_t a[16];
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	out[0] = '\0';
	if (!client_addr(c, a))
		return;
	if (memcmp(a, mapped, 12) == 0)
		inet_ntop(AF_INET, a + 12, out, INET6_ADDRSTRLEN);
	else
		inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN);
}

static size_t slot_of(const uint8_t addr[16])
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 0x100000001b3ull;
	return (size_t)(h % AUTH_SLOTS);
}

int cairn__auth_blocked_at(const uint8_t addr[16])
{
	time_t now = time(NULL);
	int wait = 0;
	size_t i = slot_of(addr);

	pthread_mutex_lock(&mu);
	if (memcmp(slots[i].addr, addr, 16) == 0 && now - slots[i].start < AUTH_WINDOW_S &&
	    slots[i].fails >= AUTH_FAILS_MAX)
		wait = (int)(AUTH_WINDOW_S - (now - slots[i].start));
	pthread_mutex_unlock(&mu);
	return wait;
}

void cairn__auth_failed_at(const uint8_t addr[16])
{
	time_t now = time(NULL);
	size_t i = slot_of(addr);

	pthread_mutex_lock(&mu);
	if (memcmp(slots[i].addr, addr, 16) != 0 || now - slots[i].start >= AUTH_WINDOW_S) {
		memcpy(slots[i].addr, addr, 16);
		slots[i].start = now;
		slots[i].fails = 0;
	}
	slots[i].fails++;
	pthread_mutex_unlock(&mu);
}

int cairn__auth_blocked(struct MHD_Connection *c)
{
	uint8_t addr[16];

	return client_addr(c, addr) ? cairn__auth_blocked_at(addr) : 0;
}

void cairn__auth_failed(struct MHD_Connection *c)
{
	uint8_t addr[16];

	if (client_addr(c, addr))
		cairn__auth_failed_at(addr);
}
