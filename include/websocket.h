/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * WebSocket message decoder for one direction of one connection (RFC 6455),
 * with permessage-deflate (RFC 7692).  Fed the bytes that follow the 101
 * response (server to client) or the upgrade request (client to server), in
 * pieces of any size; reports each data message, reassembled from its
 * fragments, unmasked and inflated, and the close frame's status code.
 * Control frames between fragments are handled; ping and pong are counted
 * and otherwise ignored.  Text is not checked for UTF-8.
 *
 * Memory per parser is bounded: the struct, one message buffer of at most
 * max_message bytes, and once a compressed message came, one inflater
 * (about 7 KiB and a 32 KiB window; none between messages when the sender
 * does not keep its context).  Inflating is bounded in CPU per message by
 * max_inflate.
 *
 * Recovery, for a passive observer that has to keep metering:
 *   - A frame whose header is wrong but whose length is known (reserved
 *     opcode, RSV2/RSV3, a control frame fragmented or longer than 125
 *     bytes, a continuation with no message started) is counted in
 *     stats.errors and its payload skipped; framing goes on.  A data frame
 *     skipped this way ends the message it belongs to (truncated) and the
 *     message's later frames are skipped with it.
 *   - A text or binary frame while a message is in progress: counted; the
 *     message in progress ends truncated and the new one starts.
 *   - RSV1 on a message start when permessage-deflate was not negotiated:
 *     counted, and the message is inflated anyway (window 15, context
 *     kept): RSV1 has no other registered use, and the 101 response that
 *     carried the negotiation may have been lost.  RSV1 on a continuation
 *     frame is counted and ignored.
 *   - A MASK bit that disagrees with the direction is counted apart
 *     (stats.mask_mismatch) and the frame decoded with what it says.
 *   - A 64-bit length with its top bit set: the frame's extent is unknown,
 *     framing is lost ("stopped", below).
 *   - A capture gap inside a payload that does not run past the end of it
 *     keeps the framing: the message it hits ends truncated (and its later
 *     frames are skipped); a control frame it hits is counted but not
 *     reported, except a close, whose code is reported if it was seen.
 *     Any other gap loses the framing.
 *   - WebSocket has no marker to find a frame start again, so once framing
 *     is lost the parser stops: a message in progress ends truncated, and
 *     every later byte is consumed and counted in stats.skipped.
 *   - After a close frame the direction is over (RFC 6455 5.5.1): later
 *     bytes are consumed and counted in stats.skipped.
 *   - When a compressed message is cut (gap, error, bomb cap, memory), the
 *     inflater's window no longer matches the sender's: it is dropped, and
 *     later messages that refer back past it are reported with
 *     WS_MSG_INFLATE_ERROR instead of being decoded wrong.
 */
#ifndef TOLLGATE_WEBSOCKET_H
#define TOLLGATE_WEBSOCKET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WS_DEFAULT_MAX_MESSAGE (4u << 20)	/* bytes of one message kept */
#define WS_DEFAULT_MAX_INFLATE (64ull << 20)	/* bytes one message may inflate to */

struct ws_cfg {
	size_t max_message;	/* decoded bytes of one message kept; a longer message
				   is reported with WS_MSG_OVERSIZED, cut.  0: default */
	uint64_t max_inflate;	/* bytes one compressed message may inflate to (bomb cap);
				   raised to max_message if lower.  0: default.  The
				   whole message is inflated, kept or not, so that the
				   window stays the sender's; with no_context_takeover
				   inflating stops past max_message instead */
};

/* permessage-deflate as negotiated for the sender of one direction */
struct ws_deflate {
	int on;
	int no_context_takeover;	/* the sender resets its compressor after each message */
	int max_window_bits;		/* 8..15; 0: 15.  For the record: inflating always
					   uses 15, which reads what a smaller window wrote
					   and decodes the same however the stream is cut */
};

/*
 * Parses a Sec-WebSocket-Extensions value from a 101 response (several
 * header lines joined with ", ").  The first permessage-deflate offer
 * (case-insensitive) fills both directions: server_no_context_takeover and
 * server_max_window_bits go to server_to_client, the client_* parameters
 * to client_to_server.  Either output may be NULL.
 * Returns 1 when permessage-deflate was accepted, 0 when not (both outputs
 * zeroed), -EBADMSG when its parameters are wrong (unknown, repeated, a
 * bad or missing window size, bad syntax): the outputs are then still
 * filled as far as understood, with on = 1 and window 15 where the value
 * was bad, since a decoder that inflates loses nothing by it.
 */
