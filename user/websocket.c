// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * WebSocket message decoder (RFC 6455, RFC 7692 permessage-deflate).
 *
 * Frame headers (2 to 14 bytes) are gathered in a small array; payloads are
 * read where they lie.  A data message is assembled in one buffer that
 * grows up to max_message; compressed payloads are unmasked into a stack
 * buffer and inflated as they arrive, so compressed bytes are never kept.
 * An unmasked, uncompressed message that arrives whole in one frame of one
 * feed is handed out from the caller's buffer without a copy: server
 * events usually are.
 *
 * Inflating follows RFC 7692 7.2.2: each message's payload, then the four
 * bytes 00 00 ff ff, through one raw inflater per direction that keeps its
 * window between messages unless the sender resets its own.  A deflate
 * stream may end inside a message (a block with BFINAL set, 7.2.3.3): the
 * inflater starts a new one with the bytes after it.
 */
#define ZLIB_CONST
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include "membudget.h"
#include "websocket.h"

#define HDR_MAX    14		/* 2 + 8 (64-bit length) + 4 (masking key) */
#define CTL_MAX    125		/* control frame payload */
#define CHUNK      4096		/* unmasked in pieces of this */
#define OUT_CHUNK  8192		/* inflated in pieces of this */
#define BUF_KEEP   4096		/* message buffer kept between messages */
#define CLOSE_NO_STATUS 1005	/* RFC 6455 7.4.1: a close frame without a code */

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

enum state {
	ST_HDR,		/* between frames, or inside a frame header */
	ST_PAYLOAD,
	ST_DONE,	/* after a close frame: nothing more is decoded */
	ST_STOPPED,	/* framing lost: nothing more is decoded */
	ST_EOF,
};

/* What the current frame's payload is for. */
enum fkind { F_SKIP, F_CONTROL, F_DATA };

/* The message being assembled. */
enum mstate {
	M_NONE,		/* between messages */
	M_ACTIVE,	/* started: its bytes are decoded */
	M_DISCARD,	/* started, but cut or wrong: its frames are skipped to its end */
};

struct ws_parser {
	struct ws_cfg cfg;
	struct ws_deflate df;
	int masked_expected;
	struct ws_callbacks cb;
	void *ctx;
	struct membudget *mb;	/* charged for buf and the inflater */
	int err;		/* sticky: a callback's error */
	enum state state;

	/* the frame being read */
	uint8_t hdr[HDR_MAX];
	uint8_t hlen;
	uint8_t fin, opcode, masked;
	uint8_t key[4];
	enum fkind fkind;
	uint64_t remaining;	/* payload bytes still to come */
	uint64_t off;		/* payload bytes so far (the masking key's phase) */

	/* a control frame's payload */
	uint8_t ctl[CTL_MAX];
	uint8_t ctl_have;	/* bytes received from its start, before any gap */
	uint8_t ctl_cut;	/* a gap hit it */

	/* the message */
	enum mstate mstate;
	uint8_t mopcode;
	uint8_t compressed;	/* RSV1 on its first frame */
	uint8_t zstop;		/* no more inflating for this message: the rest is passed over */
	unsigned mflags;	/* WS_MSG_* gathered so far */
	uint64_t total;		/* decoded bytes of the message, kept or not */
	uint8_t *buf;		/* its first max_message bytes */
	size_t len, cap;

	z_stream z;
	uint8_t zinit;
	struct ws_stats st;
};

static const uint8_t empty[1];

/* --- Sec-WebSocket-Extensions ------------------------------------------- */

/* RFC 9110 tchar */
static int is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void skip_ows(const char **s, const char *e)
{
	while (*s < e && (**s == ' ' || **s == '\t'))
		(*s)++;
}

static size_t token(const char **s, const char *e)
{
	const char *t = *s;

	while (*s < e && is_tchar(**s))
		(*s)++;
	return *s - t;
}

/* A quoted-string at *s (on its opening quote): its content, escapes left in. */
static int quoted(const char **s, const char *e, const char **v, size_t *vl)
{
	const char *p = *s + 1;

	for (*v = p; p < e && *p != '"'; p++)
		if (*p == '\\' && ++p == e)
			break;
	if (p >= e)
		return -1;
	*vl = p - *v;
	*s = p + 1;
	return 0;
}

