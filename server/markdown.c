/*
 * markdown.c - the Markdown renderer behind a folder's README (markdown.h).
 *
 * Two levels, as in CommonMark. Blocks are read line by line with a little
 * state (an open paragraph or list item, list, quote, code block); the text
 * of a paragraph or item is gathered in place in our cleaned copy of the
 * input, its lines joined by LF. Inlines then turn that text into a flat
 * array of tokens: code spans and autolinks as they come, links with a
 * bracket stack (a link is formed when "](" follows an active opener),
 * emphasis with a delimiter list paired after the fact, CommonMark's way
 * but simplified: a run pairs only with a run of the same character and
 * length. Pairs always nest, so writing the tokens out in order gives
 * well-formed HTML; links inside links and emphasis deeper than
 * EM_MAX_DEPTH are written as their text.
 *
 * Safety rests on three things: every input byte goes out through esc();
 * the only tags are the literals in this file; an href is written only if
 * url_safe() accepts it (http, https, mailto, or no scheme at all).
 *
 * Bounded work: nothing recurses. Code spans find their closer through
 * the backtick runs grouped by length, one cursor per length. A link destination is scanned only
 * when an active opener waits, stops at whitespace and at more than
 * DEST_MAX_PARENS open parentheses, so any byte is scanned by at most
 * DEST_MAX_PARENS + 1 of them; titles stop at the next quote. Emphasis
 * pairing keeps a floor per kind of run, so each run is looked at a
 * bounded number of times.
 */
#include "markdown.h"

#include "cairn/errors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EM_MAX_DEPTH 8     /* emphasis pairs open at once; deeper ones stay text */
#define DEST_MAX_PARENS 32 /* open "(" inside a link destination */
#define TICKS_MAX 1000     /* longer runs of backticks never delimit code */

/* A piece of inline text: pos and len index the span being rendered. */
typedef struct tok {
	uint32_t pos, len;
	uint32_t aux; /* partner token; for an open bracket, the delimiter count */
	uint8_t kind, flags;
	char ch; /* '*' or '_' for emphasis */
} tok;

enum { K_TEXT, K_CODE, K_DELIM, K_EMO, K_EMC, K_BRACKET, K_LINK, K_LEND, K_AUTO };
enum { F_OPEN = 1, F_CLOSE = 2, F_IMAGE = 4, F_MAIL = 8, F_TEXT = 16 };

typedef struct md {
	FILE *out;
	int err;
	char obuf[4096]; /* output gathered into fewer fwrite calls */
	size_t on;
	char *s; /* the cleaned input */
	/* blocks */
	size_t leaf, leaf_len; /* gathered text of the open paragraph or item */
	int leaf_kind;         /* 0, 'p' or 'i' */
	int list;              /* 0, 'u' or 'o' */
	int quote;
	char fence;            /* '`' or '~' inside a fenced block */
	size_t fence_len, fence_ind;
	int icode;             /* inside an indented code block */
	size_t icode_blank;    /* blank lines held back inside it */
	/* inlines; brk, dl and ost grow with t (each holds token indices) */
	tok *t;
	uint32_t *brk, *dl, *ost;
	size_t nt, ct, nbrk, ndl, deact;
	uint32_t *ticks; /* backtick runs by length (backtick_runs) */
	size_t cticks, tick_max;
	uint32_t tick_at[TICKS_MAX + 2], tick_cur[TICKS_MAX + 1];
} md;

/* ---- output ---- */

static void flush_out(md *m)
{
	if (m->err == 0 && m->on > 0 && fwrite(m->obuf, 1, m->on, m->out) != m->on)
		m->err = CAIRN_EIO;
	m->on = 0;
}

static void put(md *m, const char *p, size_t n)
{
	if (n > sizeof m->obuf - m->on) {
		flush_out(m);
		if (n >= sizeof m->obuf) {
			if (m->err == 0 && fwrite(p, 1, n, m->out) != n)
				m->err = CAIRN_EIO;
			return;
		}
	}
	memcpy(m->obuf + m->on, p, n);
	m->on += n;
}

static void puts_(md *m, const char *p)
{
	put(m, p, strlen(p));
}

