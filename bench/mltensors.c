/* mltensors - the tensor bytes of bench/mlseries.py's checkpoint series.
 *
 *   mltensors < SPEC
 *
 * mlseries.py decides the model (tensor names, shapes, safetensors headers)
 * and writes each file's header; this program holds the training state in
 * memory and appends the tensor data to those files, version after version,
 * because drawing a few hundred million normal values is too slow in pure
 * Python. SPEC is text, one directive per line, in this order:
 *
 *   seed S                       the RNG seed (xoshiro256**, fixed: same bytes every run)
 *   tensor N MEAN STD GSCALE MODE
 *                                one tensor of N values (its index is its order):
 *                                fp32 master weights ~ MEAN + STD * normal;
 *                                MODE frozen: never changes; tuned: each new version
 *                                adds DRIFT * STD * normal; adam: a full fine-tune,
 *                                with Adam's exp_avg and exp_avg_sq (GSCALE: the
 *                                tensor's typical gradient size)
 *   drift D                      DRIFT above (default 0.02)
 *   version V                    advance the state to version V (0: the initial one)
 *   append PATH ITEM...          append to PATH (header already written): ITEM is
 *                                I:bf16 or I:f32 (tensor I's weights), I:m (exp_avg,
 *                                fp32), I:v (exp_avg_sq, fp32)
 *
 * bf16 is the top half of the fp32 value, rounded to nearest even, as torch
 * does. All output is little-endian. Exits non-zero with a message on any
 * error.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mode { FROZEN, TUNED, ADAM };

typedef struct tensor {
	size_t n;
	float mean, std, gscale;
	enum mode mode;
	float *w;     /* fp32 master weights */
	float *m, *v; /* ADAM: exp_avg, exp_avg_sq */
	float *sigma; /* ADAM: each weight's own gradient scale, drifts slowly */
} tensor;

static tensor *g_t;
static size_t g_nt, g_cap;
static uint64_t g_s[4];
static double g_drift = 0.02;
static int g_version = -1;

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "mltensors: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(void) /* xoshiro256** */
{
	uint64_t r = rotl(g_s[1] * 5, 7) * 9, t = g_s[1] << 17;

	g_s[2] ^= g_s[0];
	g_s[3] ^= g_s[1];
	g_s[1] ^= g_s[2];
	g_s[0] ^= g_s[3];
	g_s[2] ^= t;
	g_s[3] = rotl(g_s[3], 45);
	return r;
}

static void seed(uint64_t x) /* splitmix64 fills the state */
{
	for (int i = 0; i < 4; i++) {
		uint64_t z = (x += 0x9E3779B97F4A7C15ull);
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
		g_s[i] = z ^ (z >> 31);
	}
}

/* Standard normal values, two at a time (Box-Muller). */
static void normals(float *out, size_t n)
{
	size_t i = 0;

	while (i < n) {
		double u1 = ((next_u64() >> 11) + 1) * 0x1.0p-53; /* (0, 1] */
		double u2 = (next_u64() >> 11) * 0x1.0p-53;
		double r = sqrt(-2.0 * log(u1)), a = 6.283185307179586 * u2;

		out[i++] = (float)(r * cos(a));
		if (i < n)
			out[i++] = (float)(r * sin(a));
	}
}

static float *alloc_floats(size_t n)
{
	float *p = malloc(n * sizeof(float) + 1);

	if (p == NULL)
		die("out of memory%s", "");
	return p;
}

static void init_tensor(tensor *t)
{
	t->w = alloc_floats(t->n);
	normals(t->w, t->n);
	for (size_t i = 0; i < t->n; i++)
		t->w[i] = t->mean + t->std * t->w[i];
	if (t->mode != ADAM)
		return;
	t->m = alloc_floats(t->n);
	t->v = alloc_floats(t->n);
	t->sigma = alloc_floats(t->n);
	normals(t->sigma, t->n);
	/* gradient sizes differ from weight to weight by about e^±0.7 */
	for (size_t i = 0; i < t->n; i++)
		t->sigma[i] = t->gscale * expf(0.7f * t->sigma[i]);
}

/* The optimizer state some hundred steps later: exp_avg (beta1 0.9) has
 * forgotten the last version, exp_avg_sq (beta2 0.999) mostly remembers it;
 * the weights moved by about DRIFT of their spread. */
static void adam_step(tensor *t, float *tmp)
{
	size_t n = t->n;

	normals(tmp, n);
	for (size_t i = 0; i < n; i++) /* the gradient scale wanders a little */
		t->sigma[i] *= expf(0.1f * tmp[i]);
	normals(tmp, n);
	for (size_t i = 0; i < n; i++) /* EMA of 10 noisy gradients, with a bias */
		t->m[i] = t->sigma[i] * (0.05f + 0.23f * tmp[i]);
	normals(tmp, n);
	for (size_t i = 0; i < n; i++) { /* EMA of ~1000 squared gradients */
		float s = t->sigma[i], r = 1.0f + 0.045f * tmp[i];
		t->v[i] = s * s * (r > 0.05f ? r : 0.05f);
	}
	normals(tmp, n);
	for (size_t i = 0; i < n; i++)
		t->w[i] += (float)g_drift * t->std * tmp[i];
}