/* Skips to the next ',' outside a quoted string (or the end). */
static void skip_element(const char **s, const char *e)
{
	const char *v;
	size_t vl;

	while (*s < e && **s != ',') {
		if (**s != '"')
			(*s)++;
		else if (quoted(s, e, &v, &vl))
			*s = e;
	}
}

#define IEQ(s, n, lit) ((n) == sizeof(lit) - 1 && !strncasecmp((s), (lit), (n)))

/* max_window_bits: 8..15 without leading zeros (RFC 7692 7.1.2).  Bad: 15. */
static int window_bits(const char *v, size_t vl, int *bits)
{
	if (v && vl == 1 && v[0] >= '8' && v[0] <= '9') {
		*bits = v[0] - '0';
		return 0;
	}
	if (v && vl == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') {
		*bits = 10 + v[1] - '0';
		return 0;
	}
	*bits = 15;
	return -1;
}

/* One permessage-deflate parameter; -1 if it is wrong. */
static int pmd_param(const char *n, size_t nl, const char *v, size_t vl, unsigned *seen,
		     struct ws_deflate *c, struct ws_deflate *s)
{
	unsigned bit;
	int bad;

	if (IEQ(n, nl, "server_no_context_takeover")) {
		bit = 1;
		s->no_context_takeover = 1;
		bad = v != NULL;
	} else if (IEQ(n, nl, "client_no_context_takeover")) {
		bit = 2;
		c->no_context_takeover = 1;
		bad = v != NULL;
	} else if (IEQ(n, nl, "server_max_window_bits")) {
		bit = 4;
		bad = window_bits(v, vl, &s->max_window_bits);
	} else if (IEQ(n, nl, "client_max_window_bits")) {
		bit = 8;
		bad = window_bits(v, vl, &c->max_window_bits);
	} else {
		return -1;
	}
	if (*seen & bit)
		bad = -1;
	*seen |= bit;
	return bad ? -1 : 0;
}

int ws_extensions_parse(const char *v, size_t len, struct ws_deflate *client_to_server,
			struct ws_deflate *server_to_client)
{
	struct ws_deflate c = { 0 }, s = { 0 };
	const char *pos = v, *end = v ? v + len : NULL, *name, *pname, *pval;
	size_t nl, pl, vl;
	unsigned seen = 0;
	int found = 0, bad = 0, ours;

	while (pos < end) {
		skip_ows(&pos, end);
		if (pos < end && *pos == ',') {
			pos++;
			continue;
		}
		name = pos;
		nl = token(&pos, end);
		ours = nl && !found && IEQ(name, nl, "permessage-deflate");
		if (ours)
			found = c.on = s.on = 1;
		for (;;) {
			skip_ows(&pos, end);
			if (pos == end || *pos == ',')
				break;
			if (*pos != ';' || !nl)
				goto syntax;
			pos++;
			skip_ows(&pos, end);
			pname = pos;
			pl = token(&pos, end);
			if (!pl)
				goto syntax;
			skip_ows(&pos, end);
			pval = NULL;
			vl = 0;
			if (pos < end && *pos == '=') {
				pos++;
				skip_ows(&pos, end);
				if (pos < end && *pos == '"') {
					if (quoted(&pos, end, &pval, &vl))
						goto syntax;
				} else {
					pval = pos;
					vl = token(&pos, end);
					if (!vl)
						goto syntax;
				}
			}
			if (ours && pmd_param(pname, pl, pval, vl, &seen, &c, &s))
				bad = 1;
		}
		continue;
syntax:
		bad |= ours;
		skip_element(&pos, end);
	}
	if (!found)
		c = s = (struct ws_deflate){ 0 };
	if (client_to_server)
		*client_to_server = c;
	if (server_to_client)
		*server_to_client = s;
	return !found ? 0 : bad ? -EBADMSG : 1;
}

/* --- buffers and the inflater ------------------------------------------- */

static voidpf zlib_alloc(voidpf opaque, uInt items, uInt size)
{
	struct ws_parser *p = opaque;

	return membudget_malloc(p->mb, (size_t)items * size, MEMBUDGET_BULK);
}

static void zlib_free(voidpf opaque, voidpf ptr)
{
	struct ws_parser *p = opaque;

	membudget_free(p->mb, ptr);
}

/* Forgets the sender's window (and gives its memory back). */
static void z_drop(struct ws_parser *p)
{
	if (p->zinit)
		inflateEnd(&p->z);
	p->zinit = 0;
}

