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
 */
#include "server_int.h"

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

static size_t slot_of(const uint8_t addr[16])
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 0x100000001b3ull;
	return (size_t)(h % AUTH_SLOTS);
}

int cairn__auth_blocked(struct MHD_Connection *c)
{
	uint8_t addr[16];
	time_t now = time(NULL);
	int wait = 0;
	size_t i;

	if (!client_addr(c, addr))
		return 0;
	i = slot_of(addr);
	pthread_mutex_lock(&mu);
	if (memcmp(slots[i].addr, addr, 16) == 0 && now - slots[i].start < AUTH_WINDOW_S &&
	    slots[i].fails >= AUTH_FAILS_MAX)
		wait = (int)(AUTH_WINDOW_S - (now - slots[i].start));
	pthread_mutex_unlock(&mu);
	return wait;
}

void cairn__auth_failed(struct MHD_Connection *c)
{
	uint8_t addr[16];
	time_t now = time(NULL);
	size_t i;

	if (!client_addr(c, addr))
		return;
	i = slot_of(addr);
	pthread_mutex_lock(&mu);
	if (memcmp(slots[i].addr, addr, 16) != 0 || now - slots[i].start >= AUTH_WINDOW_S) {
		memcpy(slots[i].addr, addr, 16);
		slots[i].start = now;
		slots[i].fails = 0;
	}
	slots[i].fails++;
	pthread_mutex_unlock(&mu);
}