/* Text or attribute value; code set: LF becomes a space (code spans). */
static void esc_(md *m, const char *s, size_t n, int code)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		const char *r;
		switch (s[i]) {
		case '&': r = "&amp;"; break;
		case '<': r = "&lt;"; break;
		case '>': r = "&gt;"; break;
		case '"': r = "&quot;"; break;
		case '\'': r = "&#39;"; break;
		case '\n': if (!code) continue; r = " "; break;
		default: continue;
		}
		put(m, s + run, i - run);
		puts_(m, r);
		run = i + 1;
	}
	put(m, s + run, n - run);
}

static void esc(md *m, const char *s, size_t n)
{
	esc_(m, s, n, 0);
}

/* ---- characters ---- */

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

static int is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int in_set(char c, const char *set)
{
	return c != 0 && strchr(set, c) != NULL;
}

/* ASCII punctuation: !"#$%&'()*+,-./ :;<=>?@ [\]^_` {|}~ */
static int is_punct(char c)
{
	return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
	       (c >= '{' && c <= '~');
}

static int ieq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((a[i] | 0x20) != b[i])
			return 0;
	return 1;
}

/*
 * Whether url may be an href: no whitespace or controls anywhere; in its
 * head (what precedes the first '/', '?' or '#') no '&', since a character
 * reference there could spell a scheme to whatever decodes it; and the
 * scheme (the head up to its first ':') is http, https or mailto in any
 * case, or there is none.
 */
static int url_safe(const char *u, size_t n)
{
	size_t i, colon = n;

	for (i = 0; i < n; i++)
		if ((unsigned char)u[i] <= ' ' || u[i] == 0x7f)
			return 0;
	for (i = 0; i < n && u[i] != '/' && u[i] != '?' && u[i] != '#'; i++) {
		if (u[i] == '&')
			return 0;
		if (u[i] == ':' && colon == n)
			colon = i;
	}
	return colon == n || (colon == 4 && ieq(u, "http", 4)) ||
	       (colon == 5 && ieq(u, "https", 5)) || (colon == 6 && ieq(u, "mailto", 6));
}

/* ---- inline tokens ---- */

static void *resize(void *p, size_t n, size_t size)
{
	return n > SIZE_MAX / size ? NULL : realloc(p, n * size);
}

/* Appends a token (text joins text just before it) and returns its index,
 * or -1 (out of memory). */
static long push(md *m, int kind, size_t pos, size_t len)
{
	tok *last = m->nt > 0 ? &m->t[m->nt - 1] : NULL;

	if (kind == K_TEXT && last && last->kind == K_TEXT && last->pos + last->len == pos) {
		last->len += (uint32_t)len;
		return (long)m->nt - 1;
	}
	if (m->nt == m->ct) {
		size_t c = m->ct ? 2 * m->ct : 256;
		void *p;
		if ((p = resize(m->t, c, sizeof *m->t)) != NULL)
			m->t = p;
		if (p && (p = resize(m->brk, c, sizeof *m->brk)) != NULL)
			m->brk = p;
		if (p && (p = resize(m->dl, c, sizeof *m->dl)) != NULL)
			m->dl = p;
		if (p && (p = resize(m->ost, c, sizeof *m->ost)) != NULL)
			m->ost = p;
		if (p == NULL) {
			m->err = CAIRN_ENOMEM;
			return -1;
		}
		m->ct = c;
	}
	m->t[m->nt] = (tok){ .pos = (uint32_t)pos, .len = (uint32_t)len, .kind = (uint8_t)kind };
	return (long)m->nt++;
}

/* Counts (pass 0) or places (pass 1) the backtick runs of p by length. */
static size_t tick_pass(md *m, const char *p, size_t n, int pass)
{
	size_t max = 0;

	for (size_t i = 0, j; i < n; i = j) {
		for (j = i; j < n && p[j] == '`'; j++)
			;
		if (j == i) {
			j++;
		} else if (j - i <= TICKS_MAX && pass == 0) {
			m->tick_at[j - i + 1]++;
			max = j - i > max ? j - i : max;
		} else if (j - i <= TICKS_MAX) {
			m->ticks[m->tick_cur[j - i]++] = (uint32_t)i;
		}
	}
	return max;
}

/*
 * Every run of backticks in p, grouped by length, positions ascending:
 * those of length L are ticks[tick_at[L] .. tick_at[L + 1]). Two passes
 * over the text (a counting sort); work and clearing are O(n).
 */
