/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What the provider files share for reading responses (private to
 * user/provider.c and user/providers/).
 *
 * A response is read by table: each provider lists, as rules, the members
 * it reads (a path of member names from the root, one rule a level) and
 * what each one is.  The body or event is scanned once with jscan; values
 * no rule names are passed over without being kept, containers a rule
 * names are entered, and leaves are read as text: generated text goes to
 * the caller's on_text, numbers and names into small fixed buffers.
 * Nothing grows with the response.
 *
 * Usage objects are read field by field as they pass and committed when
 * the object closes, so a report cut off midway is not taken; a report
 * replaces the last one, or for Anthropic overrides it field by field.
 */
#ifndef TOLLGATE_PROVIDERS_COMMON_H
#define TOLLGATE_PROVIDERS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include "jscan.h"
#include "provider.h"

#define LLM_RESP_CAP_DEFAULT	(1u << 20)
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

/* What a value is.  Below RN_LEAF: containers, entered. */
enum rnode {
	RN_NONE = 0,
	RN_TOP,		/* parent of the root value */
	RN_DOC,		/* the response object (or one chunk or event) */
	RN_LIST,	/* a JSON array of response objects (Gemini stream) */
	RN_USAGE,	/* a usage report: committed when it closes */
	RN_UIN,		/* input token details */
	RN_UOUT,	/* output token details */
	RN_UCC,		/* Anthropic usage.cache_creation */
	RN_XGROQ,	/* Groq x_groq */
	RN_RESPONSE,	/* the response in an OpenAI responses event */
	RN_CHOICES,	/* OpenAI chat and completions */
	RN_CHOICE,
	RN_MESSAGE,	/* message or delta */
	RN_MPARTS,	/* content given as parts */
	RN_MPART,
	RN_TOOLCALLS,
	RN_TOOLCALL,
	RN_FUNCTION,
	RN_OUTPUT,	/* OpenAI responses */
	RN_ITEM,
	RN_ICONTENT,
	RN_IPART,
	RN_SUMMARY,
	RN_SPART,
	RN_CONTENT,	/* Anthropic */
	RN_BLOCK,
	RN_AMESSAGE,
	RN_ADELTA,
	RN_ABLOCK,	/* Anthropic content_block_start's block */
	RN_CANDS,	/* Gemini */
	RN_CAND,
	RN_GCONTENT,
	RN_GPARTS,
	RN_GPART,
	RN_GCALL,
	RN_GCODE,
	RN_LEAF,
	/* leaves, read as text */
	RN_TEXT = RN_LEAF,	/* generated text: to on_text */
	RN_DELTA,	/* generated text if the event is a text delta */
	RN_TOOLNAME,	/* a tool call's name: generated text, and a call */
	RN_MODEL,	/* the model the response names */
	RN_TYPE,	/* the event's type */
	RN_NUM,		/* a token count: RN_NUM + enum ufield */
	/* leaves only looked at */
	RN_ERROR = RN_NUM + 16,	/* present and not null: an error */
	RN_FINISH,	/* a finish reason: the last chunk of a Gemini stream */
};

/* Token counts as providers report them, before billing buckets. */
enum ufield {
	F_PROMPT,	/* prompt_tokens, input_tokens, promptTokenCount */
	F_OUTPUT,	/* completion_tokens, output_tokens, candidatesTokenCount */
	F_CACHED,	/* cached_tokens, cache_read_input_tokens, cachedContentTokenCount */
	F_CACHE_HIT,	/* DeepSeek prompt_cache_hit_tokens */
	F_REASONING,	/* reasoning_tokens, thoughtsTokenCount */
	F_TOOL_PROMPT,	/* toolUsePromptTokenCount */
	F_CACHE_WRITE,	/* cache_creation_input_tokens */
	F_CACHE_5M,	/* cache_creation.ephemeral_5m_input_tokens */
	F_CACHE_1H,	/* cache_creation.ephemeral_1h_input_tokens */
	F_MAX,
};

#define RN_F(f)	((uint8_t)(RN_NUM + (f)))

/* Kinds of value a rule applies to. */
#define K_OBJ	(1u << JSCAN_OBJECT)
#define K_ARR	(1u << JSCAN_ARRAY)
#define K_STR	(1u << JSCAN_STRING)
#define K_NUM	(1u << JSCAN_NUMBER)
#define K_ERR	(K_OBJ | K_STR)	/* an error member that is set */

/* A member a provider reads, listed under the container holding it. */
struct resp_rule {
	uint8_t node;		/* enum rnode: what it is */
	uint8_t kinds;		/* K_* it applies to */
	const char *key;	/* member name; NULL: the root, or any array element */
};

enum usage_conv {
	CONV_OPENAI,	/* prompt includes cached; output includes reasoning */
	CONV_ANTHROPIC,	/* input excludes cache reads and writes */
	CONV_GEMINI,	/* prompt includes cached; output excludes thoughts */
};

/* The grammar of one kind of response: what is read in each container. */
struct resp_rules {
	struct {
		const struct resp_rule *rule;
		unsigned n;
	} kids[RN_LEAF];	/* by the enum rnode of the container */
	uint8_t conv;		/* enum usage_conv */
	uint8_t merge;		/* a report overrides the last field by field */
};

/* The members read in a container, written in place:
 * [RN_DOC] = KIDS({ RN_MODEL, K_STR, "model" }, ...). */
#define KIDS(...) {							\
	(const struct resp_rule[]){ __VA_ARGS__ },			\
	sizeof((const struct resp_rule[]){ __VA_ARGS__ }) / sizeof(struct resp_rule) \
}

/* The root of a response is an object. */
#define ROOT_DOC	[RN_TOP] = KIDS({ RN_DOC, K_OBJ, NULL })

struct raw_usage {
	int64_t v[F_MAX];
	unsigned have;		/* 1 << enum ufield */
};

struct llm_resp_state {
	struct jscan js;
	const struct resp_rules *rules;
	size_t cap;
	uint8_t node[JSCAN_DEPTH + 1];	/* enum rnode of each entered level */
	uint8_t leaf;		/* the leaf being read, RN_NONE if none */
	uint8_t delta_ok;	/* RN_DELTA is text in this event */
	uint8_t finish;		/* RN_FINISH seen in this event */
	uint8_t finished;
	size_t leaf_len;	/* bytes of the leaf seen */
	size_t str_len;
	char str[PROVIDER_MODEL_MAX];	/* the leaf, as far as it fits */
	char type[64];			/* the event's type */
	struct raw_usage cur;		/* the last report */
	struct raw_usage stage;		/* the report being read */
};

void resp_state_init(struct llm_resp *r, size_t cap);

/* A body, fed in pieces, then settled. */
void resp_body_feed(struct llm_resp *r, const struct resp_rules *rules,
		    const uint8_t *data, size_t len);
void resp_body_finish(struct llm_resp *r);

/* One SSE event's data, whole.  0, or -EBADMSG (counted) if not JSON. */
int resp_event_scan(struct llm_resp *r, const struct resp_rules *rules,
		    const char *data, size_t len);
/* The event's type: its event: field, else the data's "type" member. */
const char *resp_event_type(struct llm_resp *r, const struct sse_event *ev);
/* An event whose data is the literal s (white space around ignored). */
int resp_data_is(const struct sse_event *ev, const char *s);

/* A member of a parsed request: a non-negative integer, else -1. */
int64_t req_count(void *obj, const char *key);
/* A member of a parsed request: 1 if it is true. */
int req_true(void *obj, const char *key);

#endif