/*
 * The window is 32 KiB whatever was negotiated: it reads all that a smaller
 * one wrote, and with a smaller one a sender that reaches back past its own
 * window would be decoded or refused depending on where the feeds were cut
 * (zlib lets a distance reach into the output of the current call).
 */
static int z_start(struct ws_parser *p)
{
	p->z = (z_stream){ .zalloc = zlib_alloc, .zfree = zlib_free, .opaque = p };
	if (inflateInit2(&p->z, -MAX_WBITS) != Z_OK)
		return -1;
	p->zinit = 1;
	/* an empty dictionary makes zlib allocate the window now, not at the
	 * end of some inflate() call, whose output would then depend on the cuts */
	if (inflateSetDictionary(&p->z, empty, 0) != Z_OK) {
		z_drop(p);
		return -1;
	}
	return 0;
}

static void buf_release(struct ws_parser *p)
{
	membudget_free(p->mb, p->buf);
	p->buf = NULL;
	p->len = p->cap = 0;
}

/* The budget refused memory for this message: give its buffer back. */
static void shed(struct ws_parser *p)
{
	p->mflags |= WS_MSG_SHED;
	buf_release(p);
}

/* Decoded message bytes: counted, and kept up to max_message. */
static void msg_keep(struct ws_parser *p, const uint8_t *s, size_t n)
{
	size_t keep, cap;
	uint8_t *b;

	p->total += n;
	if (p->mflags & WS_MSG_SHED || p->len >= p->cfg.max_message)
		return;
	keep = n < p->cfg.max_message - p->len ? n : p->cfg.max_message - p->len;
	if (!keep)
		return;
	if (p->len + keep > p->cap) {
		cap = p->cap ? p->cap : 256;
		while (cap < p->len + keep)
			cap = cap > SIZE_MAX / 2 ? p->len + keep : cap * 2;
		if (cap > p->cfg.max_message)
			cap = p->cfg.max_message;
		b = membudget_realloc(p->mb, p->buf, cap, MEMBUDGET_BULK);
		if (!b) {
			shed(p);
			return;
		}
		p->buf = b;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, s, keep);
	p->len += keep;
}

/* Inflating this message stops here; flags say why (0: nothing is lost). */
static void z_halt(struct ws_parser *p, unsigned flags)
{
	p->zstop = 1;
	p->mflags |= flags;
}

/*
 * Compressed payload bytes of the message (unmasked), or its tail.  At most
 * one byte more than the limit is inflated, so where inflating stops does
 * not depend on how the input was cut: max_inflate (a bomb), or with
 * no_context_takeover max_message, as nothing later refers to the rest.
 * What is not inflated once it stops is not counted anywhere.
 */
static void inflate_in(struct ws_parser *p, const uint8_t *in, size_t n)
{
	uint64_t limit = p->df.no_context_takeover ? p->cfg.max_message : p->cfg.max_inflate;
	uint8_t out[OUT_CHUNK];
	size_t got, room;
	int rc, full = 0;

	if (p->zstop)
		return;
	if (!p->zinit && z_start(p)) {
		shed(p);
		z_halt(p, 0);
		return;
	}
	p->z.next_in = in;
	p->z.avail_in = n;
	while (p->z.avail_in || full) {
		room = limit - p->total < sizeof(out) ? limit - p->total + 1 : sizeof(out);
		p->z.next_out = out;
		p->z.avail_out = room;
		rc = inflate(&p->z, Z_NO_FLUSH);
		got = p->z.next_out - out;
		full = !p->z.avail_out;
		p->st.inflated_bytes += got;
		msg_keep(p, out, got);
		if (p->total > limit) {
			/* past max_message too: reported OVERSIZED */
			if (!p->df.no_context_takeover) {
				p->st.bombs++;
				z_halt(p, WS_MSG_INFLATE_ERROR);
			} else {
				z_halt(p, 0);
			}
			break;
		}
		if (rc == Z_STREAM_END) {
			/* a block with BFINAL: whatever follows starts a new stream */
			inflateReset(&p->z);
		} else if (rc == Z_MEM_ERROR) {
			shed(p);
			z_halt(p, 0);
			break;
		} else if (rc == Z_BUF_ERROR) {
			if (!got)
				break;		/* needs more input */
		} else if (rc != Z_OK) {
			z_halt(p, WS_MSG_INFLATE_ERROR);
			break;
		}
	}
	p->z.next_in = NULL;
	p->z.avail_in = 0;
}

/* --- messages ----------------------------------------------------------- */