static int backtick_runs(md *m, const char *p, size_t n)
{
	size_t max = m->tick_max, total;

	memset(m->tick_at, 0, (max + 2) * sizeof *m->tick_at);
	m->tick_max = max = tick_pass(m, p, n, 0);
	for (size_t l = 1; l <= max + 1; l++)
		m->tick_at[l] += m->tick_at[l - 1];
	total = m->tick_at[max + 1];
	if (total > m->cticks) {
		uint32_t *t = resize(m->ticks, total, sizeof *t);
		if (t == NULL) {
			m->err = CAIRN_ENOMEM;
			return -1;
		}
		m->ticks = t;
		m->cticks = total;
	}
	memcpy(m->tick_cur, m->tick_at, (max + 1) * sizeof *m->tick_cur);
	tick_pass(m, p, n, 1);
	memcpy(m->tick_cur, m->tick_at, (max + 1) * sizeof *m->tick_cur);
	return 0;
}

/*
 * The first run of exactly len backticks at or after from: 1 and *at, or
 * 0. from only grows within a span, so each length keeps a cursor.
 */
static int backtick_closer(md *m, size_t len, size_t from, size_t *at)
{
	uint32_t c;

	if (len > m->tick_max)
		return 0;
	for (c = m->tick_cur[len]; c < m->tick_at[len + 1] && m->ticks[c] < from; c++)
		;
	m->tick_cur[len] = c;
	if (c == m->tick_at[len + 1])
		return 0;
	*at = m->ticks[c];
	return 1;
}

/* <scheme:...> or <local@domain> at p[i] == '<': 1 with the '>' at *end. */
static int autolink(const char *p, size_t n, size_t i, size_t *end, int *mail)
{
	size_t k = i + 1, s = k;

	if (s < n && ((p[s] | 0x20) >= 'a' && (p[s] | 0x20) <= 'z')) {
		while (++s < n && s - k < 32 && (is_alnum(p[s]) || in_set(p[s], "+.-")))
			;
		if (s - k >= 2 && s < n && p[s] == ':') {
			while (++s < n && (unsigned char)p[s] > ' ' && p[s] != '<' && p[s] != '>')
				;
			*end = s;
			*mail = 0;
			return s < n && p[s] == '>';
		}
	}
	for (s = k; s < n && (is_alnum(p[s]) || in_set(p[s], ".!#$%&'*+/=?^_`{|}~-")); s++)
		;
	if (s == k || s >= n || p[s] != '@')
		return 0;
	for (;;) { /* domain labels: [A-Za-z0-9-]{1,63}, no '-' at either end */
		size_t l = ++s;
		while (s < n && s - l < 63 && (is_alnum(p[s]) || p[s] == '-'))
			s++;
		if (s == l || p[l] == '-' || p[s - 1] == '-' || s >= n)
			return 0;
		if (p[s] != '.')
			break;
	}
	*end = s;
	*mail = 1;
	return p[s] == '>';
}

static size_t skip_ws(const char *p, size_t n, size_t j)
{
	while (j < n && is_ws(p[j]))
		j++;
	return j;
}

/* Removes backslash escapes from p[pos, pos + *len) in place. */
static void unescape(char *p, size_t pos, size_t *len)
{
	size_t w = pos, end = pos + *len;

	for (size_t r = pos; r < end; r++) {
		if (p[r] == '\\' && r + 1 < end && is_punct(p[r + 1]))
			r++;
		p[w++] = p[r];
	}
	*len = w - pos;
}

typedef struct dest {
	size_t url, url_len, title, title_len, end;
} dest;

/* ( url "title" ) with p[j] just after the '(': 1 and *d, or 0. */
static int parse_dest(const char *p, size_t n, size_t j, dest *d)
{
	size_t k;

	j = skip_ws(p, n, j);
	if (j < n && p[j] == '<') {
		for (k = j + 1; k < n && p[k] != '>' && p[k] != '<' && p[k] != '\n'; k++)
			if (p[k] == '\\' && k + 1 < n && is_punct(p[k + 1]))
				k++;
		if (k >= n || p[k] != '>')
			return 0;
		d->url = j + 1;
		d->url_len = k - j - 1;
		j = k + 1;
	} else {
		int depth = 0;
		for (k = j; k < n && (unsigned char)p[k] > ' '; k++) {
			if (p[k] == '\\' && k + 1 < n && is_punct(p[k + 1])) {
				k++;
			} else if (p[k] == '(') {
				if (++depth > DEST_MAX_PARENS)
					return 0;
			} else if (p[k] == ')') {
				if (depth == 0)
					break;
				depth--;
			}
		}
		if (depth != 0)
			return 0;
		d->url = j;
		d->url_len = k - j;
		j = k;
	}
	k = skip_ws(p, n, j);
	d->title = d->title_len = 0;
	if (k > j && k < n && (p[k] == '"' || p[k] == '\'' || p[k] == '(')) {
		char close = p[k] == '(' ? ')' : p[k];
		size_t t = k + 1;
		for (; t < n && p[t] != close; t++) {
			if (p[t] == '\\' && t + 1 < n && is_punct(p[t + 1]))
				t++;
			else if (close == ')' && p[t] == '(')
				return 0;
		}
		if (t >= n)
			return 0;
		d->title = k + 1;
		d->title_len = t - k - 1;
		k = skip_ws(p, n, t + 1);
	}
	if (k >= n || p[k] != ')')
		return 0;
	d->end = k + 1;
	return 1;
}

