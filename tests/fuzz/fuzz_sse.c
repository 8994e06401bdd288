// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libFuzzer target for the SSE parser, differential: the stream runs whole,
 * cut in two where the input says, and one byte at a time; the events
 * (hashed) and the counters must agree.  Every event must respect the cap
 * and hand out NUL-terminated strings.
 *
 * Input: byte 0 = cap on an event (0: none, else 4 * byte), byte 1 = where
 * to cut, then the stream.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sse.h"

struct trace {
	uint64_t h;
	size_t max_event;
};

static void mix(struct trace *t, const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n--)
		t->h = (t->h ^ *s++) * 0x100000001b3ull;
}

static int on_event(void *ctx, const struct sse_event *ev)
{
	struct trace *t = ctx;

	if (ev->event[ev->event_len] || ev->data[ev->data_len] || ev->id[ev->id_len])
		abort();
	if (ev->event_len + ev->data_len + ev->id_len > t->max_event)
		abort();
	mix(t, &ev->event_len, sizeof(ev->event_len));
	mix(t, ev->event, ev->event_len);
	mix(t, &ev->data_len, sizeof(ev->data_len));
	mix(t, ev->data, ev->data_len);
	mix(t, &ev->id_len, sizeof(ev->id_len));
	mix(t, ev->id, ev->id_len);
	return 0;
}

#define CUT_BYTES SIZE_MAX

static uint64_t run(size_t max_event, const uint8_t *d, size_t len, size_t cut)
{
	struct trace t = { .h = 0xcbf29ce484222325ull, .max_event = max_event };
	struct sse_parser *p = sse_parser__new(max_event, on_event, &t);
	struct sse_stats st;
	size_t pos, n;

	if (!p)
		abort();
	for (pos = 0; pos < len; pos += n) {
		n = cut == CUT_BYTES ? 1 : cut > pos && cut < len ? cut - pos : len - pos;
		if (sse_parser__feed(p, d + pos, n))
			abort();
	}
	if (sse_parser__finish(p))
		abort();
	sse_parser__stats(p, &st);
	mix(&t, &st, sizeof(st));
	sse_parser__free(p);
	return t.h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max_event, cut;
	uint64_t whole;

	if (size < 2)
		return 0;
	max_event = data[0] ? 4u * data[0] : SIZE_MAX;
	cut = data[1];
	data += 2;
	size -= 2;
	whole = run(max_event, data, size, 0);
	if (size > 1 && run(max_event, data, size, 1 + cut * (size - 1) / 256) != whole)
		abort();	/* cutting in two changed the events */
	if (run(max_event, data, size, CUT_BYTES) != whole)
		abort();	/* byte by byte changed the events */
	return 0;
}