static int report(struct ws_parser *p, int opcode, const uint8_t *data, size_t len, unsigned flags)
{
	int rc;

	p->st.messages++;
	p->st.truncated += !!(flags & WS_MSG_TRUNCATED);
	p->st.oversized += !!(flags & WS_MSG_OVERSIZED);
	p->st.inflate_errors += !!(flags & WS_MSG_INFLATE_ERROR);
	p->st.shed += !!(flags & WS_MSG_SHED);
	if (!p->cb.on_message)
		return 0;
	rc = p->cb.on_message(p->ctx, opcode, data ? data : empty, len, flags);
	return rc < 0 ? rc : 0;
}

static void msg_reset(struct ws_parser *p)
{
	p->mstate = M_NONE;
	p->compressed = 0;
	p->zstop = 0;
	p->mflags = 0;
	p->total = 0;
	p->len = 0;
	if (p->cap > BUF_KEEP)
		buf_release(p);
}

/* The message in progress ends; flags adds WS_MSG_TRUNCATED if it is cut. */
static int end_message(struct ws_parser *p, unsigned flags)
{
	static const uint8_t tail[4] = { 0x00, 0x00, 0xff, 0xff };
	int rc;

	if (p->compressed && !(flags & WS_MSG_TRUNCATED) && !p->zstop) {
		inflate_in(p, tail, sizeof(tail));
		/* a sender that flushed right ends on a block boundary */
		if (!p->zstop && !(p->z.data_type & 128))
			z_halt(p, WS_MSG_INFLATE_ERROR);
	}
	flags |= p->mflags;
	if (p->total > p->cfg.max_message)
		flags |= WS_MSG_OVERSIZED;
	/* a window that lacks part of a message no longer matches the sender's */
	if (p->compressed && (p->zstop || flags & WS_MSG_TRUNCATED || p->df.no_context_takeover))
		z_drop(p);
	rc = report(p, p->mopcode, p->buf, flags & WS_MSG_SHED ? 0 : p->len, flags);
	msg_reset(p);
	return rc;
}

/* The message in progress is cut here: reported, its later frames skipped. */
static int cut_message(struct ws_parser *p)
{
	int rc = 0;

	if (p->mstate == M_ACTIVE)
		rc = end_message(p, WS_MSG_TRUNCATED);
	p->mstate = M_DISCARD;
	return rc;
}

/* Framing is lost: nothing more is decoded. */
static int stop(struct ws_parser *p)
{
	int rc = 0;

	p->state = ST_STOPPED;
	p->st.stops++;
	p->hlen = 0;
	if (p->mstate == M_ACTIVE)
		rc = end_message(p, WS_MSG_TRUNCATED);
	p->mstate = M_NONE;
	return rc;
}

/* --- frames ------------------------------------------------------------- */

static void unmask(uint8_t *d, size_t n, const uint8_t key[4], uint64_t off)
{
	size_t i;

	for (i = 0; i < n; i++)
		d[i] ^= key[(off + i) & 3];
}

static int control_end(struct ws_parser *p)
{
	uint16_t code = CLOSE_NO_STATUS;
	int rc = 0;

	if (p->opcode != OP_CLOSE)
		return 0;	/* ping, pong */
	if (p->ctl_have >= 2)
		code = p->ctl[0] << 8 | p->ctl[1];
	else if (p->off == 1)
		p->st.errors++;	/* a close payload is empty or starts with a code */
	/* nothing follows a close: a message in progress is cut */
	if (p->mstate == M_ACTIVE)
		rc = end_message(p, WS_MSG_TRUNCATED);
	p->mstate = M_NONE;
	p->state = ST_DONE;
	p->st.closes++;
	if (!rc && p->cb.on_close) {
		rc = p->cb.on_close(p->ctx, code);
		rc = rc < 0 ? rc : 0;
	}
	return rc;
}

static int frame_end(struct ws_parser *p)
{
	p->state = ST_HDR;
	switch (p->fkind) {
	case F_CONTROL:
		return control_end(p);
	case F_DATA:
		if (!p->fin)
			return 0;
		if (p->mstate == M_ACTIVE)
			return end_message(p, 0);
		p->mstate = M_NONE;	/* the end of a skipped message */
		return 0;
	default:
		return 0;
	}
}