static void pop_bracket(md *m)
{
	m->nbrk--;
	if (m->deact > m->nbrk)
		m->deact = m->nbrk;
}

/*
 * Pairs the delimiter runs dl[bottom..] (then drops them from the list):
 * for each run that can close, the nearest opener of the same character
 * and length; the openers passed over stay text. floor[kind] marks how far
 * down a search for that kind already failed.
 */
static void pair_emphasis(md *m, size_t bottom)
{
	size_t nost = 0, floor[6] = { 0 };

	for (size_t k = bottom; k < m->ndl; k++) {
		uint32_t d = m->dl[k];
		tok *c = &m->t[d];
		int kind = (c->ch == '_') * 3 + (int)c->len - 1;
		if (c->flags & F_CLOSE) {
			size_t j = nost;
			while (j > floor[kind] && (m->t[m->ost[j - 1]].ch != c->ch ||
						   m->t[m->ost[j - 1]].len != c->len))
				j--;
			if (j > floor[kind]) {
				uint32_t o = m->ost[j - 1];
				m->t[o].kind = K_EMO;
				m->t[o].aux = d;
				c->kind = K_EMC;
				c->aux = o;
				nost = j - 1;
				for (int f = 0; f < 6; f++)
					if (floor[f] > nost)
						floor[f] = nost;
				continue;
			}
			floor[kind] = nost;
		}
		if (c->flags & F_OPEN)
			m->ost[nost++] = d;
	}
	m->ndl = bottom;
}

/* At p[i] == ']': forms a link if an active opener waits and a destination
 * follows; returns where to go on. */
static size_t close_bracket(md *m, char *p, size_t n, size_t i)
{
	dest d;
	uint32_t o;
	long e;

	if (m->nbrk == 0)
		goto text;
	o = m->brk[m->nbrk - 1];
	if (!(m->t[o].flags & F_IMAGE) && m->nbrk - 1 < m->deact) {
		pop_bracket(m); /* inside a link already: links do not nest */
		goto text;
	}
	if (i + 1 >= n || p[i + 1] != '(' || !parse_dest(p, n, i + 2, &d)) {
		pop_bracket(m);
		goto text;
	}
	unescape(p, d.url, &d.url_len);
	unescape(p, d.title, &d.title_len);
	pair_emphasis(m, m->t[o].aux);
	if ((e = push(m, K_LEND, d.title, d.title_len)) < 0)
		return n;
	m->t[e].aux = o;
	m->t[o].kind = K_LINK;
	m->t[o].pos = (uint32_t)d.url;
	m->t[o].len = (uint32_t)d.url_len;
	m->t[o].aux = (uint32_t)e;
	pop_bracket(m);
	if (!(m->t[o].flags & F_IMAGE))
		m->deact = m->nbrk;
	return d.end;
text:
	push(m, K_TEXT, i, 1);
	return i + 1;
}

/* A run of len '*' or '_' at p[i]: may it open, close (CommonMark flanking)? */
static int flanking(const char *p, size_t n, size_t i, size_t len)
{
	char b = i > 0 ? p[i - 1] : ' ', a = i + len < n ? p[i + len] : ' ';
	int left = !is_ws(a) && (!is_punct(a) || is_ws(b) || is_punct(b));
	int right = !is_ws(b) && (!is_punct(b) || is_ws(a) || is_punct(a));

	if (p[i] == '_')
		return (left && (!right || is_punct(b)) ? F_OPEN : 0) |
		       (right && (!left || is_punct(a)) ? F_CLOSE : 0);
	return (left ? F_OPEN : 0) | (right ? F_CLOSE : 0);
}