static void advance(int version)
{
	size_t most = 0;
	float *tmp;

	if (version != g_version + 1) {
		fprintf(stderr, "mltensors: version %d after %d\n", version, g_version);
		exit(1);
	}
	g_version = version;
	for (size_t i = 0; i < g_nt; i++)
		most = g_t[i].n > most ? g_t[i].n : most;
	tmp = alloc_floats(most);
	for (size_t i = 0; i < g_nt; i++) {
		tensor *t = &g_t[i];
		if (version == 0) {
			init_tensor(t);
			if (t->mode == ADAM) /* the first checkpoint is already mid-run */
				adam_step(t, tmp);
		} else if (t->mode == TUNED) {
			normals(tmp, t->n);
			for (size_t j = 0; j < t->n; j++)
				t->w[j] += (float)g_drift * t->std * tmp[j];
		} else if (t->mode == ADAM) {
			adam_step(t, tmp);
		}
	}
	free(tmp);
}

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static void write_item(FILE *f, const char *path, const char *item, unsigned char *buf)
{
	char *end;
	unsigned long idx = strtoul(item, &end, 10);
	const float *src;
	tensor *t;
	size_t width, n;

	if (end == item || *end != ':' || idx >= g_nt)
		die("bad item '%s'", item);
	t = &g_t[idx];
	n = t->n;
	if (strcmp(end, ":bf16") == 0) {
		width = 2;
		for (size_t i = 0; i < n; i++) {
			uint32_t u = f32_bits(t->w[i]);
			u += 0x7FFF + ((u >> 16) & 1); /* round to nearest even */
			buf[2 * i] = (unsigned char)(u >> 16);
			buf[2 * i + 1] = (unsigned char)(u >> 24);
		}
	} else {
		if (strcmp(end, ":f32") == 0)
			src = t->w;
		else if (strcmp(end, ":m") == 0 && t->mode == ADAM)
			src = t->m;
		else if (strcmp(end, ":v") == 0 && t->mode == ADAM)
			src = t->v;
		else
			die("bad item '%s'", item);
		width = 4;
		for (size_t i = 0; i < n; i++) {
			uint32_t u = f32_bits(src[i]);
			buf[4 * i] = (unsigned char)u;
			buf[4 * i + 1] = (unsigned char)(u >> 8);
			buf[4 * i + 2] = (unsigned char)(u >> 16);
			buf[4 * i + 3] = (unsigned char)(u >> 24);
		}
	}
	if (fwrite(buf, width, n, f) != n)
		die("write %s failed", path);
}

static void append(char *rest)
{
	char *save = NULL, *path = strtok_r(rest, " \t\n", &save), *item;
	size_t most = 0;
	unsigned char *buf;
	FILE *f;

	if (path == NULL)
		die("append: no path%s", "");
	for (size_t i = 0; i < g_nt; i++)
		most = g_t[i].n > most ? g_t[i].n : most;
	buf = malloc(most * 4 + 1);
	f = fopen(path, "ab");
	if (buf == NULL || f == NULL)
		die("cannot open %s", path);
	while ((item = strtok_r(NULL, " \t\n", &save)) != NULL)
		write_item(f, path, item, buf);
	if (fclose(f) != 0)
		die("write %s failed", path);
	free(buf);
}

static void add_tensor(const char *args)
{
	char mode[16];
	tensor t = {0};
	unsigned long long n;

	if (sscanf(args, "%llu %f %f %f %15s", &n, &t.mean, &t.std, &t.gscale, mode) != 5 ||
	    n == 0)
		die("bad tensor line: %s", args);
	t.n = (size_t)n;
	if (strcmp(mode, "frozen") == 0)
		t.mode = FROZEN;
	else if (strcmp(mode, "tuned") == 0)
		t.mode = TUNED;
	else if (strcmp(mode, "adam") == 0)
		t.mode = ADAM;
	else
		die("bad mode '%s'", mode);
	if (g_nt == g_cap) {
		g_cap = g_cap ? 2 * g_cap : 64;
		g_t = realloc(g_t, g_cap * sizeof(*g_t));
		if (g_t == NULL)
			die("out of memory%s", "");
	}
	g_t[g_nt++] = t;
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;

	seed(1);
	while (getline(&line, &cap, stdin) > 0) {
		char *sp = strchr(line, ' ');
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sp == NULL)
			die("bad line: %s", line);
		*sp++ = '\0';
		if (strcmp(line, "seed") == 0)
			seed(strtoull(sp, NULL, 10));
		else if (strcmp(line, "drift") == 0)
			g_drift = strtod(sp, NULL);
		else if (strcmp(line, "tensor") == 0 && g_version < 0)
			add_tensor(sp);
		else if (strcmp(line, "version") == 0)
			advance(atoi(sp));
		else if (strcmp(line, "append") == 0 && g_version >= 0)
			append(sp);
		else
			die("unexpected '%s'", line);
	}
	free(line);
	if (ferror(stdin))
		die("reading the spec: %s", strerror(errno));
	return 0;
}