/* A data frame's header: decides what its payload is for. */
static int data_frame(struct ws_parser *p, unsigned rsv)
{
	int rc = 0;

	p->fkind = F_DATA;
	if (p->opcode == OP_CONT) {
		if (p->mstate == M_NONE) {
			p->st.errors++;		/* no message started */
			p->mstate = M_DISCARD;
			return 0;
		}
		if (rsv & 4)
			p->st.errors++;		/* RSV1 belongs on the first frame only */
		if (rsv & 3) {
			p->st.errors++;
			rc = cut_message(p);
		}
		return rc;
	}
	if (p->mstate != M_NONE) {
		p->st.errors++;			/* the last message never ended */
		if (p->mstate == M_ACTIVE)
			rc = end_message(p, WS_MSG_TRUNCATED);
	}
	p->mstate = M_ACTIVE;
	p->mopcode = p->opcode;
	p->compressed = !!(rsv & 4);
	if (p->compressed && !p->df.on)
		p->st.errors++;			/* not negotiated: inflated anyway */
	if (rsv & 3) {
		p->st.errors++;
		p->mstate = M_DISCARD;
	}
	return rc;
}

/* The header in p->hdr is complete. */
static int frame_start(struct ws_parser *p)
{
	const uint8_t *h = p->hdr;
	unsigned rsv = h[0] >> 4 & 7, pos = 2, i;
	uint64_t len = h[1] & 0x7f;
	int rc = 0;

	p->hlen = 0;
	p->fin = h[0] >> 7;
	p->opcode = h[0] & 0x0f;
	p->masked = h[1] >> 7;
	if (len == 126) {
		len = (uint64_t)h[2] << 8 | h[3];
		pos = 4;
	} else if (len == 127) {
		for (len = 0, i = 2; i < 10; i++)
			len = len << 8 | h[i];
		pos = 10;
		if (len >> 63) {
			p->st.errors++;
			return stop(p);
		}
	}
	if (p->masked)
		memcpy(p->key, h + pos, 4);
	p->st.frames++;
	if (p->masked != !!p->masked_expected)
		p->st.mask_mismatch++;
	p->remaining = len;
	p->off = 0;
	p->state = ST_PAYLOAD;
	if (p->opcode >= OP_CLOSE) {
		p->st.control_frames++;
		if (p->opcode > OP_PONG || !p->fin || len > CTL_MAX || rsv) {
			p->st.errors++;
			p->fkind = F_SKIP;
		} else {
			p->fkind = F_CONTROL;
			p->ctl_have = 0;
			p->ctl_cut = 0;
		}
	} else if (p->opcode > OP_BINARY) {
		p->st.errors++;		/* reserved data opcode */
		p->fkind = F_SKIP;
	} else {
		rc = data_frame(p, rsv);
	}
	if (!rc && !p->remaining)
		rc = frame_end(p);
	return rc;
}

static ssize_t feed_header(struct ws_parser *p, const uint8_t *d, size_t n)
{
	size_t i = 0, need;
	int rc;

	while (i < n) {
		p->hdr[p->hlen++] = d[i++];
		if (p->hlen < 2)
			continue;
		need = 2 + ((p->hdr[1] & 0x7f) == 126 ? 2 : (p->hdr[1] & 0x7f) == 127 ? 8 : 0) +
		       (p->hdr[1] & 0x80 ? 4 : 0);
		if (p->hlen < need)
			continue;
		rc = frame_start(p);
		return rc ? rc : (ssize_t)i;
	}
	return n;
}

static void data_bytes(struct ws_parser *p, const uint8_t *d, size_t n)
{
	uint8_t tmp[CHUNK];
	size_t i, c;

	p->st.bytes += n;
	if (p->mstate != M_ACTIVE) {
		p->st.skipped += n;
		return;
	}
	if (!p->masked && !p->compressed) {
		msg_keep(p, d, n);
		return;
	}
	for (i = 0; i < n; i += c) {
		c = n - i < sizeof(tmp) ? n - i : sizeof(tmp);
		memcpy(tmp, d + i, c);
		if (p->masked)
			unmask(tmp, c, p->key, p->off + i);
		if (p->compressed)
			inflate_in(p, tmp, c);
		else
			msg_keep(p, tmp, c);
	}
}

