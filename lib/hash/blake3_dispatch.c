/*
 * blake3_dispatch.c - choose the BLAKE3 back end once, from CPUID and XGETBV
 * (the OS must save the wide registers, not just the CPU have them), or from
 * CAIRN_BLAKE3_TIER / cairn_blake3_set_tier() so tests can force each tier.
 */
#include "blake3_int.h"
#include "../util/util_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define CAIRN_X86 1
#endif

static const char *const tier_names[CAIRN_BLAKE3_TIER_COUNT] = {
	"portable", "sse41", "avx2", "avx512",
};

static b3_backend backends[CAIRN_BLAKE3_TIER_COUNT];
static int cpu_tier; /* best tier the CPU and OS support; set once */
static _Atomic int active_tier = -1;

#if defined(CAIRN_X86)
static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}
#endif

/* Highest tier this CPU (and OS) can run, ignoring the build. */
static int cpu_best_tier(void)
{
#if defined(CAIRN_X86)
	unsigned a, b, c, d;
	int best = CAIRN_BLAKE3_PORTABLE;
	uint64_t xcr0 = 0;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return best;
	if (!(c & bit_SSE4_1))
		return best;
	best = CAIRN_BLAKE3_SSE41;
	if (!(c & bit_OSXSAVE))
		return best;
	xcr0 = xgetbv0();
	if ((xcr0 & 0x6) != 0x6) /* XMM and YMM state */
		return best;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return best;
	if (!(b & bit_AVX2))
		return best;
	best = CAIRN_BLAKE3_AVX2;
	if ((xcr0 & 0xE6) != 0xE6) /* opmask and ZMM state too */
		return best;
	if ((b & bit_AVX512F) && (b & bit_AVX512VL))
		best = CAIRN_BLAKE3_AVX512;
	return best;
#else
	return CAIRN_BLAKE3_PORTABLE;
#endif
}

static pthread_once_t backends_once = PTHREAD_ONCE_INIT;

static void fill_backends_once(void)
{
	cpu_tier = cpu_best_tier();
	b3_backend *p = &backends[CAIRN_BLAKE3_PORTABLE];

	p->compress_in_place = cairn__b3_compress_in_place_portable;
	p->compress_xof = cairn__b3_compress_xof_portable;
	p->hash_many = cairn__b3_hash_many_portable;
	p->degree = 1;
	/* tiers not built stay NULL and are reported unsupported */
#if defined(CAIRN_B3_HAVE_SSE41)
	backends[CAIRN_BLAKE3_SSE41] = (b3_backend){
		cairn__b3_compress_in_place_sse41, cairn__b3_compress_xof_sse41,
		cairn__b3_hash_many_sse41, 4};
#endif
#if defined(CAIRN_B3_HAVE_AVX2) && defined(CAIRN_B3_HAVE_SSE41)
	backends[CAIRN_BLAKE3_AVX2] = (b3_backend){
		cairn__b3_compress_in_place_sse41, cairn__b3_compress_xof_sse41,
		cairn__b3_hash_many_avx2, 8};
#endif
#if defined(CAIRN_B3_HAVE_AVX512)
	backends[CAIRN_BLAKE3_AVX512] = (b3_backend){
		cairn__b3_compress_in_place_avx512, cairn__b3_compress_xof_avx512,
		cairn__b3_hash_many_avx512, 16};
#endif
}

static void fill_backends(void)
{
	pthread_once(&backends_once, fill_backends_once);
}

bool cairn_blake3_tier_supported(cairn_blake3_tier tier)
{
	if ((int)tier < 0 || tier >= CAIRN_BLAKE3_TIER_COUNT)
		return false;
	fill_backends();
	return backends[tier].hash_many != NULL && (int)tier <= cpu_tier;
}

static int best_supported(void)
{
	for (int t = CAIRN_BLAKE3_TIER_COUNT - 1; t > 0; t--)
		if (cairn_blake3_tier_supported((cairn_blake3_tier)t))
			return t;
	return CAIRN_BLAKE3_PORTABLE;
}

static int choose_tier(void)
{
	const char *env = getenv("CAIRN_BLAKE3_TIER");
	cairn_blake3_tier forced = CAIRN_BLAKE3_PORTABLE;
	int best = best_supported();

	/*
	 * An unknown or unsupported request degrades to the best available
	 * (callers that must know, like the tests, check cairn_blake3_tier_get).
	 */
	if (env && *env && cairn_blake3_tier_parse(&forced, env) == 0 &&
	    cairn_blake3_tier_supported(forced))
		return (int)forced;
	cairn_error_clear();
	return best;
}

const b3_backend *cairn__b3_backend(void)
{
	int t = atomic_load_explicit(&active_tier, memory_order_acquire);

	if (CAIRN__UNLIKELY(t < 0)) {
		fill_backends();
		t = choose_tier();
		atomic_store_explicit(&active_tier, t, memory_order_release);
	}
	return &backends[t];
}

cairn_blake3_tier cairn_blake3_tier_get(void)
{
	(void)cairn__b3_backend();
	return (cairn_blake3_tier)atomic_load(&active_tier);
}

int cairn_blake3_set_tier(cairn_blake3_tier tier)
{
	if (!cairn_blake3_tier_supported(tier))
		return cairn__error_set(CAIRN_EUNSUPPORTED,
					"BLAKE3 tier '%s' is not supported on this CPU or build",
					cairn_blake3_tier_name(tier));
	atomic_store(&active_tier, (int)tier);
	return 0;
}

const char *cairn_blake3_tier_name(cairn_blake3_tier tier)
{
	if ((int)tier < 0 || tier >= CAIRN_BLAKE3_TIER_COUNT)
		return "unknown";
	return tier_names[tier];
}

int cairn_blake3_tier_parse(cairn_blake3_tier *out, const char *name)
{
	for (int t = 0; t < CAIRN_BLAKE3_TIER_COUNT; t++) {
		if (strcmp(name, tier_names[t]) == 0) {
			*out = (cairn_blake3_tier)t;
			return 0;
		}
	}
	return cairn__error_set(CAIRN_EINVALID,
				"unknown BLAKE3 tier '%s' (portable, sse41, avx2, avx512)", name);
}