static int special(const char *p, size_t n, size_t i)
{
	switch (p[i]) {
	case '\\': case '`': case '<': case '[': case ']': case '*': case '_':
		return 1;
	case '!':
		return i + 1 < n && p[i + 1] == '[';
	default:
		return 0;
	}
}

/* Turns p[0, n) into tokens; may rewrite link destinations in place. */
static void tokenize(md *m, char *p, size_t n)
{
	size_t i = 0, j, at;
	long k;

	while (i < n && m->err == 0) {
		char c = p[i];
		int mail;
		if (c == '\\' && i + 1 < n && is_punct(p[i + 1])) {
			push(m, K_TEXT, i + 1, 1);
			i += 2;
		} else if (c == '`') {
			for (j = i; j < n && p[j] == '`'; j++)
				;
			if (backtick_closer(m, j - i, j, &at)) {
				size_t b = j, e = at;
				int spaces = 1;
				for (size_t x = b; x < e && spaces; x++)
					spaces = p[x] == ' ' || p[x] == '\n';
				if (!spaces && (p[b] == ' ' || p[b] == '\n') &&
				    (p[e - 1] == ' ' || p[e - 1] == '\n'))
					b++, e--;
				push(m, K_CODE, b, e - b);
				i = at + (j - i);
			} else {
				push(m, K_TEXT, i, j - i);
				i = j;
			}
		} else if (c == '<' && autolink(p, n, i, &j, &mail)) {
			if ((k = push(m, K_AUTO, i + 1, j - i - 1)) >= 0)
				m->t[k].flags = mail ? F_MAIL : 0;
			i = j + 1;
		} else if (c == '[' || (c == '!' && i + 1 < n && p[i + 1] == '[')) {
			j = c == '[' ? 1 : 2;
			if ((k = push(m, K_BRACKET, i, j)) >= 0) {
				m->t[k].flags = c == '!' ? F_IMAGE : 0;
				m->t[k].aux = (uint32_t)m->ndl;
				m->brk[m->nbrk++] = (uint32_t)k;
			}
			i += j;
		} else if (c == ']') {
			i = close_bracket(m, p, n, i);
		} else if (c == '*' || c == '_') {
			for (j = i; j < n && p[j] == c; j++)
				;
			if (j - i <= 3 && (k = push(m, K_DELIM, i, j - i)) >= 0) {
				m->t[k].ch = c;
				m->t[k].flags = (uint8_t)flanking(p, n, i, j - i);
				m->dl[m->ndl++] = (uint32_t)k;
			} else if (j - i > 3) {
				push(m, K_TEXT, i, j - i);
			}
			i = j;
		} else {
			for (j = i + 1; j < n && !special(p, n, j); j++)
				;
			push(m, K_TEXT, i, j - i);
			i = j;
		}
	}
}

static void link_open(md *m, const char *href, size_t n, int mail, const tok *title,
		      const char *p)
{
	puts_(m, "<a href=\"");
	if (mail)
		puts_(m, "mailto:");
	esc(m, href, n);
	if (title && title->len > 0) {
		puts_(m, "\" title=\"");
		esc(m, p + title->pos, title->len);
	}
	puts_(m, "\" rel=\"nofollow noopener noreferrer\">");
}

static void render(md *m, const char *p)
{
	static const char *const open[] = { "<em>", "<strong>", "<em><strong>" };
	static const char *const close[] = { "</em>", "</strong>", "</strong></em>" };
	int depth = 0, in_a = 0;

	for (size_t k = 0; k < m->nt && m->err == 0; k++) {
		tok *t = &m->t[k];
		const char *s = p + t->pos;
		switch (t->kind) {
		case K_CODE:
			puts_(m, "<code>");
			esc_(m, s, t->len, 1);
			puts_(m, "</code>");
			break;
		case K_EMO:
			if (depth >= EM_MAX_DEPTH) {
				t->flags |= F_TEXT;
				esc(m, s, t->len);
			} else {
				depth++;
				puts_(m, open[t->len - 1]);
			}
			break;
		case K_EMC:
			if (m->t[t->aux].flags & F_TEXT) {
				esc(m, s, t->len);
			} else {
				depth--;
				puts_(m, close[t->len - 1]);
			}
			break;
		case K_LINK: /* unsafe, or inside a link: its text only */
			if (in_a || !url_safe(s, t->len)) {
				t->flags |= F_TEXT;
			} else {
				link_open(m, s, t->len, 0, &m->t[t->aux], p);
				in_a = 1;
			}
			break;
		case K_LEND:
			if (!(m->t[t->aux].flags & F_TEXT)) {
				puts_(m, "</a>");
				in_a = 0;
			}
			break;
		case K_AUTO:
			if (!in_a && ((t->flags & F_MAIL) || url_safe(s, t->len))) {
				link_open(m, s, t->len, t->flags & F_MAIL, NULL, p);
				esc(m, s, t->len);
				puts_(m, "</a>");
			} else {
				puts_(m, "&lt;");
				esc(m, s, t->len);
				puts_(m, "&gt;");
			}
			break;
		default: /* text, unpaired emphasis, brackets that formed no link */
			esc(m, s, t->len);
		}
	}
}

