// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * A metered call, printed: the text line of `trace` and `run`, and the
 * JSON object of `trace --format jsonl` and the events file, whose field
 * names are the contract (DESIGN §9).  Captured strings are escaped: what
 * a process sends cannot forge a line or a field.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "callfmt.h"
#include "enforce.h"
#include "escape.h"

static const char *const usage_names[] = {
	[TG_USAGE_NONE] = NULL,
	[TG_USAGE_PROVIDER] = "provider",
	[TG_USAGE_ESTIMATED] = "estimated",
};

/* Captured strings go into JSON as valid UTF-8 (json-c escapes the rest). */
static void add_str(json_object *o, const char *k, const char *v)
{
	char buf[PATH_MAX * 3 + 1];

	if (!v || !v[0]) {
		json_object_object_add(o, k, NULL);
		return;
	}
	escape_utf8(buf, sizeof(buf), v, strlen(v));
	json_object_object_add(o, k, json_object_new_string(buf));
}

static void add_ms(json_object *o, const char *k, uint64_t ns)
{
	char buf[32];

	/* Milliseconds with microsecond resolution; null when unknown. */
	if (ns == TG_TIME_UNKNOWN) {
		json_object_object_add(o, k, NULL);
		return;
	}
	snprintf(buf, sizeof(buf), "%" PRIu64 ".%03" PRIu64, ns / 1000000, ns / 1000 % 1000);
	json_object_object_add(o, k, json_object_new_double_s((double)ns / 1e6, buf));
}

