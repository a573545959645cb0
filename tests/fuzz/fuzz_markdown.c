/*
 * fuzz_markdown.c - libFuzzer target for the README renderer
 * (server/markdown.h, compiled in as test_markdown does: a pure module).
 * Built as a fuzzer with clang and -DCAIRN_FUZZ=ON; replay.c feeds it the
 * stored corpus as an ordinary test with any compiler.
 *
 * The input is a README, any bytes, rendered by cairn__markdown_html into
 * an open_memstream. Besides the sanitizers (and libFuzzer's timeout: the
 * renderer promises linear work), the target aborts unless the output is
 * what markdown.h promises for untrusted input: rendering succeeds; the
 * output is UTF-8 text without NUL, C0 controls but tab and LF, or DEL;
 * every '<' opens one of the renderer's own tags (h2..h6 p ul ol li pre
 * code em strong a blockquote hr) with only its own attributes, so no
 * "<script", "<img" or "<!--" ever gets through; every '&' starts one of
 * the five entities it writes, and no '>', '"' or '\'' stands bare in text;
 * each href, read as a browser decodes the attribute, is http, https,
 * mailto or scheme-less, so no "javascript:" or "data:" link; tags are
 * balanced, no link sits inside a link, nesting stays under 64; and the
 * output is at most FUZZ_GROWTH times the input plus a constant. The
 * output checker is test_markdown.c's, so the two agree on the promise.
 *
 * To fuzz (new inputs go to the first directory, the stored corpus seeds it):
 *   CC=clang cmake -S . -B build-fuzz -DCAIRN_FUZZ=ON -DCAIRN_SANITIZE=ON
 *   cmake --build build-fuzz --target fuzz_markdown
 *   mkdir -p /tmp/markdown-corpus
 *   build-fuzz/tests/fuzz_markdown -dict=tests/fuzz/markdown.dict -max_len=4096
 *       -max_total_time=600 /tmp/markdown-corpus tests/fuzz/corpus/markdown
 */
#include "markdown.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Output bytes per input byte, at most (escapes, U+FFFD and a line's tags). */
#define FUZZ_GROWTH 64

#include "../markdown_check.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *html = NULL;
	size_t len = 0;
	const char *why = NULL;
	FILE *out = open_memstream(&html, &len);
	int rc;

	if (out == NULL)
		return 0;
	rc = cairn__markdown_html(out, (const char *)data, size);
	if (fclose(out) != 0 || html == NULL)
		abort();
	if (rc != 0) {
		fprintf(stderr, "fuzz_markdown: render failed: %d\n", rc);
		abort();
	}
	if (strlen(html) != len) {
		fprintf(stderr, "fuzz_markdown: NUL in the output\n");
		abort();
	}
	if (len > FUZZ_GROWTH * size + 256) {
		fprintf(stderr, "fuzz_markdown: %zu bytes out of %zu in\n", len, size);
		abort();
	}
	if (!html_ok(html, &why)) {
		fprintf(stderr, "fuzz_markdown: %s in:\n%s\n", why, html);
		abort();
	}
	free(html);
	return 0;
}
