/*
 * test_markdown.c - the README renderer (server/markdown.h): the exact HTML
 * for each construct it knows, hostile documents (raw HTML, script URLs in
 * every spelling, quotes breaking out of attributes, unclosed and deeply
 * nested markup, a MiB of one bracket), bytes that are not text, write
 * errors, and properties checked on thousands of generated documents.
 *
 * html_ok() below is the safety net the properties rest on, written
 * independently of the renderer: it walks the output and accepts only the
 * renderer's own tags with their own attributes, entities among the five
 * the renderer writes, hrefs whose scheme (after entity decoding, as a
 * browser would) is http, https, mailto or absent, tags that balance, no
 * link inside a link, and well-formed UTF-8 without control characters.
 */
#include "harness.h"

#include "cairn/errors.h"
#include "markdown.h"

#include <strings.h>
#include <time.h>

/* ---- rendering ---- */

static char *render_n(const char *md, size_t len, int *rc)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	if (f == NULL) {
		perror("open_memstream");
		exit(2);
	}
	*rc = cairn__markdown_html(f, md, len);
	fclose(f);
	return buf;
}

#define EXPECT(md, html) expect_((md), sizeof(md) - 1, (html), __LINE__)

static void expect_(const char *md, size_t len, const char *want, int line)
{
	int rc;
	char *got = render_n(md, len, &rc);

	test_check_(rc == 0 && strcmp(got, want) == 0, __FILE__, line, md,
		    "rc %d\n  got:  \"%s\"\n  want: \"%s\"", rc, got, want);
	free(got);
}

/* ---- the output checker ---- */

#include "markdown_check.h"


static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Renders md (in *ms milliseconds, if asked) and checks the output is
 * safe; returns it, or NULL. */
static char *check_safe(const char *md, size_t len, const char *what, int line, double *ms)
{
	const char *why = "";
	int rc;
	double t0 = now_ms();
	char *out = render_n(md, len, &rc);
	if (ms)
		*ms = now_ms() - t0;
	int ok = rc == 0 && html_ok(out, &why) && strstr(out, "<script") == NULL &&
		 strstr(out, "<img") == NULL;

	if (!test_check_(ok, __FILE__, line, what, "rc %d, %s", rc, why)) {
		free(out);
		return NULL;
	}
	return out;
}

/* ---- the cases ---- */

static void test_checker(void)
{
	/* the checker itself must refuse what escaping or url checks would let by */
	static const char *const bad[] = {
		"<p><script>alert(1)</script></p>\n",
		"<p><img src=x onerror=alert(1)></p>\n",
		"<p><a href=\"javascript:alert(1)\" rel=\"nofollow noopener noreferrer\">x</a></p>\n",
		"<p><a href=\"&#106;avascript:x\" rel=\"nofollow noopener noreferrer\">x</a></p>\n",
		"<p><a href=\"JaVaScRiPt&#58;x\">x</a></p>\n",
		"<p><a href=\"java\tscript:x\">x</a></p>\n",
		"<p><a href=\"x\" onclick=\"y\">x</a></p>\n",
		"<p><a href=\"x\" title=\"\"><script>\">x</a></p>\n",
		"<p>a \" b</p>\n",
		"<p><em>x</p></em>\n",
		"<p><em>x</em>\n",
		("<p><a href=\"/a\" rel=\"nofollow noopener noreferrer\"><a href=\"/b\" "
		 "rel=\"nofollow noopener noreferrer\">x</a></a></p>\n"),
		"<p>&lt;x&copy;</p>\n",
		"<p>\xff</p>\n",
	};
	const char *why;

	test_section("checker");
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECKF(!html_ok(bad[i], &why), "accepted %s", bad[i]);
	CHECK(html_ok("<h2>a</h2>\n<p><a href=\"https://x/?a=1&amp;b\" title=\"t&quot;\" "
		      "rel=\"nofollow noopener noreferrer\"><em>b</em></a></p>\n<hr>\n"
		      "<ol start=\"3\">\n<li>x</li>\n</ol>\n<pre><code class=\"language-c\">"
		      "&lt;x&gt;\n</code></pre>\n",
		      &why));
}

