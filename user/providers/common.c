// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The rule-driven response reader the provider files share (common.h).
 */
#include <errno.h>
#include <string.h>
#include <json-c/json.h>
#include "sse.h"
#include "common.h"

/* Token counts above this are taken as garbage: sums of a few stay far
 * from overflowing. */
#define COUNT_MAX	1000000000000000ll

static const struct resp_rule *rule_find(const struct resp_rules *rs, uint8_t parent,
					 const char *key, size_t klen,
					 enum jscan_kind kind)
{
	const struct resp_rule *ru = rs->kids[parent].rule;
	const struct resp_rule *end = ru + rs->kids[parent].n;

	for (; ru < end; ru++) {
		if (!(ru->kinds & 1u << kind))
			continue;
		if (!ru->key ? !key :
		    key && klen && ru->key[0] == key[0] &&
		    strlen(ru->key) == klen && !memcmp(ru->key, key, klen))
			return ru;
	}
	return NULL;
}

/* A token count: digits, and a fraction only if it is zero. */
static int parse_count(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;
	size_t i = 0;

	if (!n || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		v = v * 10 + (s[i] - '0');
		if (v > COUNT_MAX)
			return -ERANGE;
	}
	if (i < n && s[i] == '.')
		for (i++; i < n && s[i] == '0'; i++)
			;
	if (i != n)
		return -EINVAL;
	*out = v;
	return 0;
}