static ssize_t feed_payload(struct ws_parser *p, const uint8_t *d, size_t n)
{
	unsigned flags = 0;
	int rc = 0;

	if (n > p->remaining)
		n = p->remaining;
	switch (p->fkind) {
	case F_SKIP:
		p->st.skipped += n;
		break;
	case F_CONTROL:
		if (!p->ctl_cut) {
			memcpy(p->ctl + p->off, d, n);
			if (p->masked)
				unmask(p->ctl + p->off, n, p->key, p->off);
			p->ctl_have = p->off + n;
		}
		break;
	case F_DATA:
		if (p->mstate == M_ACTIVE && p->fin && !p->off && n == p->remaining &&
		    !p->masked && !p->compressed && !p->total) {
			/* a whole message in the caller's buffer: no copy */
			p->st.bytes += n;
			if (n > p->cfg.max_message)
				flags = WS_MSG_OVERSIZED;
			rc = report(p, p->mopcode, d, flags ? p->cfg.max_message : n,
				    flags | p->mflags);
			msg_reset(p);
		} else {
			data_bytes(p, d, n);
		}
		break;
	}
	p->remaining -= n;
	p->off += n;
	if (!rc && !p->remaining)
		rc = frame_end(p);
	return rc ? rc : (ssize_t)n;
}

/* --- the API ------------------------------------------------------------ */

static int fail(struct ws_parser *p, int err)
{
	if (err)
		p->err = err;
	return err;
}

ssize_t ws_parser__feed(struct ws_parser *p, const uint8_t *data, size_t len)
{
	size_t off = 0;
	ssize_t n;

	if (p->err)
		return p->err;
	if (p->state == ST_EOF)
		return -EPIPE;
	while (off < len) {
		switch (p->state) {
		case ST_HDR:
			n = feed_header(p, data + off, len - off);
			break;
		case ST_PAYLOAD:
			n = feed_payload(p, data + off, len - off);
			break;
		default:	/* done or stopped */
			p->st.skipped += len - off;
			n = len - off;
			break;
		}
		if (n < 0)
			return fail(p, n);
		off += n;
	}
	return len;
}

int ws_parser__gap(struct ws_parser *p, uint64_t len)
{
	int rc = 0;

	if (p->err || !len)
		return p->err;
	p->st.gaps++;
	if (len != WS_GAP_UNKNOWN)
		p->st.gap_bytes += len;
	if (p->state == ST_DONE || p->state == ST_STOPPED || p->state == ST_EOF)
		return 0;
	if (p->state != ST_PAYLOAD || len > p->remaining)
		return fail(p, stop(p));
	/* inside the payload: the frame's extent is still known */
	if (p->fkind == F_CONTROL)
		p->ctl_cut = 1;
	else if (p->fkind == F_DATA)
		rc = cut_message(p);
	p->remaining -= len;
	p->off += len;
	if (!rc && !p->remaining)
		rc = frame_end(p);
	return fail(p, rc);
}

int ws_parser__eof(struct ws_parser *p)
{
	int rc = 0;

	if (p->err || p->state == ST_EOF)
		return p->err;
	if (p->mstate == M_ACTIVE)
		rc = end_message(p, WS_MSG_TRUNCATED);
	p->mstate = M_NONE;
	p->state = ST_EOF;
	z_drop(p);
	buf_release(p);
	return fail(p, rc);
}

struct ws_parser *ws_parser__new(const struct ws_cfg *cfg, const struct ws_deflate *df,
				 int masked_expected, const struct ws_callbacks *cb, void *ctx)
{
	struct ws_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (cfg)
		p->cfg = *cfg;
	if (!p->cfg.max_message)
		p->cfg.max_message = WS_DEFAULT_MAX_MESSAGE;
	if (!p->cfg.max_inflate)
		p->cfg.max_inflate = WS_DEFAULT_MAX_INFLATE;
	/* room for the byte past the cap */
	if (p->cfg.max_message == SIZE_MAX)
		p->cfg.max_message--;
	if (p->cfg.max_inflate == UINT64_MAX)
		p->cfg.max_inflate--;
	if (p->cfg.max_inflate < p->cfg.max_message)
		p->cfg.max_inflate = p->cfg.max_message;
	if (df && df->on)
		p->df = *df;
	p->masked_expected = !!masked_expected;
	if (cb)
		p->cb = *cb;
	p->ctx = ctx;
	return p;
}

void ws_parser__set_budget(struct ws_parser *p, struct membudget *mb)
{
	p->mb = mb;
}

void ws_parser__stats(const struct ws_parser *p, struct ws_stats *out)
{
	*out = p->st;
}

void ws_parser__free(struct ws_parser *p)
{
	if (!p)
		return;
	z_drop(p);
	buf_release(p);
	free(p);
}