static void test_blocks(void)
{
	test_section("blocks");
	EXPECT("", "");
	EXPECT("\n\n  \n", "");
	EXPECT("# Title", "<h2>Title</h2>\n");
	EXPECT("## Two\n### Three\n#### 4\n##### 5\n###### 6",
	       "<h3>Two</h3>\n<h4>Three</h4>\n<h5>4</h5>\n<h6>5</h6>\n<h6>6</h6>\n");
	EXPECT("####### seven", "<p>####### seven</p>\n");
	EXPECT("#hashtag", "<p>#hashtag</p>\n");
	EXPECT("## closed ##  ", "<h3>closed</h3>\n");
	EXPECT("# C#", "<h2>C#</h2>\n");
	EXPECT("#", "<h2></h2>\n");
	EXPECT("   # indented", "<h2>indented</h2>\n");
	EXPECT("para\n# head\nmore", "<p>para</p>\n<h2>head</h2>\n<p>more</p>\n");
	EXPECT("one\ntwo  \n\n\nthree", "<p>one\ntwo</p>\n<p>three</p>\n");
	EXPECT("  lead and trail  ", "<p>lead and trail</p>\n");

	EXPECT("- a\n- b\n", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n");
	EXPECT("* a\n+ b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n");
	EXPECT("1. a\n2. b", "<ol>\n<li>a</li>\n<li>b</li>\n</ol>\n");
	EXPECT("3) a\n4) b", "<ol start=\"3\">\n<li>a</li>\n<li>b</li>\n</ol>\n");
	EXPECT("0. zero", "<ol start=\"0\">\n<li>zero</li>\n</ol>\n");
	EXPECT("007. bond", "<ol start=\"7\">\n<li>bond</li>\n</ol>\n");
	EXPECT("123456789. max", "<ol start=\"123456789\">\n<li>max</li>\n</ol>\n");
	EXPECT("1234567890. too long", "<p>1234567890. too long</p>\n");
	EXPECT("- a\nlazy\n- b", "<ul>\n<li>a\nlazy</li>\n<li>b</li>\n</ul>\n");
	EXPECT("- a\n\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n");
	EXPECT("- a\n\npara", "<ul>\n<li>a</li>\n</ul>\n<p>para</p>\n");
	EXPECT("- a\n  - nested\n      - deeper",
	       "<ul>\n<li>a</li>\n<li>nested</li>\n<li>deeper</li>\n</ul>\n");
	EXPECT("- a\n1. b", "<ul>\n<li>a</li>\n</ul>\n<ol>\n<li>b</li>\n</ol>\n");
	EXPECT("-\n- b", "<ul>\n<li></li>\n<li>b</li>\n</ul>\n");
	EXPECT("text\n- item", "<p>text</p>\n<ul>\n<li>item</li>\n</ul>\n");
	EXPECT("text\n2. not a list", "<p>text\n2. not a list</p>\n");
	EXPECT("text\n1. a list", "<p>text</p>\n<ol>\n<li>a list</li>\n</ol>\n");
	EXPECT("-not an item", "<p>-not an item</p>\n");

	EXPECT("```c\nint a<b;\n\n```\n",
	       "<pre><code class=\"language-c\">int a&lt;b;\n\n</code></pre>\n");
	EXPECT("~~~ python extra words\nx\n~~~",
	       "<pre><code class=\"language-python\">x\n</code></pre>\n");
	EXPECT("```c++\nx\n```", "<pre><code class=\"language-c++\">x\n</code></pre>\n");
	EXPECT("```\"><script>\nx\n```", "<pre><code>x\n</code></pre>\n");
	EXPECT("```a\"b\nx\n```", "<pre><code>x\n</code></pre>\n");
	EXPECT("```abcdefghijabcdefghijabcdefghijabc\nx\n```", "<pre><code>x\n</code></pre>\n");
	EXPECT("```\nunclosed\n<b>", "<pre><code>unclosed\n&lt;b&gt;\n</code></pre>\n");
	EXPECT("````\n```\n````", "<pre><code>```\n</code></pre>\n");
	EXPECT("~~~\n```\n~~~", "<pre><code>```\n</code></pre>\n");
	EXPECT("  ```\n  a\n   b\n c\n  ```", "<pre><code>a\n b\nc\n</code></pre>\n");
	EXPECT("``` a`b\n", "<p>``` a`b</p>\n"); /* not a fence, no code span */
	EXPECT("para\n```\ncode\n```", "<p>para</p>\n<pre><code>code\n</code></pre>\n");
	EXPECT("- a\n```\nx\n```\n2. b",
	       "<ul>\n<li>a</li>\n</ul>\n<pre><code>x\n</code></pre>\n"
	       "<ol start=\"2\">\n<li>b</li>\n</ol>\n");

	EXPECT("    x<y\n\n      z\n\n\nw",
	       "<pre><code>x&lt;y\n\n  z\n</code></pre>\n<p>w</p>\n");
	EXPECT("\tcode", "<pre><code>code\n</code></pre>\n");
	EXPECT("para\n    not code", "<p>para\nnot code</p>\n");

	EXPECT("> a\n> b\n>\n> c\nd",
	       "<blockquote>\n<p>a\nb</p>\n<p>c</p>\n</blockquote>\n<p>d</p>\n");
	EXPECT(">quote *em*", "<blockquote>\n<p>quote <em>em</em></p>\n</blockquote>\n");
	EXPECT("> # not a heading", "<blockquote>\n<p># not a heading</p>\n</blockquote>\n");
	EXPECT("para\n> quote", "<p>para</p>\n<blockquote>\n<p>quote</p>\n</blockquote>\n");
	EXPECT(">", "<blockquote>\n</blockquote>\n");

	EXPECT("a\n***\nb", "<p>a</p>\n<hr>\n<p>b</p>\n");
	EXPECT("---\n- - -\n_ _ _", "<hr>\n<hr>\n<hr>\n");
	EXPECT("--", "<p>--</p>\n");
	EXPECT("- a\n---", "<ul>\n<li>a</li>\n</ul>\n<hr>\n");
}

static void test_inlines(void)
{
	test_section("inlines");
	EXPECT("`a<b`", "<p><code>a&lt;b</code></p>\n");
	EXPECT("`` a`b ``", "<p><code>a`b</code></p>\n");
	EXPECT("` `` `", "<p><code>``</code></p>\n");
	EXPECT("`  `", "<p><code>  </code></p>\n");
	EXPECT("`*no* [x](/y)`", "<p><code>*no* [x](/y)</code></p>\n");
	EXPECT("`a\nb`", "<p><code>a b</code></p>\n");
	EXPECT("`unclosed", "<p>`unclosed</p>\n");
	EXPECT("``a`", "<p>``a`</p>\n");
	EXPECT("\\`not code`", "<p>`not code`</p>\n");
	EXPECT("\\``code`", "<p>`<code>code</code></p>\n");
	EXPECT("`a\\`b", "<p><code>a\\</code>b</p>\n");

	EXPECT("*em* _em_", "<p><em>em</em> <em>em</em></p>\n");
	EXPECT("**strong** __strong__", "<p><strong>strong</strong> <strong>strong</strong></p>\n");
	EXPECT("***both***", "<p><em><strong>both</strong></em></p>\n");
	EXPECT("*a **b** c*", "<p><em>a <strong>b</strong> c</em></p>\n");
	EXPECT("**a *b* c**", "<p><strong>a <em>b</em> c</strong></p>\n");
	EXPECT("**unbalanced", "<p>**unbalanced</p>\n");
	EXPECT("_unbalanced", "<p>_unbalanced</p>\n");
	EXPECT("*a **b* c**", "<p><em>a **b</em> c**</p>\n");
	EXPECT("**a*", "<p>**a*</p>\n");
	EXPECT("****four****", "<p>****four****</p>\n");
	EXPECT("snake_case_name", "<p>snake_case_name</p>\n");
	EXPECT("2*3*4", "<p>2<em>3</em>4</p>\n");
	EXPECT("a * b * c", "<p>a * b * c</p>\n");
	EXPECT("*a\nb*", "<p><em>a\nb</em></p>\n");
	EXPECT("\\*not em\\*", "<p>*not em*</p>\n");
	EXPECT("a\\\\b \\q \\", "<p>a\\b \\q \\</p>\n");

	EXPECT("[x](http://a.b/c?d=1&e=2 \"T\")",
	       "<p><a href=\"http://a.b/c?d=1&amp;e=2\" title=\"T\" "
	       "rel=\"nofollow noopener noreferrer\">x</a></p>\n");
	EXPECT("[x](/rel 'single') [y](#f (paren))",
	       "<p><a href=\"/rel\" title=\"single\" rel=\"nofollow noopener noreferrer\">x</a> "
	       "<a href=\"#f\" title=\"paren\" rel=\"nofollow noopener noreferrer\">y</a></p>\n");
	EXPECT("[a *b*](?q=1)",
	       "<p><a href=\"?q=1\" rel=\"nofollow noopener noreferrer\">a <em>b</em></a></p>\n");
	EXPECT("[x](<a b>)", "<p>x</p>\n"); /* whitespace inside: no href */
	EXPECT("[x](<./a(b>)",
	       "<p><a href=\"./a(b\" rel=\"nofollow noopener noreferrer\">x</a></p>\n");
	EXPECT("[x](foo(bar)baz)",
	       "<p><a href=\"foo(bar)baz\" rel=\"nofollow noopener noreferrer\">x</a></p>\n");
	EXPECT("[x](a\\)b)", "<p><a href=\"a)b\" rel=\"nofollow noopener noreferrer\">x</a></p>\n");
	EXPECT("[x]()", "<p><a href=\"\" rel=\"nofollow noopener noreferrer\">x</a></p>\n");
	EXPECT("[x](\n/next\n\"t\"\n)",
	       "<p><a href=\"/next\" title=\"t\" rel=\"nofollow noopener noreferrer\">x</a></p>\n");
	EXPECT("[x](./a:b)", "<p><a href=\"./a:b\" rel=\"nofollow noopener noreferrer\">x</a></p>\n");
	EXPECT("[m](MAILTO:a@b.c) [h](HTTPS://x)",
	       "<p><a href=\"MAILTO:a@b.c\" rel=\"nofollow noopener noreferrer\">m</a> "
	       "<a href=\"HTTPS://x\" rel=\"nofollow noopener noreferrer\">h</a></p>\n");
	EXPECT("[x] (/y)", "<p>[x] (/y)</p>\n");
	EXPECT("[x]", "<p>[x]</p>\n");
	EXPECT("[x](/y", "<p>[x](/y</p>\n");
	EXPECT("[x](/y \"t)", "<p>[x](/y &quot;t)</p>\n");
	EXPECT("[a]b](/u)", "<p>[a]b](/u)</p>\n");
	EXPECT("[[a]](/u)", "<p><a href=\"/u\" rel=\"nofollow noopener noreferrer\">[a]</a></p>\n");
	EXPECT("[a [b](/u) c](/v)",
	       "<p>[a <a href=\"/u\" rel=\"nofollow noopener noreferrer\">b</a> c](/v)</p>\n");
	EXPECT("*a [b* c](/u)",
	       "<p>*a <a href=\"/u\" rel=\"nofollow noopener noreferrer\">b* c</a></p>\n");
	EXPECT("*a [b](/u) c*",
	       "<p><em>a <a href=\"/u\" rel=\"nofollow noopener noreferrer\">b</a> c</em></p>\n");
	EXPECT("[`]`](/u)", "<p><a href=\"/u\" rel=\"nofollow noopener noreferrer\"><code>]</code></a></p>\n");
	EXPECT("`[x`](/u)", "<p><code>[x</code>](/u)</p>\n");

	EXPECT("![alt *t*](/img.png)",
	       "<p><a href=\"/img.png\" rel=\"nofollow noopener noreferrer\">alt <em>t</em></a></p>\n");
	EXPECT("[![badge](/b.svg)](https://ci/x)",
	       "<p><a href=\"https://ci/x\" rel=\"nofollow noopener noreferrer\">badge</a></p>\n");
	EXPECT("![x]", "<p>![x]</p>\n");
	EXPECT("wow!", "<p>wow!</p>\n");

	EXPECT("<https://example.com/a?b&c>",
	       "<p><a href=\"https://example.com/a?b&amp;c\" rel=\"nofollow noopener noreferrer\">"
	       "https://example.com/a?b&amp;c</a></p>\n");
	EXPECT("<me.x+y@ex-ample.com>",
	       "<p><a href=\"mailto:me.x+y@ex-ample.com\" rel=\"nofollow noopener noreferrer\">"
	       "me.x+y@ex-ample.com</a></p>\n");
	EXPECT("<a@-bad.com> <a@b> <https://a b>",
	       "<p>&lt;a@-bad.com&gt; <a href=\"mailto:a@b\" rel=\"nofollow noopener noreferrer\">"
	       "a@b</a> &lt;https://a b&gt;</p>\n");
	EXPECT("[<https://in>](/out)",
	       "<p><a href=\"/out\" rel=\"nofollow noopener noreferrer\">&lt;https://in&gt;</a></p>\n");
	EXPECT("a < b > c", "<p>a &lt; b &gt; c</p>\n");
}

static void test_hostile(void)
{
	test_section("hostile");
	EXPECT("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n");
	EXPECT("<img src=x onerror=alert(1)>", "<p>&lt;img src=x onerror=alert(1)&gt;</p>\n");
	EXPECT("<!-- c --> &lt; &amp; &#106; \"q\" 'a'",
	       "<p>&lt;!-- c --&gt; &amp;lt; &amp;amp; &amp;#106; &quot;q&quot; &#39;a&#39;</p>\n");
	EXPECT("# <b>x</b>", "<h2>&lt;b&gt;x&lt;/b&gt;</h2>\n");
	EXPECT("- <i>", "<ul>\n<li>&lt;i&gt;</li>\n</ul>\n");
	EXPECT("`<script>`", "<p><code>&lt;script&gt;</code></p>\n");

	EXPECT("[x](javascript:alert(1))", "<p>x</p>\n");
	EXPECT("[x](JAVASCRIPT:alert(1))", "<p>x</p>\n");
	EXPECT("[x](JaVaScRiPt:alert(1))", "<p>x</p>\n");
	EXPECT("[x]( javascript:alert(1))", "<p>x</p>\n");
	EXPECT("[x](<javascript:alert(1)>)", "<p>x</p>\n");
	EXPECT("[x](javascript\\:alert(1))", "<p>x</p>\n");
	EXPECT("[x](java&#115;cript:alert(1))", "<p>x</p>\n");
	EXPECT("[x](&#106;avascript:alert(1))", "<p>x</p>\n");
	EXPECT("[x](javascript&colon;alert(1))", "<p>x</p>\n");
	EXPECT("[x](/a&b:c?d&e:f)",
	       "<p><a href=\"/a&amp;b:c?d&amp;e:f\" rel=\"nofollow noopener noreferrer\">x</a></p>\n");
	EXPECT("[x](data:text/html,<script>alert(1)</script>)", "<p>x</p>\n");
	EXPECT("[x](vbscript:msgbox)", "<p>x</p>\n");
	EXPECT("[x](:nothing)", "<p>x</p>\n");
	EXPECT("[x](file:///etc/passwd)", "<p>x</p>\n");
	EXPECT("[x](java\tscript:alert(1))", "<p>[x](java\tscript:alert(1))</p>\n");
	EXPECT("[x](<java\tscript:alert(1)>)", "<p>x</p>\n");
	EXPECT("[x](<java\nscript:alert(1)>)", "<p>[x](&lt;java\nscript:alert(1)&gt;)</p>\n");
	EXPECT("[x](\x01javascript:alert(1))", "<p>x</p>\n"); /* U+FFFD, then a scheme */
	EXPECT("[x](<\x01javascript:alert(1)>)", "<p>x</p>\n");
	EXPECT("[x](\xc2\xa0javascript:alert(1))", "<p>x</p>\n");
	EXPECT("![x](javascript:alert(1))", "<p>x</p>\n");
	EXPECT("<javascript:alert(1)>", "<p>&lt;javascript:alert(1)&gt;</p>\n");
	EXPECT("<JavaScript:alert(1)>", "<p>&lt;JavaScript:alert(1)&gt;</p>\n");
	EXPECT("<data:text/html,x>", "<p>&lt;data:text/html,x&gt;</p>\n");
	EXPECT("[a\"><script>](/u\"><script> \"\\\"><script>\")",
	       "<p><a href=\"/u&quot;&gt;&lt;script&gt;\" title=\"&quot;&gt;&lt;script&gt;\" "
	       "rel=\"nofollow noopener noreferrer\">a&quot;&gt;&lt;script&gt;</a></p>\n");
	EXPECT("[x](/u 'it''s')", "<p>[x](/u &#39;it&#39;&#39;s&#39;)</p>\n");
	EXPECT("[x](/u '\"><img src=x onerror=alert(1)>')",
	       "<p><a href=\"/u\" title=\"&quot;&gt;&lt;img src=x onerror=alert(1)&gt;\" "
	       "rel=\"nofollow noopener noreferrer\">x</a></p>\n");
	EXPECT("```js\" onmouseover=\"alert(1)\nx\n```", "<pre><code>x\n</code></pre>\n");
	EXPECT("**a _b** c_", "<p><strong>a _b</strong> c_</p>\n");
}

static void test_bytes(void)
{
	test_section("bytes");
	EXPECT("a\0b", "<p>a\xef\xbf\xbd" "b</p>\n");
	EXPECT("\xff\xfe", "<p>\xef\xbf\xbd\xef\xbf\xbd</p>\n");
	EXPECT("\xc0\x80", "<p>\xef\xbf\xbd\xef\xbf\xbd</p>\n");          /* overlong NUL */
	EXPECT("\xed\xa0\x80", "<p>\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd</p>\n"); /* surrogate */
	EXPECT("\xf4\x90\x80\x80", "<p>\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd</p>\n");
	EXPECT("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	       "<p>caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80</p>\n");
	EXPECT("\xe2\x82", "<p>\xef\xbf\xbd\xef\xbf\xbd</p>\n"); /* cut short at the end */
	EXPECT("\xef\xbb\xbf# bom", "<h2>bom</h2>\n");
	EXPECT("a\x1b[31mb\x7f", "<p>a\xef\xbf\xbd[31mb\xef\xbf\xbd</p>\n");
	EXPECT("a\r\nb\r\rc\r", "<p>a\nb</p>\n<p>c</p>\n");
	EXPECT("# t\r\n```\r\nx\r\n```\r\n", "<h2>t</h2>\n<pre><code>x\n</code></pre>\n");
	EXPECT("tab\there", "<p>tab\there</p>\n");
}

static void test_errors(void)
{
	int rc;
	char *out;
	FILE *f;

	test_section("errors");
	out = render_n(NULL, 0, &rc);
	CHECK(rc == 0 && out[0] == 0);
	free(out);
	f = fopen("/dev/full", "w");
	if (f == NULL) {
		printf("# no /dev/full: write errors not checked\n");
		return;
	}
	setvbuf(f, NULL, _IONBF, 0);
	CHECK(cairn__markdown_html(f, "# x\n\ny", 6) == CAIRN_EIO);
	fclose(f);
}

/* Nesting and size: bounded output depth, linear time. */
static void test_big(void)
{
	enum { MIB = 1 << 20 };
	static const char *const units[] = {
		"[", "(", "`", "*", "_", "![", "](", "[](", "[a](", "](<", "<", "<a", "<http:",
		"` `` ``` ", "*a ", "_a_ ", "[a](b \"", "[a](b (", "[x](<", "\\", ">", "a](b(",
		"[a](b(", "``\n", "- ", "> ", "# ", "```\n", "    ", "*_", "[*", "<a@", "&",
		"[a](javascript:x)", "<javascript:x>", "[a](b)\n",
	};
	char *buf = test_xmalloc(MIB + 64);
	double worst = 0;
	const char *worst_unit = "";

	test_section("big");
	for (size_t u = 0; u < sizeof units / sizeof *units; u++) {
		size_t ul = strlen(units[u]), n = 0;
		while (n + ul <= MIB) {
			memcpy(buf + n, units[u], ul);
			n += ul;
		}
		double ms;
		char *out = check_safe(buf, n, units[u], __LINE__, &ms);
		if (ms > worst)
			worst = ms, worst_unit = units[u];
		free(out);
	}
	printf("# slowest 1 MiB document: %.1f ms (\"%s\" repeated)\n", worst, worst_unit);

	/* shapes that are quadratic for a naive look-ahead */
	static const char *const shapes[][3] = {
		{ "[", "](a ", ")" },    /* destinations failing far away */
		{ "[", "](a(b)", "" },   /* nested destinations */
		{ "*a _a ", "x", " a_ a*" }, /* emphasis as deep as it goes */
		{ "[", "x", "](/u)" },   /* links inside links */
		{ "![", "x", "](/u)" },  /* images inside images */
		{ "`", "``", "```" },
		{ "[a](<", "b", ">" },
		{ "<a", "@b.", "c>" },
	};
	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
		size_t n = 0, k = MIB / 16;
		for (int part = 0; part < 3; part++) {
			size_t l = strlen(shapes[s][part]);
			for (size_t i = 0; i < k && n + l <= MIB; i++, n += l)
				memcpy(buf + n, shapes[s][part], l);
		}
		double ms;
		char *out = check_safe(buf, n, shapes[s][0], __LINE__, &ms);
		printf("# shape %zu (%zu bytes): %.1f ms\n", s, n, ms);
		free(out);
	}

	/* 10000 of one character: all literal, nothing nested */
	static const char chars[] = "*[_`(!<>#-";
	for (const char *c = chars; *c; c++) {
		memset(buf, *c, 10000);
		char *out = check_safe(buf, 10000, "10000 of one character", __LINE__, NULL);
		if (strchr("*_-`", *c) == NULL) /* a rule or a fence */
			CHECKF(out && strlen(out) >= 10000, "'%c'", *c);
		free(out);
	}

	/* emphasis 12 deep: the first 8 pairs are tags, the rest stays text */
	static const char deep[] =
		"*a _b *c _d *e _f *g _h *i _j *k _l x_ l* k_ j* i_ h* g_ f* e_ d* c_ b*";
	int rc;
	char *out = render_n(deep, sizeof deep - 1, &rc);
	const char *why = "";
	CHECKF(rc == 0 && html_ok(out, &why), "%s", why);
	size_t ems = 0;
	for (const char *p = out; (p = strstr(p, "<em>")) != NULL; p++)
		ems++;
	CHECK_EQ_U64(ems, 8);
	CHECK(strstr(out, "<em>h *i _j *k _l x_ l* k_ j* i</em>") != NULL);
	free(out);
	free(buf);
}

/* Generated documents: safe output, and plain text comes back escaped. */
static void test_properties(void)
{
	static const char *const words[] = {
		"<", ">", "\"", "'", "&", "javascript:", "JaVaScRiPt:", "data:", "vbscript:",
		"http://x", "https://y/", "mailto:", "(", ")", "[", "]", "![", "](", "*", "**",
		"_", "__", "`", "``", "```", "~~~", "\n", "\n\n", "# ", "###### ", "- ", "* ",
		"1. ", "7) ", "> ", "    ", " ", "\t", "\\", "a", "word", "\r", "\r\n", "\0",
		"\xff", "\xc3\xa9", "&#106;", "&lt;", "<script>", "onerror=", "<a@b.c>",
		"<http://a>", "<javascript:x>", "\"t\"", "'t'", ":", "/", "#", "?", "%", "---",
		"<img src=x onerror=alert(1)>", "\x01", "\x7f", "<!--", "-->", "c++", "'>",
	};
	enum { N = 4000 };
	char doc[4096];
	uint64_t seed = 0x6d61726b646f776eULL;
	size_t failed = 0, links = 0;

	test_section("properties");
	for (int i = 0; i < N; i++) {
		size_t n = 0, count = splitmix64_next(&seed) % 120;
		for (size_t w = 0; w < count; w++) {
			const char *word = words[splitmix64_next(&seed) % (sizeof words / sizeof *words)];
			size_t l = word[0] ? strlen(word) : 1; /* "\0" is one NUL */
			memcpy(doc + n, word, l);
			n += l;
		}
		const char *why = "";
		int rc;
		char *out = render_n(doc, n, &rc);
		if (!(rc == 0 && html_ok(out, &why)) && failed++ < 5)
			test_check_(0, __FILE__, __LINE__, "generated document", "%s in\n%.*s\n->\n%s",
				    why, (int)n, doc, out);
		links += strstr(out, "<a href") != NULL;
		free(out);
	}
	CHECKF(failed == 0, "%zu of %d generated documents", failed, N);
	CHECKF(links > N / 20, "only %zu of %d documents had a link: generator too weak", links, N);

	/* text without markup comes back whole, escaped, as one paragraph */
	static const char plain[] = "abc XYZ.,;:<>&\"'/=?%";
	failed = 0;
	for (int i = 0; i < 1000; i++) {
		size_t n = 1 + splitmix64_next(&seed) % 60;
		char want[2048], *w = want;
		for (size_t k = 0; k < n; k++) {
			doc[k] = plain[splitmix64_next(&seed) % (sizeof plain - 1)];
			if (k == 0 && (doc[k] == ' ' || doc[k] == '>'))
				doc[k] = 'a';
		}
		while (doc[n - 1] == ' ')
			n--;
		w += sprintf(w, "<p>");
		for (size_t k = 0; k < n; k++) {
			switch (doc[k]) {
			case '<': w += sprintf(w, "&lt;"); break;
			case '>': w += sprintf(w, "&gt;"); break;
			case '&': w += sprintf(w, "&amp;"); break;
			case '"': w += sprintf(w, "&quot;"); break;
			case '\'': w += sprintf(w, "&#39;"); break;
			default: *w++ = doc[k];
			}
		}
		sprintf(w, "</p>\n");
		int rc;
		char *out = render_n(doc, n, &rc);
		int ok = rc == 0 && strcmp(out, want) == 0;
		/* "<a:b>"-like text is an autolink: the one legitimate difference */
		if (!ok && strstr(out, "<a href") == NULL && failed++ < 5)
			test_check_(0, __FILE__, __LINE__, "plain text", "%.*s -> %s", (int)n, doc, out);
		free(out);
	}
	CHECKF(failed == 0, "%zu plain texts changed", failed);
}

int main(void)
{
	test_checker();
	test_blocks();
	test_inlines();
	test_hostile();
	test_bytes();
	test_errors();
	test_big();
	test_properties();
	return test_done();
}