static int64_t sub0(int64_t a, int64_t b)
{
	return a > b ? a - b : 0;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* The reported counts in billing buckets (DESIGN §9; usage.h). */
static void usage_convert(const struct raw_usage *u, enum usage_conv conv,
			  struct llm_usage *out)
{
	const int64_t *v = u->v;
	int64_t cached;

	memset(out, 0, sizeof(*out));
	switch (conv) {
	case CONV_ANTHROPIC:
		out->input_tokens = v[F_PROMPT];
		out->cached_input_tokens = v[F_CACHED];
		out->cache_write_tokens = u->have & 1u << F_CACHE_WRITE ? v[F_CACHE_WRITE] :
					  v[F_CACHE_5M] + v[F_CACHE_1H];
		/* the 1-hour part of the writes, never more than all of them */
		out->cache_write_1h_tokens = min64(v[F_CACHE_1H], out->cache_write_tokens);
		out->output_tokens = v[F_OUTPUT];
		break;
	case CONV_GEMINI:
		/* promptTokenCount includes the cached part; the tool-use
		 * prompt is input too; thoughts bill as output. */
		cached = min64(v[F_CACHED], v[F_PROMPT]);
		out->input_tokens = v[F_PROMPT] - cached + v[F_TOOL_PROMPT];
		out->cached_input_tokens = cached;
		out->output_tokens = v[F_OUTPUT] + v[F_REASONING];
		out->reasoning_tokens = v[F_REASONING];
		break;
	default:
		/* prompt_tokens includes the cached part (DeepSeek names it
		 * prompt_cache_hit_tokens); completion_tokens the reasoning. */
		cached = u->have & 1u << F_CACHED ? v[F_CACHED] : v[F_CACHE_HIT];
		cached = min64(cached, v[F_PROMPT]);
		out->input_tokens = sub0(v[F_PROMPT], cached);
		out->cached_input_tokens = cached;
		out->output_tokens = v[F_OUTPUT];
		out->reasoning_tokens = v[F_REASONING];
		break;
	}
}

static void usage_commit(struct llm_resp *r)
{
	struct llm_resp_state *st = r->st;
	unsigned f;

	if (!st->stage.have)
		return;		/* no count in it: not a report */
	if (st->rules->merge) {
		for (f = 0; f < F_MAX; f++)
			if (st->stage.have & 1u << f)
				st->cur.v[f] = st->stage.v[f];
		st->cur.have |= st->stage.have;
	} else {
		st->cur = st->stage;
	}
	usage_convert(&st->cur, st->rules->conv, &r->usage);
	r->flags |= LLM_RESP_USAGE;
}

static void leaf_end(struct llm_resp *r)
{
	struct llm_resp_state *st = r->st;
	unsigned f;
	int64_t v;

	st->str[st->str_len] = '\0';
	if (st->leaf_len > st->cap) {
		r->flags |= LLM_RESP_CAPPED;
		return;
	}
	switch (st->leaf) {
	case RN_MODEL:
		if (st->str_len)
			provider_copy_str(r->model, sizeof(r->model), st->str, st->str_len);
		break;
	case RN_TYPE:
		provider_copy_str(st->type, sizeof(st->type), st->str, st->str_len);
		break;
	default:
		/* a count too long for str is no count (nor one we could read) */
		f = st->leaf - RN_NUM;
		if (f < F_MAX && st->leaf_len == st->str_len &&
		    !parse_count(st->str, st->str_len, &v)) {
			st->stage.v[f] = v;
			st->stage.have |= 1u << f;
		}
		break;
	}
}

static enum jscan_act on_value(void *ctx, unsigned depth, const char *key,
			       size_t key_len, enum jscan_kind kind)
{
	struct llm_resp *r = ctx;
	struct llm_resp_state *st = r->st;
	const struct resp_rule *ru;

	ru = rule_find(st->rules, depth ? st->node[depth - 1] : RN_TOP, key, key_len, kind);
	if (!ru)
		return JSCAN_SKIP;
	if (ru->node < RN_LEAF) {
		st->node[depth] = ru->node;
		if (ru->node == RN_USAGE)
			st->stage.have = 0;
		return JSCAN_ENTER;
	}
	switch (ru->node) {
	case RN_ERROR:
		r->flags |= LLM_RESP_ERROR;
		return JSCAN_SKIP;
	case RN_FINISH:
		st->finish = 1;
		return JSCAN_SKIP;
	case RN_DELTA:
		if (!st->delta_ok)
			return JSCAN_SKIP;
		/* fall through */
	case RN_TOOLNAME:
		/* a call's name comes once (a stream's first delta of it):
		 * it counts the calls, whose framing is billed too */
		if (ru->node == RN_TOOLNAME)
			r->tool_calls++;
		/* fall through */
	case RN_TEXT:
		if (!r->on_text)
			return JSCAN_SKIP;
		break;
	}
	st->leaf = ru->node;
	st->leaf_len = 0;
	st->str_len = 0;
	return JSCAN_TEXT;
}

static void on_text(void *ctx, unsigned depth, const char *s, size_t len)
{
	struct llm_resp *r = ctx;
	struct llm_resp_state *st = r->st;
	size_t k;

	if (st->leaf == RN_TEXT || st->leaf == RN_DELTA || st->leaf == RN_TOOLNAME) {
		r->on_text(r->text_ctx, s, len);
		return;
	}
	st->leaf_len += len;
	k = sizeof(st->str) - 1 - st->str_len;
	if (k > len)
		k = len;
	memcpy(st->str + st->str_len, s, k);
	st->str_len += k;
}

static void on_end(void *ctx, unsigned depth)
{
	struct llm_resp *r = ctx;
	struct llm_resp_state *st = r->st;

	if (st->leaf) {
		leaf_end(r);
		st->leaf = RN_NONE;
	} else if (st->node[depth] == RN_USAGE) {
		usage_commit(r);
	}
}

static const struct jscan_ops resp_ops = {
	.value = on_value,
	.text = on_text,
	.end = on_end,
};

void resp_state_init(struct llm_resp *r, size_t cap)
{
	struct llm_resp_state *st = r->st;

	st->cap = cap ? cap : LLM_RESP_CAP_DEFAULT;
	jscan_init(&st->js, &resp_ops, r);
}

void resp_body_feed(struct llm_resp *r, const struct resp_rules *rules,
		    const uint8_t *data, size_t len)
{
	struct llm_resp_state *st = r->st;

	st->rules = rules;
	st->js.ctx = r;		/* the caller may have moved r */
	if (jscan_feed(&st->js, data, len))
		r->flags |= LLM_RESP_BAD_JSON;
}

void resp_body_finish(struct llm_resp *r)
{
	static const struct resp_rules none;
	struct llm_resp_state *st = r->st;

	if (!st->rules)
		st->rules = &none;	/* no body came */
	st->js.ctx = r;
	if (jscan_finish(&st->js))
		r->flags |= LLM_RESP_BAD_JSON;	/* empty, cut, or not JSON */
	else
		r->flags |= LLM_RESP_DONE;
}

static int scan_whole(struct llm_resp *r, const struct resp_rules *rules,
		      const char *data, size_t len)
{
	struct llm_resp_state *st = r->st;
	int err;

	jscan_reset(&st->js);
	st->js.ctx = r;
	st->rules = rules;
	st->leaf = RN_NONE;
	st->finish = 0;
	err = jscan_feed(&st->js, (const uint8_t *)data, len);
	return err ? err : jscan_finish(&st->js);
}

int resp_event_scan(struct llm_resp *r, const struct resp_rules *rules,
		    const char *data, size_t len)
{
	if (!scan_whole(r, rules, data, len))
		return 0;
	r->bad_events++;
	r->flags |= LLM_RESP_BAD_JSON;
	return -EBADMSG;
}

static const struct resp_rules type_rules = {
	.kids = {
		ROOT_DOC,
		[RN_DOC] = KIDS({ RN_TYPE, K_STR, "type" }),
	},
};

const char *resp_event_type(struct llm_resp *r, const struct sse_event *ev)
{
	struct llm_resp_state *st = r->st;

	if (ev->event_len)
		return ev->event;
	/* Rare: OpenAI and Anthropic name their events.  The data is
	 * counted as bad (or not) by the scan that reads it. */
	st->type[0] = '\0';
	scan_whole(r, &type_rules, ev->data, ev->data_len);
	return st->type;
}

int resp_data_is(const struct sse_event *ev, const char *s)
{
	const char *d = ev->data, *end = d + ev->data_len;
	size_t n = strlen(s);

	while (d < end && (*d == ' ' || *d == '\t' || *d == '\r' || *d == '\n'))
		d++;
	while (end > d && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' ||
			   end[-1] == '\n'))
		end--;
	return (size_t)(end - d) == n && !memcmp(d, s, n);
}

int64_t req_count(void *obj, const char *key)
{
	json_object *v;
	int64_t n;

	if (!obj || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	n = json_object_get_int64(v);
	return n >= 0 ? n : -1;
}

int req_true(void *obj, const char *key)
{
	json_object *v;

	return obj && json_object_object_get_ex(obj, key, &v) &&
	       json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}
