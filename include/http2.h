/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Incremental HTTP/2 decoder for one client connection, both directions:
 * dir 0 is what the client writes (preface, requests), dir 1 what it
 * reads (responses).  Fed the plaintext in pieces of any size, it reports
 * each stream's messages through callbacks: the head (header block
 * decoded with nghttp2's HPACK inflater, one per direction, made into an
 * http1_head), the DATA payload with padding removed, bytes lost to
 * capture gaps, and the end.  Data is handed out from the caller's buffer
 * where it can be; CONTINUATION frames are gathered in a bounded buffer.
 *
 * A connection whose start was not seen (opened before the agent), or
 * whose header compression state was lost to a gap, cannot decode header
 * blocks any more: its streams are reported headless (on_head with h ==
 * NULL) and their DATA still flows, so the caller can meter what the
 * bodies say.
 *
 * Decisions the callbacks rely on:
 *  - Each direction of a stream is reported on its own: the caller pairs
 *    them by stream id.  A response whose request was never seen (lost,
 *    or before the agent) gets its on_head(dir 1) and nothing for dir 0.
 *  - on_end comes exactly once for each direction that on_head started,
 *    never for one it did not.  1xx interim heads do not end anything:
 *    on_head(dir 1) comes again for the final head, then one on_end.
 *  - RST_STREAM either way ends both directions of its stream.  Only the
 *    server's GOAWAY (dir 1) ends streams: those above its last stream id;
 *    the client's names pushed streams, which are not followed.
 *  - Only client-initiated (odd) streams are reported.  Pushed streams
 *    (PUSH_PROMISE and the even streams) are ignored, but their header
 *    blocks are decoded to keep HPACK in step.
 *  - A head decoded from HTTP/2 has version_minor = 1, chunked = 0 and
 *    conn_close = 0; method, target and host come from :method, :path and
 *    :authority (else the first host field); headers holds the regular
 *    fields only, in order, at most HTTP1_MAX_HEADERS of them and
 *    H2_MAX_HEAD_FIELDS bytes (the rest are counted in dropped_fields);
 *    content_length is -1 when absent or not a number (the first field
 *    counts).  Names and values are valid during on_head only.
 *  - Frames of a direction that has ended (after END_STREAM, RST_STREAM,
 *    GOAWAY or a gap's H2_END_LOST) are ignored and counted in late_frames;
 *    a stream id seen again after its stream was evicted starts afresh.
 *  - A callback's error aborts the feed: the rest of its bytes are
 *    dropped and that direction resynchronises at its next feed as after
 *    a gap (HPACK lost), without callbacks for the cut.  An on_head that
 *    fails does not start its direction (no on_end follows for it).
 */
#ifndef TOLLGATE_HTTP2_H
#define TOLLGATE_HTTP2_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "http1.h"

#define H2_MAX_STREAMS   256		/* streams followed at once per connection */
#define H2_MAX_HEADER_BLOCK (256 * 1024)	/* HEADERS + CONTINUATION bytes */
#define H2_MAX_HEAD_FIELDS  (64 * 1024)	/* decoded name + value bytes kept for one head:
					   fields past it are left out of the head */
#define H2_MAX_HPACK_TABLE  (64 * 1024)	/* largest SETTINGS_HEADER_TABLE_SIZE applied to
					   an inflater: an encoder using more fails to
					   decode (hpack_errors) */

/* How a stream's message ended. */
enum h2_end {
	H2_END_STREAM,		/* END_STREAM flag: complete */
	H2_END_RESET,		/* RST_STREAM (either side) */
	H2_END_GOAWAY,		/* GOAWAY named a last stream below it */
	H2_END_CLOSED,		/* the connection ended first (h2_conn__eof) */
	H2_END_LOST,		/* a gap cut it and the framing could not say more */
	H2_END_EVICTED,		/* pushed out: more than H2_MAX_STREAMS open */
};

/* on_head flags */
#define H2_HEAD_END_STREAM 1	/* the header block ended the message (no body) */
#define H2_HEAD_MIDSTREAM  2	/* h == NULL: the head could not be decoded
				   (HPACK state unknown); data follows */

struct h2_callbacks {	/* any may be NULL; a negative return aborts the feed with it */
	/*
	 * A stream's head in direction dir: for dir 0 the request (method,
	 * target = :path, host = :authority, the regular headers), for dir 1
	 * a response (status; 1xx interim heads are reported too, then the
	 * final one).  Trailers are decoded (to keep HPACK in step) but not
	 * reported.  h == NULL with H2_HEAD_MIDSTREAM for a stream first seen
	 * through a frame whose header block could not be decoded, or through
	 * DATA alone.
	 */
	int (*on_head)(void *ctx, uint32_t sid, int dir, const struct http1_head *h,
		       unsigned flags);
	/* DATA payload bytes (padding removed) of stream sid in direction dir */
	int (*on_body)(void *ctx, uint32_t sid, int dir, const uint8_t *data, size_t len);
	/* len payload bytes of stream sid were not captured (framing kept) */
	int (*on_body_gap)(void *ctx, uint32_t sid, int dir, uint64_t len);
	/* the message of stream sid in direction dir is over */
	int (*on_end)(void *ctx, uint32_t sid, int dir, enum h2_end why);
	/* stream sid is closed before its end (RST_STREAM, GOAWAY, evicted, the
	 * connection's end): after on_end for each direction still open; a
	 * direction that never started (a response that will not come) has
	 * none, this says it */
	int (*on_close)(void *ctx, uint32_t sid, enum h2_end why);
};

struct h2_conn;

/*
 * midstream = 0: the connection is followed from its start (the client
 * preface is expected first on dir 0).  midstream = 1: it was first seen
 * mid-way; frames are found by resynchronising and no header block can be
 * decoded.  NULL with errno set on failure.  A midstream = 0 connection
 * whose dir 0 does not start with the preface is taken for a midstream
 * one (counted in bad_prefaces): dir 0, and dir 1 if nothing was fed to
 * it yet, resynchronise from there with HPACK lost.
 */
struct h2_conn *h2_conn__new(const struct h2_callbacks *cb, void *ctx, int midstream);

/*
 * Consumes data of direction dir.  Returns len, or -errno: -EINVAL (dir
 * not 0 or 1), or the negative value a callback returned.  Protocol errors
 * are not returned: they are counted (bad_frames), the rest of the feed is
 * skipped and the direction resynchronises (see h2_conn__gap).  A header
 * block the inflater refuses keeps the framing: its stream and the later
 * heads of that direction are headless.  Feeds after h2_conn__eof are
 * ignored (counted skipped).
 *
 * Header table sizes: a SETTINGS_HEADER_TABLE_SIZE sent in one direction
 * sizes the inflater of the other (the sender decodes it).  A larger size
 * is applied at once (the encoder may announce it as soon as it has read
 * the SETTINGS), a smaller one when the other direction acknowledges the
 * SETTINGS, as the sender's own decoder does.
 */
ssize_t h2_conn__feed(struct h2_conn *c, int dir, const uint8_t *data, size_t len);

/*
 * len bytes of direction dir were not captured (UINT64_MAX: unknown).
 * Inside a DATA frame's payload, with the length known and not past the
 * frame, the framing is kept (on_body_gap).  Anywhere else the framing of
 * that direction is lost: the header block in progress is lost, the HPACK
 * state of that direction can no longer be trusted (later heads of it are
 * reported headless), and the decoder looks for the next plausible frame
 * header at the start of a later feed.  The message of the stream whose
 * frame (or header block) the gap cut ends H2_END_LOST in that direction;
 * other streams stay open and go on after the resync (their later heads
 * in that direction headless, END_STREAM still honoured).  A gap inside a
 * DATA frame's padding is not body: no on_body_gap for those bytes.  A gap
 * while the pad length byte is missing loses the framing.
 *
 * Resynchronising: a feed that starts with h2_plausible() bytes (a frame
 * header cut by the feed's end is completed from the next feed) resumes
 * the framing there; any other feed is skipped whole.  A connection made
 * with midstream = 1 starts this way in both directions.
 */
int h2_conn__gap(struct h2_conn *c, int dir, uint64_t len);

/* The connection ended: every open message ends H2_END_CLOSED. */
int h2_conn__eof(struct h2_conn *c);

void h2_conn__free(struct h2_conn *c);

struct membudget;
/* Charge the header block buffer to a memory budget (set before the first
 * feed); a block it has no room for is lost like an oversized one (its
 * stream goes on headless), counted in oversized_heads.  The buffer the
 * decoded fields of a head are copied to is charged too: fields it has no
 * room for are left out of the head, counted in dropped_fields. */
void h2_conn__set_budget(struct h2_conn *c, struct membudget *mb);

/*
 * Looks ahead at a write of the client (dir 0) that has not been fed yet:
 * a held write, before it leaves.  Its header blocks are decoded with a
 * copy of the connection's HPACK state (the connection itself is left as
 * it was: the same bytes are fed later, when they are sent), and each
 * request head (odd stream) and DATA payload is reported, as far as the
 * write holds whole frames.  Returns the heads reported, -EAGAIN when the
 * connection is not at a frame's start or its HPACK state is lost,
 * -ENOMEM, or a callback's negative value.
 */
struct h2_peek_callbacks {	/* either may be NULL */
	int (*on_head)(void *ctx, uint32_t sid, const struct http1_head *h, int end_stream);
	int (*on_data)(void *ctx, uint32_t sid, const uint8_t *data, size_t len,
		       int end_stream);
};
int h2_conn__peek(struct h2_conn *c, const uint8_t *data, size_t len,
		  const struct h2_peek_callbacks *cb, void *ctx);

/*
 * 1: these bytes (the start of a write or read) look like HTTP/2 frames
 * of an established connection: a plausible frame header, and the next
 * ones (up to 4 deep) where they fall inside the buffer; 0: not; -1: too
 * short to tell (under 9 bytes, none of them wrong yet).  Plausible: a
 * type 0-9 with only its defined flags, reserved bit clear, a stream id
 * where the type needs one and 0 where it must be 0, the fixed lengths
 * (PRIORITY 5, RST_STREAM 4, WINDOW_UPDATE 4, PING 8, SETTINGS a multiple
 * of 6 up to 16384 and 0 with ACK, GOAWAY 8 to 16384), room for the
 * padding and priority fields the flags announce, a pad length shorter
 * than the payload, a nonzero window increment, and no frame over 1 MiB
 * (peers rarely raise SETTINGS_MAX_FRAME_SIZE that far; it also keeps TLS
 * records out).  Frame types added by extensions are not plausible.
 */
int h2_plausible(const uint8_t *data, size_t len);

struct h2_stats {
	uint64_t frames;		/* frames parsed */
	uint64_t streams;		/* streams seen */
	uint64_t headless;		/* heads reported with h == NULL */
	uint64_t hpack_errors;		/* header blocks the inflater refused */
	uint64_t hpack_lost;		/* directions whose HPACK state was lost (a
					   midstream start or bad preface is not) */
	uint64_t resyncs;		/* times framing was lost: gaps, protocol
					   errors, callback errors */
	uint64_t skipped;		/* bytes discarded looking for a frame */
	uint64_t bad_frames;		/* frames that broke the protocol */
	uint64_t resets;		/* RST_STREAM frames */
	uint64_t goaways;		/* GOAWAY frames */
	uint64_t evicted;		/* streams with a message open pushed out
					   (H2_MAX_STREAMS) */
	uint64_t oversized_heads;	/* header blocks over H2_MAX_HEADER_BLOCK, or
					   refused by the memory budget */
	uint64_t bad_prefaces;		/* midstream = 0 connections without the preface */
	uint64_t late_frames;		/* DATA and HEADERS of a direction already ended */
	uint64_t dropped_fields;	/* header fields left out of a head (caps, budget) */
	uint64_t gap_bytes;		/* total known length passed to h2_conn__gap */
};
void h2_conn__stats(const struct h2_conn *c, struct h2_stats *out);

#endif
