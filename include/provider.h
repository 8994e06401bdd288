/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * LLM API recognition.  Each provider file in user/providers/ contributes
 * one table row: it recognises its API by the request path (whatever the
 * host), then reads the request body for the model and stream flag.
 */
#ifndef TOLLGATE_PROVIDER_H
#define TOLLGATE_PROVIDER_H

#include <stddef.h>
#include <stdint.h>
#include "usage.h"

struct sse_event;

#define PROVIDER_MODEL_MAX	256
#define PROVIDER_NAME_MAX	32

enum llm_api {
	LLM_API_NONE = 0,
	LLM_API_CHAT,		/* OpenAI chat/completions */
	LLM_API_COMPLETIONS,	/* OpenAI legacy completions */
	LLM_API_RESPONSES,	/* OpenAI responses */
	LLM_API_EMBEDDINGS,	/* OpenAI embeddings */
	LLM_API_MESSAGES,	/* Anthropic messages */
	LLM_API_GENERATE,	/* Gemini generateContent */
	LLM_API_STREAM_GENERATE,/* Gemini streamGenerateContent */
	LLM_API_EMBED,		/* Gemini embedContent / batchEmbedContents */
};

struct llm_call {
	const struct provider *prov;
	enum llm_api api;
	char provider[PROVIDER_NAME_MAX];	/* name reported: "openai", "groq", ... */
	char model[PROVIDER_MODEL_MAX];		/* "" until known */
	int model_cut;				/* the name was longer than model[] */
	int stream;
	int include_usage;			/* OpenAI: stream_options.include_usage */
	int64_t max_tokens;			/* max_tokens / max_output_tokens /
						   max_completion_tokens /
						   generationConfig.maxOutputTokens; -1 if unset */
};

/*
 * The response side of one call.  The agent feeds the decoded body as it
 * arrives: a non-stream body in pieces (llm_resp_body), or the SSE events
 * of a stream one by one (llm_resp_event), never both, then
 * llm_resp_finish.  Memory is bounded whatever the response: a stream
 * keeps only the last usage it saw; a body is scanned, not kept: the
 * members usage and text are read from are read as they pass (any size,
 * any nesting), and only the small values read (a model name, a token
 * count) are kept, each up to a cap.  Every split of a body gives the
 * same result, text included.
 */
enum llm_resp_flags {
	LLM_RESP_USAGE		= 1 << 0,	/* the provider reported usage */
	LLM_RESP_ERROR		= 1 << 1,	/* an error body, or a stream that
						   ended in an error event */
	LLM_RESP_BAD_JSON	= 1 << 2,	/* a body or event that is not JSON,
						   or cut inside a value */
	LLM_RESP_CAPPED		= 1 << 3,	/* a value read (model name, token
						   count) was larger than the cap:
						   left out */
	LLM_RESP_DONE		= 1 << 4,	/* the stream reached its final event
						   (message_stop, [DONE], response.completed,
						   .incomplete, .failed, a Gemini chunk with a
						   finishReason); a body: its JSON is complete.
						   Not set by error events. */
};

/* Generated text (content deltas, tool-call arguments, visible reasoning)
 * as it arrives, for estimates; unescaped UTF-8, in pieces that end on a
 * character boundary when the input is valid UTF-8.  Tool arguments that
 * are objects (Anthropic tool_use input, Gemini functionCall args) come
 * as their JSON text without white space. */
typedef void (*llm_text_fn)(void *ctx, const char *s, size_t len);

struct llm_resp_state;			/* the provider's parse state */

struct llm_resp {
	const struct llm_call *call;
	int status;
	int sse;			/* the body is text/event-stream */
	unsigned flags;			/* enum llm_resp_flags */
	struct llm_usage usage;		/* valid when flags & LLM_RESP_USAGE */
	char model[PROVIDER_MODEL_MAX];	/* the model the response names, "" if none */
	uint64_t bad_events;		/* events that were not JSON */
	unsigned tool_calls;		/* tool calls generated (for estimates) */
	llm_text_fn on_text;		/* NULL: no text wanted */
	void *text_ctx;
	struct llm_resp_state *st;
};

