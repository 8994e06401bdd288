// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Provider dispatch: the API is recognised by path, the provider is named
 * by host when the host is a known one.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>
#include "provider.h"

static const struct provider *const providers[] = {
	&provider_anthropic,	/* before openai: /v1/messages is specific */
	&provider_gemini,
	&provider_openai,
};

/* Hosts that name a provider, matched as a suffix at a label boundary. */
static const struct {
	const char *suffix;
	const char *name;
} known_hosts[] = {
	{ "api.openai.com",			"openai" },
	{ "openai.azure.com",			"azure-openai" },
	{ "cognitiveservices.azure.com",	"azure-openai" },
	{ "api.anthropic.com",			"anthropic" },
	{ "generativelanguage.googleapis.com",	"gemini" },
	{ "aiplatform.googleapis.com",		"vertex-ai" },
	{ "api.mistral.ai",			"mistral" },
	{ "api.groq.com",			"groq" },
	{ "api.deepseek.com",			"deepseek" },
	{ "openrouter.ai",			"openrouter" },
	{ "api.together.xyz",			"together" },
	{ "api.together.ai",			"together" },
	{ "api.fireworks.ai",			"fireworks" },
	{ "api.x.ai",				"xai" },
};

const char *provider_target_path(const char *target, size_t len, size_t *plen)
{
	const char *end = target + len, *p = target, *s;
	size_t i;

	if (len && target[0] != '/') {
		/* absolute form: scheme "://" authority [path] */
		s = memmem(target, len, "://", 3);
		if (s) {
			s += 3;
			p = memchr(s, '/', end - s);
			if (!p) {
				*plen = 1;
				return "/";
			}
		}
	}
	for (i = 0; p + i < end; i++)
		if (p[i] == '?' || p[i] == '#')
			break;
	*plen = i;
	return p;
}

int provider_copy_str(char *dst, size_t cap, const char *src, size_t len)
{
	int cut = len >= cap;

	if (cut)
		len = cap - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return cut;
}

void provider_set_model(struct llm_call *call, const char *s, size_t len)
{
	call->model_cut = provider_copy_str(call->model, sizeof(call->model), s, len);
}

static const char *host_provider(const char *host, size_t len)
{
	size_t i, n;

	/* Drop a port. */
	for (i = len; i > 0; i--) {
		if (host[i - 1] == ':') {
			len = i - 1;
			break;
		}
		if (host[i - 1] < '0' || host[i - 1] > '9')
			break;
	}
	for (i = 0; i < sizeof(known_hosts) / sizeof(known_hosts[0]); i++) {
		n = strlen(known_hosts[i].suffix);
		if (len < n || strncasecmp(host + len - n, known_hosts[i].suffix, n))
			continue;
		/* At a label boundary; Vertex hosts read REGION-aiplatform... */
		if (len == n || host[len - n - 1] == '.' || host[len - n - 1] == '-')
			return known_hosts[i].name;
	}
	return NULL;
}

int provider_match(const char *host, size_t host_len,
		   const char *target, size_t target_len, struct llm_call *call)
{
	const char *path, *name;
	size_t i, plen;

	memset(call, 0, sizeof(*call));
	path = provider_target_path(target, target_len, &plen);
	for (i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
		call->api = providers[i]->match(path, plen, call);
		if (call->api != LLM_API_NONE) {
			call->prov = providers[i];
			break;
		}
	}
	if (!call->prov)
		return 0;
	name = host ? host_provider(host, host_len) : NULL;
	if (!name)
		name = call->prov->name;
	provider_copy_str(call->provider, sizeof(call->provider), name, strlen(name));
	return 1;
}

static int only_space(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return 0;
		else
			p++;
	return 1;
}

int provider_on_request(struct llm_call *call, const uint8_t *body, size_t len)
{
	struct json_tokener *tok;
	json_object *obj;
	int err;

	if (!call->prov)
		return -EINVAL;
	tok = json_tokener_new_ex(64);
	if (!tok)
		return -ENOMEM;
	if (len > INT32_MAX) {
		json_tokener_free(tok);
		return -EMSGSIZE;
	}
	obj = json_tokener_parse_ex(tok, (const char *)body, (int)len);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success ||
	    !only_space(body + json_tokener_get_parse_end(tok),
			len - json_tokener_get_parse_end(tok)) ||
	    !json_object_is_type(obj, json_type_object))
		err = -EBADMSG;
	else
		err = call->prov->on_request(call, obj);
	json_object_put(obj);
	json_tokener_free(tok);
	return err;
}