static void add_int(json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

char *call_json(const struct tg_call *c)
{
	const struct tg_record *r = c->rec;
	const struct llm_usage *u = &r->usage;
	json_object *o = json_object_new_object();
	char usd[32];
	char *s;

	if (!o)
		return NULL;
	add_int(o, "ts", c->ts_ns);
	add_int(o, "pid", r->who.tgid);
	add_str(o, "comm", r->who.comm);
	add_str(o, "exe", c->exe);
	add_int(o, "uid", r->who.uid);
	add_str(o, "cgroup", c->cgroup);
	add_str(o, "team", c->team);
	add_str(o, "provider", r->call.provider);
	add_str(o, "host", r->host);
	add_str(o, "method", r->method);
	add_str(o, "path", r->path);
	add_str(o, "model", record_model(r));
	json_object_object_add(o, "stream", json_object_new_boolean(r->call.stream));
	json_object_object_add(o, "status", r->status ? json_object_new_int(r->status) : NULL);
	add_int(o, "request_bytes", r->request_bytes);
	add_int(o, "response_bytes", r->response_bytes);
	add_int(o, "input_tokens", u->input_tokens);
	add_int(o, "cached_input_tokens", u->cached_input_tokens);
	add_int(o, "cache_write_tokens", u->cache_write_tokens);
	add_int(o, "output_tokens", u->output_tokens);
	add_int(o, "reasoning_tokens", u->reasoning_tokens);
	add_str(o, "usage_source", usage_names[r->usage_source]);
	usd_format(c->cost_nano, usd, sizeof(usd));
	json_object_object_add(o, "cost_usd",
			       json_object_new_double_s((double)c->cost_nano / 1e9, usd));
	json_object_object_add(o, "unpriced", json_object_new_boolean(c->unpriced));
	add_ms(o, "ttft_ms", r->ttft_ns);
	add_ms(o, "duration_ms", r->duration_ns);
	add_str(o, "key_fp", r->key_fp);
	json_object_object_add(o, "capture", json_object_new_string(c->capture));
	add_str(o, "action", c->action);
	if (r->flags & TG_REC_FIELD_CUT)
		json_object_object_add(o, "fields_cut", json_object_new_boolean(1));
	if (r->flags & TG_REC_RESP_ERROR)
		json_object_object_add(o, "error", json_object_new_boolean(1));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

static void fmt_ms(char *buf, size_t cap, uint64_t ns)
{
	if (ns == TG_TIME_UNKNOWN)
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, "%" PRIu64 ".%01" PRIu64 "ms", ns / 1000000,
			 ns / 100000 % 10);
}

/* A text field: escaped (spaces too), "?" when empty. */
static const char *text_field(char *buf, size_t cap, const char *s)
{
	if (!s || !s[0])
		return "?";
	escape_text(buf, cap, s, strlen(s), ESCAPE_SPACE);
	return buf;
}

static const struct {
	uint32_t flag;
	const char *tag;
} text_tags[] = {
	{ TG_REC_REQ_TRUNCATED | TG_REC_RESP_TRUNCATED | TG_REC_NO_RESPONSE, "cut-off" },
	{ TG_REC_UNTRACKED,	"untracked" },
	{ TG_REC_MISSED_START,	"missed-start" },
	{ TG_REC_GAP,		"gap" },
	{ TG_REC_SHED,		"shed" },
	{ TG_REC_DECODE_ERROR,	"decode-error" },
	{ TG_REC_BODY_OVERFLOW,	"body-over-cap" },
	{ TG_REC_SSE_DROPPED,	"events-dropped" },
	{ TG_REC_FIELD_CUT,	"field-cut" },
	{ TG_REC_UNPARSED,	"unparsed" },
	{ TG_REC_RESP_ERROR,	"error" },
};

/* in=N(+Ncached)(+Nwrite) out=N(rN): the buckets that are not zero */
static void fmt_tokens(char *buf, size_t cap, const struct tg_record *r)
{
	const struct llm_usage *u = &r->usage;
	size_t n;

	n = snprintf(buf, cap, "in=%" PRId64, u->input_tokens);
	if (u->cached_input_tokens && n < cap)
		n += snprintf(buf + n, cap - n, "+%" PRId64 "c", u->cached_input_tokens);
	if (u->cache_write_tokens && n < cap)
		n += snprintf(buf + n, cap - n, "+%" PRId64 "w", u->cache_write_tokens);
	if (n < cap)
		n += snprintf(buf + n, cap - n, " out=%" PRId64, u->output_tokens);
	if (u->reasoning_tokens && n < cap)
		n += snprintf(buf + n, cap - n, "(%" PRId64 "r)", u->reasoning_tokens);
	if (r->usage_source == TG_USAGE_ESTIMATED && n < cap)
		snprintf(buf + n, cap - n, "~");
}

const char *call_text(const struct tg_call *c, char *buf, size_t cap)
{
	const struct tg_record *r = c->rec;
	time_t secs = c->ts_ns / 1000000000;
	char when[32], ttft[32], dur[32], status[8], tags[160] = "", tokens[160], usd[32];
	char comm[64], cg[1024], team[256], prov[128], meth[64], host[1024], path[2048];
	char model[1024];
	struct tm tm;
	size_t i;

	localtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fmt_ms(ttft, sizeof(ttft), r->ttft_ns);
	fmt_ms(dur, sizeof(dur), r->duration_ns);
	if (r->status)
		snprintf(status, sizeof(status), "%d", r->status);
	else
		snprintf(status, sizeof(status), "---");
	for (i = 0; i < sizeof(text_tags) / sizeof(text_tags[0]); i++)
		if (r->flags & text_tags[i].flag)
			snprintf(tags + strlen(tags), sizeof(tags) - strlen(tags), " %s",
				 text_tags[i].tag);
	if (c->unpriced)
		snprintf(tags + strlen(tags), sizeof(tags) - strlen(tags), " unpriced");
	if (c->action)	/* what the gate did to it on the way */
		snprintf(tags + strlen(tags), sizeof(tags) - strlen(tags), " %s",
			 !strcmp(c->action, "throttle") ? "throttled" : "alerted");
	fmt_tokens(tokens, sizeof(tokens), r);
	usd_format(c->cost_nano, usd, sizeof(usd));
	snprintf(buf, cap, "%s.%03" PRId64 " %-7u %-15s %-24s %-10s %-18s %s %s%s %s%s %s "
		 "%s $%s req=%" PRIu64 "B resp=%" PRIu64 "B ttft=%s dur=%s%s",
		 when, c->ts_ns / 1000000 % 1000, r->who.tgid,
		 text_field(comm, sizeof(comm), r->who.comm),
		 text_field(cg, sizeof(cg), c->cgroup),
		 text_field(team, sizeof(team), c->team),
		 text_field(prov, sizeof(prov), r->call.provider),
		 text_field(meth, sizeof(meth), r->method),
		 text_field(host, sizeof(host), r->host),
		 text_field(path, sizeof(path), r->path),
		 text_field(model, sizeof(model), record_model(r)),
		 r->call.stream ? " stream" : "", status, tokens, usd,
		 r->request_bytes, r->response_bytes, ttft, dur, tags);
	return buf;
}

/* --- alerts and actions ------------------------------------------------ */

static char *json_done(json_object *o)
{
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return s;
}

/* An amount as "_usd" (exact decimal) or "_tokens" under prefix. */
static void add_amount(json_object *o, const char *prefix, int tokens, int64_t v)
{
	char k[48], usd[32];

	snprintf(k, sizeof(k), "%s_%s", prefix, tokens ? "tokens" : "usd");
	if (tokens) {
		add_int(o, k, v);
		return;
	}
	usd_format(v, usd, sizeof(usd));
	json_object_object_add(o, k, json_object_new_double_s((double)v / 1e9, usd));
}

static const char *pct(char *buf, size_t cap, int64_t bp)
{
	if (bp % 100)
		snprintf(buf, cap, "%" PRId64 ".%02" PRId64 "%%", bp / 100, bp % 100);
	else
		snprintf(buf, cap, "%" PRId64 "%%", bp / 100);
	return buf;
}

char *alert_json(const struct alert_view *a)
{
	json_object *o = json_object_new_object();
	char buf[48];

	if (!o)
		return NULL;
	json_object_object_add(o, "event", json_object_new_string("alert"));
	add_int(o, "ts", a->ts_ns);
	json_object_object_add(o, "kind", json_object_new_string(a->kind));
	add_str(o, "team", a->team);
	add_str(o, "window", a->window);
	add_str(o, "action", a->action);
	if (a->threshold_bp)
		json_object_object_add(o, "threshold",
				       json_object_new_string(pct(buf, sizeof(buf), a->threshold_bp)));
	add_amount(o, "spent", a->tokens, a->spent);
	add_amount(o, "limit", a->tokens, a->limit);
	if (!a->threshold_bp)
		add_amount(o, "projected", a->tokens, a->projected);
	add_int(o, "window_start", a->window_start);
	add_int(o, "window_end", a->window_end);
	return json_done(o);
}

char *action_json(const struct enforce_action *a)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "event", json_object_new_string("action"));
	add_int(o, "ts", a->ts_ns);
	json_object_object_add(o, "action", json_object_new_string(a->action));
	json_object_object_add(o, "why", json_object_new_string(a->why));
	add_int(o, "pid", a->tgid);
	add_str(o, "team", a->team);
	add_str(o, "provider", a->provider);
	add_str(o, "model", a->model);
	if (a->budget >= 0) {
		add_int(o, "budget", a->budget);
		add_amount(o, "spent", a->tokens, a->spent);
		add_amount(o, "limit", a->tokens, a->limit);
	}
	add_ms(o, "held_ms", (uint64_t)a->held_ns);
	json_object_object_add(o, "dry_run", json_object_new_boolean(a->dry_run));
	json_object_object_add(o, "ok", json_object_new_boolean(a->ok));
	add_str(o, "error", a->error);
	return json_done(o);
}