/*
 * Start reading a response of `call` (which must outlive r; r itself may
 * be moved between calls).  cap bounds what is kept of any one value read
 * (0: a default of 1 MiB).  Sets LLM_RESP_ERROR when status >= 400.  Set
 * on_text and text_ctx after it.  0, -EINVAL (not an LLM call) or -ENOMEM;
 * llm_resp_free is safe after any of them.
 */
int llm_resp_init(struct llm_resp *r, const struct llm_call *call, int status,
		  int sse, size_t cap);
/* Decoded body bytes of a non-SSE response, in any split. */
int llm_resp_body(struct llm_resp *r, const uint8_t *data, size_t len);
/* One SSE event of a streamed response. */
int llm_resp_event(struct llm_resp *r, const struct sse_event *ev);
/* The body ended (whole or cut): settle the usage; text read of a value
 * cut off is handed out.  Feeds after it are ignored. */
void llm_resp_finish(struct llm_resp *r);
void llm_resp_free(struct llm_resp *r);


struct provider {
	const char *name;		/* API family */
	/* Path without query string.  Returns the API or LLM_API_NONE; may
	 * fill call->model from the path (Gemini, Azure deployments). */
	enum llm_api (*match)(const char *path, size_t len, struct llm_call *call);
	/* The request body, parsed.  Returns 0 when it has the API's shape,
	 * -EBADMSG otherwise.  `obj` is a json_object *. */
	int (*on_request)(struct llm_call *call, void *obj);
	/* Response side, see struct llm_resp. */
	int (*resp_body)(struct llm_resp *r, const uint8_t *data, size_t len);
	int (*resp_event)(struct llm_resp *r, const struct sse_event *ev);
	void (*resp_finish)(struct llm_resp *r);
};

extern const struct provider provider_openai;
extern const struct provider provider_anthropic;
extern const struct provider provider_gemini;

/*
 * Recognise an LLM call from its request head.  `target` is the
 * request-target as sent (a query string is ignored).  Returns 1 and
 * fills `call` for an LLM API path, 0 otherwise.
 */
int provider_match(const char *host, size_t host_len,
		   const char *target, size_t target_len, struct llm_call *call);

/*
 * Read the (decoded) request body: model, stream flag, include_usage and
 * max_tokens (provider_match set it to -1).  Returns 0 when
 * the body has the API's shape, -EBADMSG when it is not JSON or not the
 * API's shape.
 */
int provider_on_request(struct llm_call *call, const uint8_t *body, size_t len);

/*
 * Last resort for a request body that could not be parsed whole (cut by a
 * gap or the cap, nested past json-c's depth limit, not JSON past some
 * point): a streaming scan of what there is for the top-level "model"
 * (set only when call->model is still empty), "stream": true, and where
 * they come before the cut, stream_options.include_usage and the output
 * limit (set only when still -1).  A "model" or "stream" inside another
 * member or a string is never taken, at any depth; the first complete
 * top-level model string is.  Returns 1 when it was found (whether or not
 * it was set), else 0.
 */
int provider_scan_request(struct llm_call *call, const uint8_t *body, size_t len);

/* The API of a body whose path is not known, told by its shape (request 1:
 * a request body, 0: the start of a response): call set as provider_match
 * sets it, for the API family.  1 if told, else 0. */
int provider_guess(struct llm_call *call, const uint8_t *body, size_t len, int request);

/*
 * The path of a request-target: in origin form ("/v1/x?k=v") up to the
 * query or fragment; in absolute form ("https://user:key@host/v1/x") the
 * path after the authority, which is dropped with any userinfo in it ("/"
 * if there is no path).  Sets *plen and returns where the path starts.
 */
const char *provider_target_path(const char *target, size_t len, size_t *plen);

/* Copy a string into dst (NUL-terminated).  Returns 1 when it had to be
 * cut to fit, else 0. */
int provider_copy_str(char *dst, size_t cap, const char *src, size_t len);
/* Sets call->model (and call->model_cut). */
void provider_set_model(struct llm_call *call, const char *s, size_t len);

#endif
