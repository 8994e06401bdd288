/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Token counting (DESIGN §5).
 *
 * Exact byte-pair encoding for OpenAI's o200k_base and cl100k_base: the
 * token ids equal tiktoken's encode_ordinary() for every input.  The
 * pretokenizer is hand-written (no regex engine), the vocabularies are
 * embedded in the binary (data/tokenizer/, see PROVENANCE.md there) and
 * loaded on first use.
 *
 * Input is bytes.  Valid UTF-8 is tokenized as is.  Each invalid sequence
 * is first replaced by U+FFFD, one per maximal ill-formed subpart (the
 * WHATWG / Unicode "best practice" rule: what TextDecoder and Python's
 * bytes.decode("utf-8", "replace") do).  So tok_encode(bytes) equals
 * tiktoken.encode_ordinary(bytes.decode("utf-8", "replace")) — what a
 * provider bills for a body it decodes leniently.
 *
 * Special-token strings ("<|endoftext|>") are ordinary text unless
 * TOK_ALLOW_SPECIAL is passed.
 *
 * Everything here is pure: no I/O, no global state except the immutable
 * tables, loaded once (thread-safe) by tok_encoding_get().
 */
#ifndef TOLLGATE_TOKENIZER_H
#define TOLLGATE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum tok_enc {
	TOK_ENC_UNKNOWN = -1,
	TOK_CL100K_BASE = 0,
	TOK_O200K_BASE = 1,
	TOK_ENC__COUNT
};

struct tok_encoding;

/* The loaded encoding, NULL (errno set) if enc is not one or memory ran out. */
const struct tok_encoding *tok_encoding_get(enum tok_enc enc);
/* "o200k_base" / "cl100k_base"; NULL for anything else. */
const char *tok_encoding_name(enum tok_enc enc);
/* By name; TOK_ENC_UNKNOWN if not one of ours. */
enum tok_enc tok_encoding_by_name(const char *name);
/*
 * The encoding OpenAI uses for a model: gpt-4o*, gpt-4.1*, gpt-4.5*, gpt-5*,
 * o1*, o3*, o4*, chatgpt-4o*, gpt-oss*, omni-moderation* -> o200k_base;
 * gpt-4*, gpt-3.5*, gpt-35-turbo*, text-embedding-3*, text-embedding-ada-002
 * -> cl100k_base.  An "openai/" or "azure/"-style prefix is ignored.
 * TOK_ENC_UNKNOWN for any other model (not an OpenAI tokenizer).
 */
enum tok_enc tok_encoding_for_model(const char *model);

/* Number of token ids (ranks and special tokens): ids are < this. */
uint32_t tok_vocab_size(const struct tok_encoding *enc);
/* The bytes of one token id; NULL if the id is not a token. */
const uint8_t *tok_token_bytes(const struct tok_encoding *enc, uint32_t id,
			       size_t *len);

/* Flags for tok_encode / tok_count. */
#define TOK_ALLOW_SPECIAL	0x1u	/* "<|endoftext|>" etc. become their ids */

/* A growable id vector.  Zero-initialise; tok_ids_free() releases it. */
struct tok_ids {
	uint32_t *v;
	size_t len;
	size_t cap;
};
void tok_ids_free(struct tok_ids *ids);

/*
 * Append the ids of text[0..len) to out.  0, or -ENOMEM, or -E2BIG for a
 * text of 4 GiB or more (out keeps what it had before the call).
 */
int tok_encode(const struct tok_encoding *enc, const void *text, size_t len,
	       unsigned flags, struct tok_ids *out);
/* The number of ids tok_encode would append; -ENOMEM or -E2BIG as tok_encode. */
ssize_t tok_count(const struct tok_encoding *enc, const void *text,
		  size_t len, unsigned flags);
/*
 * Decode ids to bytes (appended to *buf, realloc'd, *len updated).  0,
 * -EINVAL for an id that is not a token, -ENOMEM.
 */
int tok_decode(const struct tok_encoding *enc, const uint32_t *ids, size_t n,
	       uint8_t **buf, size_t *len);

/* Unicode version of the character classes the pretokenizer uses. */
const char *tok_unicode_version(void);

/*
 * OpenAI chat-format counting.
 *
 * body: an OpenAI chat completions request (JSON), as sent.  Counts the
 * prompt tokens the way OpenAI documents it (openai-cookbook "How to count
 * tokens with tiktoken"): every message costs 3 tokens plus the tokens of
 * its role and content (and 1 more with a "name"), and 3 tokens prime the
 * reply.  Tool / function definitions are rendered the way OpenAI formats
 * them for the model (the TypeScript-like namespace) and counted; assistant
 * tool calls and images are counted by documented approximations.
 * Exact for plain text messages; TOK_CHAT_APPROX in flags says the count
 * includes an approximation.
 */
#define TOK_CHAT_APPROX_TOOLS	0x1u	/* tool definitions or tool calls */
#define TOK_CHAT_APPROX_IMAGES	0x2u	/* image / audio / file parts */
#define TOK_CHAT_APPROX_MODEL	0x4u	/* unknown model: o200k_base assumed */
#define TOK_CHAT_APPROX		(TOK_CHAT_APPROX_TOOLS | TOK_CHAT_APPROX_IMAGES | \
				 TOK_CHAT_APPROX_MODEL)

struct tok_chat_count {
	int64_t prompt_tokens;	/* total, what usage.prompt_tokens reports */
	int64_t message_tokens;	/* messages incl. per-message and priming overhead */
	int64_t tool_tokens;	/* tool / function definitions */
	uint32_t messages;	/* number of messages */
	enum tok_enc encoding;	/* the encoding used */
	unsigned flags;		/* TOK_CHAT_APPROX_* */
};

/*
 * model: the model to count for, or NULL to take the body's "model".
 * 0 on success; -EBADMSG if body is not a JSON object with a "messages"
 * array; -ENOMEM.
 */
int tok_count_chat(const char *body, size_t len, const char *model,
		   struct tok_chat_count *out);

/*
 * OpenAI Responses API request ("input" string or item list, plus
 * "instructions"), counted with the same per-message rules.  Approximate
 * (OpenAI documents no format for it): flags always has TOK_CHAT_APPROX_TOOLS
 * when tools are present.
 */
int tok_count_responses(const char *body, size_t len, const char *model,
			struct tok_chat_count *out);

/*
 * ESTIMATES for providers whose tokenizer is not public.  These are not
 * exact counts and must be recorded as estimated: o200k_base counts scaled
 * by a factor calibrated on recorded traffic (see tok_estimate.c), plus the
 * provider's per-request / per-message / per-tool overheads as measured.
 */
enum tok_family {
	TOK_FAMILY_ANTHROPIC,	/* Claude 3 / 3.5 / 4 */
	TOK_FAMILY_GEMINI,	/* Gemini 1.5 / 2.x */
};

struct tok_estimate {
	int64_t tokens;		/* the estimate */
	int64_t low, high;	/* a range the calibration data stayed within */
};

/* Estimate the tokens of plain text (e.g. a response cut off mid-stream). */
int tok_estimate_text(enum tok_family fam, const void *text, size_t len,
		      struct tok_estimate *out);
/* Estimate the input tokens of an Anthropic Messages request body. */
int tok_estimate_anthropic_request(const char *body, size_t len,
				   struct tok_estimate *out);
/* Estimate the input tokens of a Gemini generateContent request body. */
int tok_estimate_gemini_request(const char *body, size_t len,
				struct tok_estimate *out);

/* `tollgate tokenize`: DESIGN §9. */
int cmd_tokenize(int argc, char **argv);

#endif