static const char *amount_text(char *buf, size_t cap, int tokens, int64_t v)
{
	char usd[32];

	if (tokens) {
		snprintf(buf, cap, "%" PRId64 " tokens", v);
	} else {
		usd_format(v, usd, sizeof(usd));
		snprintf(buf, cap, "$%s", usd);
	}
	return buf;
}

const char *alert_text(const struct alert_view *a, char *buf, size_t cap)
{
	char team[200], sp[48], li[48], pr[48], th[48];

	text_field(team, sizeof(team), a->team);
	if (a->threshold_bp)
		snprintf(buf, cap, "alert: team %s reached %s of its %s budget: %s of %s",
			 team, pct(th, sizeof(th), a->threshold_bp), a->window,
			 amount_text(sp, sizeof(sp), a->tokens, a->spent),
			 amount_text(li, sizeof(li), a->tokens, a->limit));
	else
		snprintf(buf, cap, "alert: team %s is projected to spend %s of its %s budget"
			 " of %s (now %s)", team,
			 amount_text(pr, sizeof(pr), a->tokens, a->projected), a->window,
			 amount_text(li, sizeof(li), a->tokens, a->limit),
			 amount_text(sp, sizeof(sp), a->tokens, a->spent));
	return buf;
}

const char *action_text(const struct enforce_action *a, char *buf, size_t cap)
{
	char team[200], model[200], sp[48], li[48], fig[120] = "";

	if (a->budget >= 0)
		snprintf(fig, sizeof(fig), " (%s of %s)",
			 amount_text(sp, sizeof(sp), a->tokens, a->spent),
			 amount_text(li, sizeof(li), a->tokens, a->limit));
	snprintf(buf, cap, "%s%s: pid %d team %s model %s: %s%s%s%s",
		 a->dry_run ? "would " : "", a->action, (int)a->tgid,
		 text_field(team, sizeof(team), a->team),
		 text_field(model, sizeof(model), a->model), a->why, fig,
		 a->ok || a->dry_run ? "" : ": failed: ", a->ok || a->dry_run ? "" :
		 (a->error ? a->error : "?"));
	return buf;
}