/* Renders the inline text p[0, n), which it may rewrite. */
static void inlines(md *m, char *p, size_t n)
{
	if (n > UINT32_MAX / 2) { /* token positions are 32-bit: plain text */
		esc(m, p, n);
		return;
	}
	m->nt = m->nbrk = m->ndl = m->deact = 0;
	if (backtick_runs(m, p, n) < 0)
		return;
	tokenize(m, p, n);
	if (m->err == 0) {
		pair_emphasis(m, 0);
		render(m, p);
	}
}

/* ---- blocks ---- */

/* Columns of leading white space (tabs to the next multiple of 4); *first is
 * where the line's text starts. */
static size_t indent(const char *s, size_t b, size_t e, size_t *first)
{
	size_t col = 0;

	for (; b < e && (s[b] == ' ' || s[b] == '\t'); b++)
		col = s[b] == '\t' ? (col / 4 + 1) * 4 : col + 1;
	*first = b;
	return col;
}

static int blank(const char *s, size_t b, size_t e)
{
	size_t f;
	indent(s, b, e, &f);
	return f == e;
}

/* Adds the line s[b, e), trimmed, to the open paragraph or item, joining
 * lines with LF in place: the text only ever moves toward the start. */
static void append(md *m, int kind, size_t b, size_t e)
{
	char *s = m->s;

	while (b < e && (s[b] == ' ' || s[b] == '\t'))
		b++;
	while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	m->leaf_kind = kind;
	if (e == b)
		return;
	if (m->leaf_len == 0) {
		m->leaf = b;
		m->leaf_len = e - b;
		return;
	}
	s[m->leaf + m->leaf_len] = '\n';
	memmove(s + m->leaf + m->leaf_len + 1, s + b, e - b);
	m->leaf_len += 1 + e - b;
}

static void flush_leaf(md *m)
{
	if (m->leaf_kind == 0)
		return;
	puts_(m, m->leaf_kind == 'p' ? "<p>" : "<li>");
	inlines(m, m->s + m->leaf, m->leaf_len);
	puts_(m, m->leaf_kind == 'p' ? "</p>\n" : "</li>\n");
	m->leaf_kind = 0;
	m->leaf_len = 0;
}

static void close_blocks(md *m)
{
	flush_leaf(m);
	if (m->list)
		puts_(m, m->list == 'u' ? "</ul>\n" : "</ol>\n");
	if (m->quote)
		puts_(m, "</blockquote>\n");
	m->list = m->quote = 0;
}

static int is_rule(const char *s, size_t f, size_t e)
{
	size_t count = 0;

	if (s[f] != '-' && s[f] != '*' && s[f] != '_')
		return 0;
	for (size_t k = f; k < e; k++) {
		if (s[k] == s[f])
			count++;
		else if (s[k] != ' ' && s[k] != '\t')
			return 0;
	}
	return count >= 3;
}

typedef struct item {
	int ordered, can_interrupt;
	unsigned long start;
	size_t text;
} item;

/* "- ", "* ", "+ ", "12. " or "12) " (1 to 9 digits), or the marker alone. */
static int parse_item(const char *s, size_t f, size_t e, item *it)
{
	size_t k = f;

	it->ordered = 0;
	if (s[k] == '-' || s[k] == '*' || s[k] == '+') {
		k++;
	} else {
		for (it->start = 0; k < e && k - f < 9 && s[k] >= '0' && s[k] <= '9'; k++)
			it->start = it->start * 10 + (unsigned long)(s[k] - '0');
		if (k == f || k >= e || (s[k] != '.' && s[k] != ')'))
			return 0;
		it->ordered = 1;
		k++;
	}
	if (k < e && s[k] != ' ' && s[k] != '\t')
		return 0;
	while (k < e && (s[k] == ' ' || s[k] == '\t'))
		k++;
	it->text = k;
	/* like CommonMark: a paragraph goes on unless the item has text and,
	 * if numbered, starts at 1 */
	it->can_interrupt = k < e && (!it->ordered || it->start == 1);
	return 1;
}