int ws_extensions_parse(const char *v, size_t len, struct ws_deflate *client_to_server,
			struct ws_deflate *server_to_client);

enum { WS_MSG_TEXT = 1, WS_MSG_BINARY = 2 };	/* the opcode of a message */

/* on_message flags */
#define WS_MSG_TRUNCATED     1	/* cut by a gap, eof, close, an error or a new message:
				   incomplete */
#define WS_MSG_OVERSIZED     2	/* longer than max_message: only its first max_message
				   bytes are given */
#define WS_MSG_INFLATE_ERROR 4	/* inflating failed (corrupt data, or more than
				   max_inflate bytes: then OVERSIZED too); the bytes
				   inflated before are given */
#define WS_MSG_SHED          8	/* the memory budget (or malloc) refused the message
				   buffer or the inflater: no bytes are given */

struct ws_callbacks {	/* either may be NULL */
	/* A data message: data is valid during the call only, not NUL-terminated
	 * (it may point into the buffer being fed).  A negative return stops
	 * the parser: feed returns it. */
	int (*on_message)(void *ctx, int opcode, const uint8_t *data, size_t len, unsigned flags);
	/* A close frame: its status code, 1005 if it carries none.  A negative
	 * return stops the parser. */
	int (*on_close)(void *ctx, uint16_t code);
};

struct ws_parser;

/*
 * cfg, df: NULL for defaults and no permessage-deflate.  masked_expected:
 * 1 for the client-to-server direction, whose frames are masked.  NULL with
 * errno set on failure.
 */
struct ws_parser *ws_parser__new(const struct ws_cfg *cfg, const struct ws_deflate *df,
				 int masked_expected, const struct ws_callbacks *cb, void *ctx);

/*
 * Consumes all of data.  Returns len, -EPIPE after ws_parser__eof(), or the
 * negative value a callback returned; that is sticky: every later call
 * returns it.  Messages do not depend on how the stream was split.
 */
ssize_t ws_parser__feed(struct ws_parser *p, const uint8_t *data, size_t len);

/* A gap's length when it is not known: framing is lost. */
#define WS_GAP_UNKNOWN UINT64_MAX

/*
 * len bytes of the stream were not captured.  Inside a payload, when the
 * gap ends within it, framing is kept; else the parser stops (see the top
 * of this file).  A zero-length gap does nothing.  Returns 0 or a
 * callback's error.
 */
int ws_parser__gap(struct ws_parser *p, uint64_t len);

/* Connection closed: a message in progress ends truncated.  Later feeds
 * return -EPIPE.  Returns 0 or a callback's error. */
int ws_parser__eof(struct ws_parser *p);

void ws_parser__free(struct ws_parser *p);

struct membudget;
/* Charge the message buffer and the inflater to a memory budget (set
 * before the first feed).  What the budget refuses sheds the message
 * (WS_MSG_SHED); parsing goes on.  Whether a message needs the buffer at
 * all depends on the cuts: one that comes whole, unmasked and uncompressed
 * in one feed is handed out in place. */
void ws_parser__set_budget(struct ws_parser *p, struct membudget *mb);

struct ws_stats {
	uint64_t frames;		/* frame headers read */
	uint64_t control_frames;	/* of which close, ping, pong */
	uint64_t messages;		/* reported by on_message */
	uint64_t closes;		/* reported by on_close */
	uint64_t bytes;			/* data frame payload bytes, as sent */
	uint64_t inflated_bytes;	/* bytes inflate produced */
	uint64_t errors;		/* protocol errors (see the top of this file) */
	uint64_t mask_mismatch;		/* frames whose MASK bit disagreed with the direction */
	uint64_t truncated;		/* messages reported with WS_MSG_TRUNCATED */
	uint64_t oversized;		/* ... WS_MSG_OVERSIZED */
	uint64_t inflate_errors;	/* ... WS_MSG_INFLATE_ERROR */
	uint64_t bombs;			/* of which stopped at max_inflate */
	uint64_t shed;			/* ... WS_MSG_SHED */
	uint64_t gaps;			/* non-empty gaps */
	uint64_t gap_bytes;		/* their total length (WS_GAP_UNKNOWN not counted) */
	uint64_t stops;			/* framing lost: 0 or 1 */
	uint64_t skipped;		/* bytes consumed but not decoded: skipped frames,
					   the later frames of a cut message, after a stop
					   or close (compressed bytes left when inflating
					   stopped are not counted) */
};
void ws_parser__stats(const struct ws_parser *p, struct ws_stats *out);

#endif
