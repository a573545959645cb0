/*
 * markdown.h - a small, safe Markdown to HTML renderer for the README the
 * web pages show below a folder's listing. The README is untrusted: the
 * output only ever holds the fixed tags listed below, every byte of the
 * input reaches it escaped, and links point only to http, https, mailto or
 * scheme-less (relative) URLs.
 *
 * The subset, CommonMark-like where that is cheap:
 *  - blocks: ATX headings (# .. ######, written one level down as h2 .. h6
 *    since the page has its h1), paragraphs, one level of - * + and 1. 1)
 *    lists (deeper indentation is flattened, items are always "tight"),
 *    fenced code (``` or ~~~, unclosed runs to the end, a [A-Za-z0-9_+-]
 *    info word becomes class="language-..."), indented code (4 spaces),
 *    block quotes holding paragraphs, rules (--- *** ___);
 *  - inlines: `code`, *em* _em_, **strong** __strong__ (an opener pairs
 *    only with a closer of the same character and length, at most 8 pairs
 *    open at once), [text](url "title"), <https://...> and <a@b.c>
 *    autolinks, backslash escapes; ![alt](src) becomes a link to src.
 * Tags written: h2..h6 p ul ol li pre code em strong a blockquote hr.
 *
 * Input bytes: CR and CRLF end lines like LF; NUL, the other C0 controls
 * but tab and LF, DEL, and each byte that does not start a well-formed
 * UTF-8 sequence are written as U+FFFD. Work is linear in the input (a
 * byte may be rescanned by up to 33 link destinations); memory is a few
 * times the input, plus 12 KiB of stack.
 */
#ifndef CAIRN_SERVER_MARKDOWN_H
#define CAIRN_SERVER_MARKDOWN_H

#include <stddef.h>
#include <stdio.h>

/*
 * Render Markdown text md (len bytes, need not be NUL-terminated, may hold
 * any bytes) as HTML into out. Returns 0, CAIRN_ENOMEM (an allocation
 * failed) or CAIRN_EIO (writing to out failed); sets no error message, the
 * caller does. Output may be partial on error. Thread safe (no globals).
 */
int cairn__markdown_html(FILE *out, const char *md, size_t len);

#endif /* CAIRN_SERVER_MARKDOWN_H */
