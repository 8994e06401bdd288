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
};

struct provider {
	const char *name;		/* API family */
	/* Path without query string.  Returns the API or LLM_API_NONE; may
	 * fill call->model from the path (Gemini, Azure deployments). */
	enum llm_api (*match)(const char *path, size_t len, struct llm_call *call);
	/* The request body, parsed.  Returns 0 when it has the API's shape,
	 * -EBADMSG otherwise.  `obj` is a json_object *. */
	int (*on_request)(struct llm_call *call, void *obj);
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
 * Read the (decoded) request body: model and stream flag.  Returns 0 when
 * the body has the API's shape, -EBADMSG when it is not JSON or not the
 * API's shape.
 */
int provider_on_request(struct llm_call *call, const uint8_t *body, size_t len);

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