static void start_item(md *m, const item *it, size_t e)
{
	int kind = it->ordered ? 'o' : 'u';

	if (m->list != kind) {
		close_blocks(m);
		if (it->ordered && it->start != 1) {
			char buf[32];
			snprintf(buf, sizeof buf, "<ol start=\"%lu\">\n", it->start);
			puts_(m, buf);
		} else {
			puts_(m, it->ordered ? "<ol>\n" : "<ul>\n");
		}
		m->list = kind;
	}
	flush_leaf(m);
	m->leaf_len = 0;
	append(m, 'i', it->text, e);
}

static int heading(md *m, size_t f, size_t e)
{
	char *s = m->s, buf[8];
	size_t k = f, level;

	while (k < e && s[k] == '#' && k - f < 7)
		k++;
	level = k - f;
	if (level == 0 || level > 6 || (k < e && s[k] != ' ' && s[k] != '\t'))
		return 0;
	while (k < e && (s[k] == ' ' || s[k] == '\t'))
		k++;
	while (e > k && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	size_t c = e; /* a closing run of '#' after a space goes */
	while (c > k && s[c - 1] == '#')
		c--;
	if (c == k || s[c - 1] == ' ' || s[c - 1] == '\t') {
		e = c;
		while (e > k && (s[e - 1] == ' ' || s[e - 1] == '\t'))
			e--;
	}
	close_blocks(m);
	level = level < 6 ? level + 1 : 6;
	snprintf(buf, sizeof buf, "<h%zu>", level);
	puts_(m, buf);
	inlines(m, s + k, e - k);
	snprintf(buf, sizeof buf, "</h%zu>\n", level);
	puts_(m, buf);
	return 1;
}

static int fence_open(md *m, size_t f, size_t e, size_t ind)
{
	const char *s = m->s;
	size_t k = f, w;

	if (s[f] != '`' && s[f] != '~')
		return 0;
	while (k < e && s[k] == s[f])
		k++;
	if (k - f < 3 || (s[f] == '`' && memchr(s + k, '`', e - k) != NULL))
		return 0;
	close_blocks(m);
	m->fence = s[f];
	m->fence_len = k - f;
	m->fence_ind = ind;
	while (k < e && (s[k] == ' ' || s[k] == '\t'))
		k++;
	for (w = k; w < e && (is_alnum(s[w]) || s[w] == '_' || s[w] == '+' || s[w] == '-');)
		w++;
	puts_(m, "<pre><code");
	if (w > k && w - k <= 32 && (w == e || s[w] == ' ' || s[w] == '\t')) {
		puts_(m, " class=\"language-");
		put(m, s + k, w - k);
		puts_(m, "\"");
	}
	puts_(m, ">");
	return 1;
}

/* A line inside a fenced block: the closing fence, or code. */
static void fence_line(md *m, size_t b, size_t e, size_t f, size_t ind)
{
	const char *s = m->s;
	size_t k = f;

	while (k < e && s[k] == m->fence)
		k++;
	if (ind <= 3 && k - f >= m->fence_len && blank(s, k, e)) {
		puts_(m, "</code></pre>\n");
		m->fence = 0;
		return;
	}
	for (k = 0; k < m->fence_ind && b < e && s[b] == ' '; k++)
		b++;
	esc(m, s + b, e - b);
	puts_(m, "\n");
}

/* A line of an indented code block, less its first 4 columns. */
static void icode_line(md *m, size_t b, size_t e)
{
	size_t col = 0;

	for (; m->icode_blank > 0; m->icode_blank--)
		puts_(m, "\n");
	for (; b < e && col < 4 && (m->s[b] == ' ' || m->s[b] == '\t'); b++)
		col = m->s[b] == '\t' ? (col / 4 + 1) * 4 : col + 1;
	esc(m, m->s + b, e - b);
	puts_(m, "\n");
}

static void line(md *m, size_t b, size_t e)
{
	const char *s = m->s;
	size_t f, ind = indent(s, b, e, &f);
	item it;

	if (m->fence) {
		fence_line(m, b, e, f, ind);
		return;
	}
	if (m->icode) {
		if (f == e) {
			m->icode_blank++;
			return;
		}
		if (ind >= 4) {
			icode_line(m, b, e);
			return;
		}
		puts_(m, "</code></pre>\n");
		m->icode = 0;
		m->icode_blank = 0;
	}
	if (f == e) { /* a blank line ends paragraphs, items and quotes */
		flush_leaf(m);
		if (m->quote)
			close_blocks(m);
		return;
	}
	if (ind <= 3 && s[f] == '>') {
		if (!m->quote) {
			close_blocks(m);
			puts_(m, "<blockquote>\n");
			m->quote = 1;
		}
		f++;
		if (f < e && (s[f] == ' ' || s[f] == '\t'))
			f++;
		if (blank(s, f, e))
			flush_leaf(m);
		else
			append(m, 'p', f, e);
		return;
	}
	if (m->quote)
		close_blocks(m);
	if (ind <= 3 && is_rule(s, f, e)) {
		close_blocks(m);
		puts_(m, "<hr>\n");
	} else if ((ind <= 3 || m->list) && parse_item(s, f, e, &it) &&
		   (m->leaf_kind != 'p' || it.can_interrupt)) {
		start_item(m, &it, e);
	} else if (ind >= 4) {
		if (m->leaf_kind) {
			append(m, m->leaf_kind, f, e);
		} else {
			close_blocks(m);
			puts_(m, "<pre><code>");
			m->icode = 1;
			icode_line(m, b, e);
		}
	} else if (!fence_open(m, f, e, ind) && !heading(m, f, e)) {
		if (!m->leaf_kind)
			close_blocks(m); /* a list whose item a blank line ended */
		append(m, m->leaf_kind ? m->leaf_kind : 'p', f, e);
	}
}

/* ---- input ---- */

/* Length of the well-formed UTF-8 sequence at p (n > 0 bytes left), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t k;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		k = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		k = 3, lo = p[0] == 0xe0 ? 0xa0 : 0x80, hi = p[0] == 0xed ? 0x9f : 0xbf;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		k = 4, lo = p[0] == 0xf0 ? 0x90 : 0x80, hi = p[0] == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (n < k || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t j = 2; j < k; j++)
		if ((p[j] & 0xc0) != 0x80)
			return 0;
	return k;
}

/*
 * The input as the parser reads it, into out (NULL: only count): LF line
 * ends, no BOM, U+FFFD for NUL, controls but tab and LF, DEL and bytes
 * that start no well-formed UTF-8 sequence. Returns the length.
 */
static size_t clean(const unsigned char *in, size_t len, char *out)
{
	size_t i = 0, n = 0;

	if (len >= 3 && memcmp(in, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < len) {
		const unsigned char *src = in + i, c = in[i];
		size_t k, used;
		if (c == '\r') {
			src = (const unsigned char *)"\n";
			k = 1;
			used = i + 1 < len && in[i + 1] == '\n' ? 2 : 1;
		} else {
			k = c >= 0x80 ? utf8_len(src, len - i)
				      : (c >= 0x20 && c != 0x7f) || c == '\t' || c == '\n';
			used = k;
			if (k == 0) {
				src = (const unsigned char *)"\xef\xbf\xbd";
				k = 3;
				used = 1;
			}
		}
		if (out)
			memcpy(out + n, src, k);
		n += k;
		i += used;
	}
	return n;
}

int cairn__markdown_html(FILE *out, const char *md_text, size_t len)
{
	md m = { .out = out };
	size_t n = 0;

	if (len > SIZE_MAX / 4) {
		m.err = CAIRN_ENOMEM;
		goto done;
	}
	if (len > 0)
		n = clean((const unsigned char *)md_text, len, NULL);
	if ((m.s = malloc(n + 1)) == NULL) {
		m.err = CAIRN_ENOMEM;
		goto done;
	}
	if (len > 0)
		clean((const unsigned char *)md_text, len, m.s);
	for (size_t b = 0; b < n && m.err == 0;) {
		const char *nl = memchr(m.s + b, '\n', n - b);
		size_t e = nl ? (size_t)(nl - m.s) : n;
		line(&m, b, e);
		b = e + 1;
	}
	if (m.fence || m.icode)
		puts_(&m, "</code></pre>\n");
	close_blocks(&m);
	flush_out(&m);
done:
	free(m.s);
	free(m.t);
	free(m.brk);
	free(m.dl);
	free(m.ost);
	free(m.ticks);
	return m.err;
}
