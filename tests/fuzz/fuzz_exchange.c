// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libFuzzer target for the exchange layer (request/response pairing,
 * pipelining past the queue, decoding, SSE, gaps, the memory bound),
 * differential: the script runs with each data piece whole, cut in two
 * where the input says, and one byte at a time; the records must agree.
 * A third run under a small memory bound checks that what is buffered
 * never exceeds it and is all given back.
 *
 * Input: byte 0 = control (bits 0-1: requests followed at once - 1; bit 2:
 * SSE events capped at 64 bytes; bit 3: request bodies capped at 256
 * bytes), byte 1 = where to cut, then the stream, which starts in the
 * request direction.  Markers: "\xff\xfc" switches direction, "\xff\xfe" n
 * is a capture gap of n bytes (n = 255: 1 MiB), "\xff\xfb" a lost call
 * (gap of unknown length), "\xff\xfd" the connection closing.
 *
 * Records compare by everything but timing.  Inputs that make the HTTP
 * parser give up (garbage: what is skipped then depends on where feeds
 * were cut) are checked for the invariants only.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "exchange.h"
#include "membudget.h"

#define MAX_OPS 256

enum op_kind { OP_DATA, OP_GAP, OP_LOST, OP_CLOSE };

struct op {
	enum op_kind kind;
	int dir;
	const uint8_t *data;
	size_t len;
	uint64_t gap;
};

struct sink {
	uint64_t h;		/* FNV-1a of the records */
	unsigned n;
};

static void mix(struct sink *s, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		s->h = (s->h ^ *b++) * 0x100000001b3ull;
}

static void on_record(void *ctx, const struct tg_record *r)
{
	struct sink *s = ctx;

	s->n++;
	mix(s, &r->flags, sizeof(r->flags));
	mix(s, &r->status, sizeof(r->status));
	mix(s, &r->request_bytes, sizeof(r->request_bytes));
	mix(s, &r->response_bytes, sizeof(r->response_bytes));
	mix(s, &r->sse_events, sizeof(r->sse_events));
	mix(s, &r->call.stream, sizeof(r->call.stream));
	mix(s, &r->call.api, sizeof(r->call.api));
	mix(s, r->call.model, strlen(r->call.model) + 1);
	mix(s, r->call.provider, strlen(r->call.provider) + 1);
	mix(s, r->method, strlen(r->method) + 1);
	mix(s, r->host, strlen(r->host) + 1);
	mix(s, r->path, strlen(r->path) + 1);
	/* every string field is terminated inside its array */
	if (strnlen(r->call.model, sizeof(r->call.model)) == sizeof(r->call.model) ||
	    strnlen(r->path, sizeof(r->path)) == sizeof(r->path) ||
	    strnlen(r->host, sizeof(r->host)) == sizeof(r->host))
		abort();
}

#define CUT_BYTES SIZE_MAX

struct result {
	uint64_t h;
	unsigned records;
	int comparable;
};

static struct result run(const struct exchange_cfg *cfg, const struct op *ops, size_t nops,
			 size_t cut)
{
	struct sink s = { .h = 0xcbf29ce484222325ull };
	struct exchange_stats st = { 0 };
	struct tg_meta m = { .ts_ns = 1, .tgid = 1, .tid = 1 };
	struct exchange *x = exchange__new(cfg, &st, on_record, &s);
	size_t i, off = 0, pos, n;
	int closed = 0;

	if (!x)
		abort();
	for (i = 0; i < nops && !closed; i++) {
		switch (ops[i].kind) {
		case OP_GAP:
			exchange__gap(x, ops[i].dir, &m, ops[i].gap);
			continue;
		case OP_LOST:
			exchange__gap(x, ops[i].dir, &m, EXCHANGE_GAP_UNKNOWN);
			continue;
		case OP_CLOSE:
			closed = 1;
			continue;
		case OP_DATA:
			break;
		}
		for (pos = 0; pos < ops[i].len; pos += n) {
			n = ops[i].len - pos;
			if (cut == CUT_BYTES)
				n = 1;
			else if (cut > off + pos && cut < off + ops[i].len)
				n = cut - (off + pos);
			if (exchange__feed(x, ops[i].dir, &m, ops[i].data + pos, n) == -ENOMEM)
				abort();
		}
		off += ops[i].len;
	}
	exchange__close(x, 2);
	exchange__free(x);
	mix(&s, &s.n, sizeof(s.n));
	return (struct result){ s.h, s.n, !st.http_errors && !st.heads_shed };
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct exchange_cfg cfg = {
		.max_body = 1 << 20, .max_decoded = 8 << 20, .max_sse_event = 4096,
	};
	struct op ops[MAX_OPS];
	struct result whole, r;
	struct membudget mb;
	size_t nops = 0, i, start, total;
	int dir = 0;
	uint8_t cut;

	if (size < 2)
		return 0;
	cfg.max_pending = 1 + (data[0] & 3);
	if (data[0] & 4)
		cfg.max_sse_event = 64;
	if (data[0] & 8)
		cfg.max_body = 256;
	cut = data[1];
	data += 2;
	size -= 2;

	for (i = start = 0; i <= size && nops < MAX_OPS - 2; i++) {
		int mark = i + 1 < size && data[i] == 0xff && data[i + 1] >= 0xfb &&
			   data[i + 1] <= 0xfe;

		if (i < size && !mark)
			continue;
		if (i > start)
			ops[nops++] = (struct op){ OP_DATA, dir, data + start, i - start, 0 };
		if (i == size)
			break;
		start = i + 2;
		switch (data[i + 1]) {
		case 0xfc:
			dir = !dir;
			break;
		case 0xfb:
			ops[nops++] = (struct op){ OP_LOST, dir, NULL, 0, 0 };
			break;
		case 0xfd:
			ops[nops++] = (struct op){ OP_CLOSE, dir, NULL, 0, 0 };
			break;
		default: {
			uint8_t g = i + 2 < size ? data[i + 2] : 0;

			ops[nops++] = (struct op){ OP_GAP, dir, NULL, 0, g == 255 ? 1 << 20 : g };
			start = i + 3;
		}
		}
		i = start - 1;
	}
	for (i = total = 0; i < nops; i++)
		total += ops[i].len;

	whole = run(&cfg, ops, nops, 0);
	if (total > 1) {
		r = run(&cfg, ops, nops, 1 + cut * (total - 1) / 256);
		if (whole.comparable && r.comparable && r.h != whole.h)
			abort();	/* cutting in two changed the records */
	}
	r = run(&cfg, ops, nops, CUT_BYTES);
	if (whole.comparable && r.comparable && r.h != whole.h)
		abort();	/* byte by byte changed the records */

	/* Under a small bound: never more buffered, all of it given back,
	 * and no call lost to it (shedding flags records, never drops them;
	 * a body shed cannot be checked for the API's shape, so a call is
	 * metered that might otherwise have been found not to be one). */
	membudget_init(&mb, 64 << 10);
	cfg.mb = &mb;
	r = run(&cfg, ops, nops, 0);
	if (mb.peak > mb.limit || mb.used)
		abort();
	if (whole.comparable && r.comparable && r.records < whole.records)
		abort();
	return 0;
}
