// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Prometheus metrics: exact exposition lines (money without floats,
 * escaping, label folding, cumulative histograms), and the HTTP server on
 * loopback with a plain socket, including a client that holds a slot idle.
 *
 * TOLLGATE_METRICS_OUT=FILE writes a rendered exposition there, for
 * tests/integ/check_metrics_promtool.sh.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "metrics.h"
#include "tap.h"
#include "version.h"

static char *text;

static void render(struct metrics *m)
{
	size_t len;

	free(text);
	text = metrics_render(m, &len);
	if (!text)
		text = strdup("");
	else if (strlen(text) != len)
		text[0] = '\0';
}

/* How many whole lines of the exposition are line, not a prefix of one. */
static int count_line(const char *line)
{
	size_t n = strlen(line);
	const char *p = text;
	int k = 0;

	while ((p = strstr(p, line))) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			k++;
		p += 1;
	}
	return k;
}

static int has_line(const char *line)
{
	return count_line(line) > 0;
}

#define CHECK_LINE(l) CHECK(has_line(l), "no line: %s", l)

static struct metrics_call call(const char *team, const char *model)
{
	return (struct metrics_call){
		.team = team, .provider = "openai", .model = model, .status = 200,
		.ttft_ns = -1, .duration_ns = -1,
	};
}

static void test_tokens_and_cost(void)
{
	struct metrics *m = metrics_new();
	struct metrics_call c = call("web", "gpt-4o");

	c.input_tokens = 100;
	c.cached_input_tokens = 20;
	c.cache_write_tokens = 3;
	c.output_tokens = 50;
	c.reasoning_tokens = 7;
	c.cost_nusd = 1234567;
	c.stream = true;
	metrics_call(m, &c);
	c.cost_nusd = 12345678901234;	/* 12345.678901234 USD: past a double's care */
	c.status = 429;
	c.estimated = true;
	c.unpriced = true;
	metrics_call(m, &c);
	render(m);
	CHECK_LINE("tollgate_cost_usd_total{team=\"web\",provider=\"openai\",model=\"gpt-4o\"} "
		   "12345.680135801");
	CHECK_LINE("tollgate_tokens_total{team=\"web\",provider=\"openai\",model=\"gpt-4o\","
		   "bucket=\"input\"} 200");
	CHECK_LINE("tollgate_tokens_total{team=\"web\",provider=\"openai\",model=\"gpt-4o\","
		   "bucket=\"cached_input\"} 40");
	CHECK_LINE("tollgate_tokens_total{team=\"web\",provider=\"openai\",model=\"gpt-4o\","
		   "bucket=\"reasoning\"} 14");
	CHECK_LINE("gen_ai_client_token_usage_total{gen_ai_provider_name=\"openai\","
		   "gen_ai_request_model=\"gpt-4o\",gen_ai_token_type=\"input\",team=\"web\"} 246");
	CHECK_LINE("gen_ai_client_token_usage_total{gen_ai_provider_name=\"openai\","
		   "gen_ai_request_model=\"gpt-4o\",gen_ai_token_type=\"output\",team=\"web\"} 100");
	CHECK_LINE("gen_ai_client_inference_usage_cache_write_tokens_total{gen_ai_provider_name="
		   "\"openai\",gen_ai_request_model=\"gpt-4o\",team=\"web\"} 6");
	CHECK_LINE("tollgate_requests_total{team=\"web\",provider=\"openai\",model=\"gpt-4o\","
		   "status=\"200\"} 1");
	CHECK_LINE("tollgate_requests_total{team=\"web\",provider=\"openai\",model=\"gpt-4o\","
		   "status=\"429\"} 1");
	CHECK_LINE("tollgate_calls_estimated_total{team=\"web\",provider=\"openai\","
		   "model=\"gpt-4o\"} 1");
	CHECK_LINE("tollgate_requests_streamed_total{team=\"web\",provider=\"openai\","
		   "model=\"gpt-4o\"} 2");
	CHECK_LINE("# TYPE tollgate_cost_usd_total counter");
	CHECK(strstr(text, "# HELP tollgate_cost_usd_total ") != NULL, "no HELP");
	CHECK(strstr(text, "\nprocess_resident_memory_bytes ") != NULL, "no RSS");
	CHECK(strstr(text, "\nprocess_cpu_seconds_total ") != NULL, "no CPU");
	metrics_free(m);
}

static void test_escaping(void)
{
	struct metrics *m = metrics_new();
	struct metrics_call c = call("a\"b\\c\nd", "bad\xff" "utf8");

	c.provider = NULL;
	c.status = 0;
	metrics_call(m, &c);
	render(m);
	CHECK_LINE("tollgate_requests_total{team=\"a\\\"b\\\\c\\nd\",provider=\"unknown\","
		   "model=\"bad\xef\xbf\xbdutf8\",status=\"unknown\"} 1");
	CHECK_LINE("tollgate_cost_usd_total{team=\"a\\\"b\\\\c\\nd\",provider=\"unknown\","
		   "model=\"bad\xef\xbf\xbdutf8\"} 0");
	metrics_free(m);
}

static void test_folding(void)
{
	struct metrics *m = metrics_new();
	struct metrics_call c;
	char model[32];
	int i;

	for (i = 0; i < METRICS_MAX_MODELS + 6; i++) {
		snprintf(model, sizeof(model), "m%d", i);
		c = call("t", model);
		c.output_tokens = 1;
		metrics_call(m, &c);
	}
	/* a folded value seen again folds again, and is counted again */
	c = call("t", "m70");
	metrics_call(m, &c);
	render(m);
	CHECK_LINE("tollgate_requests_total{team=\"t\",provider=\"openai\",model=\"m63\","
		   "status=\"200\"} 1");
	CHECK_LINE("tollgate_requests_total{team=\"t\",provider=\"openai\",model=\"other\","
		   "status=\"200\"} 7");
	CHECK_LINE("tollgate_tokens_total{team=\"t\",provider=\"openai\",model=\"other\","
		   "bucket=\"output\"} 6");
	CHECK(!strstr(text, "model=\"m64\""), "m64 not folded");
	CHECK_LINE("tollgate_metrics_labels_folded_total{label=\"model\"} 7");
	CHECK_LINE("tollgate_metrics_labels_folded_total{label=\"team\"} 0");
	metrics_free(m);
}

static void test_status_cap(void)
{
	struct metrics *m = metrics_new();
	struct metrics_call c = call("t", "x");
	int i;

	for (i = 0; i < 10; i++) {
		c.status = 500 + i;
		metrics_call(m, &c);
	}
	render(m);
	CHECK_LINE("tollgate_requests_total{team=\"t\",provider=\"openai\",model=\"x\","
		   "status=\"507\"} 1");
	CHECK_LINE("tollgate_requests_total{team=\"t\",provider=\"openai\",model=\"x\","
		   "status=\"other\"} 2");
	CHECK_LINE("tollgate_metrics_labels_folded_total{label=\"status\"} 2");
	metrics_free(m);
}

static void test_histograms(void)
{
	struct metrics *m = metrics_new();
	struct metrics_call c = call("t", "x");

	c.ttft_ns = 3000000;		/* 3 ms: le 0.005 */
	c.duration_ns = 1003000000;	/* 1.003 s */
	c.output_tokens = 101;		/* TPOT 10 ms: le 0.01 */
	metrics_call(m, &c);
	c.ttft_ns = 20000000;		/* on a bound: le 0.02 holds it */
	c.duration_ns = 20000000;
	c.output_tokens = 1;		/* no TPOT from one token */
	metrics_call(m, &c);
	c.ttft_ns = 11000000000;	/* past the last bound: only +Inf */
	c.duration_ns = -1;
	metrics_call(m, &c);
	render(m);
#define TTFT "tollgate_ttft_seconds_bucket{provider=\"openai\",model=\"x\",le="
	CHECK_LINE(TTFT "\"0.001\"} 0");
	CHECK_LINE(TTFT "\"0.005\"} 1");
	CHECK_LINE(TTFT "\"0.01\"} 1");
	CHECK_LINE(TTFT "\"0.02\"} 2");
	CHECK_LINE(TTFT "\"10\"} 2");
	CHECK_LINE(TTFT "\"+Inf\"} 3");
	CHECK_LINE("tollgate_ttft_seconds_sum{provider=\"openai\",model=\"x\"} 11.023");
	CHECK_LINE("tollgate_ttft_seconds_count{provider=\"openai\",model=\"x\"} 3");
	CHECK_LINE("tollgate_request_duration_seconds_sum{provider=\"openai\",model=\"x\"} 1.023");
	CHECK_LINE("tollgate_request_duration_seconds_count{provider=\"openai\",model=\"x\"} 2");
	CHECK_LINE("tollgate_request_duration_seconds_bucket{provider=\"openai\",model=\"x\","
		   "le=\"0.02\"} 1");
	CHECK_LINE("tollgate_request_duration_seconds_bucket{provider=\"openai\",model=\"x\","
		   "le=\"1.28\"} 2");
	CHECK_LINE("tollgate_time_per_output_token_seconds_bucket{provider=\"openai\","
		   "model=\"x\",le=\"0.01\"} 1");
	CHECK_LINE("tollgate_time_per_output_token_seconds_sum{provider=\"openai\","
		   "model=\"x\"} 0.01");
	CHECK_LINE("tollgate_time_per_output_token_seconds_count{provider=\"openai\","
		   "model=\"x\"} 1");
	CHECK_LINE("# TYPE tollgate_ttft_seconds histogram");
	metrics_free(m);
}

static void test_health(void)
{
	struct metrics *m = metrics_new();
	char reason[32];
	int i;

	metrics_set_counter(m, METRICS_RINGBUF_DROPS, 42);
	metrics_set_counter(m, METRICS_CAPTURE_GAPS, 3);
	metrics_set_gauge(m, METRICS_CONNECTIONS_OPEN, 5);
	metrics_set_unmetered(m, "http2_procs", 2);
	metrics_set_unmetered(m, "http2_procs", 4);
	for (i = 0; i < METRICS_MAX_REASONS + 2; i++) {
		snprintf(reason, sizeof(reason), "r%d", i);
		metrics_set_unmetered(m, reason, i);
	}
	render(m);
	CHECK_LINE("tollgate_ringbuf_drops_total 42");
	CHECK_LINE("tollgate_capture_gaps_total 3");
	CHECK_LINE("tollgate_connections_open 5");
	CHECK_LINE("tollgate_connections_unmetered_total{reason=\"http2_procs\"} 4");
	CHECK_LINE("tollgate_connections_unmetered_total{reason=\"r14\"} 14");
	CHECK_LINE("tollgate_connections_unmetered_total{reason=\"other\"} 17");
	CHECK(!strstr(text, "reason=\"r15\""), "r15 not folded");
	metrics_free(m);
}

static void test_enforcement(void)
{
	struct metrics *m = metrics_new();

	metrics_action(m, "web", "block", "budget", 0, 1);
	metrics_action(m, "web", "block", "budget", 0, 1);
	metrics_action(m, "web", "block", "budget", 1, 1);
	metrics_action(m, "batch", "kill", "loop_guard", 0, 1);
	metrics_action(m, "batch", "release", "hold_timeout", 0, 1);
	metrics_action(m, "web", "deny", "budget", 0, 1);		/* not an action */
	metrics_action(m, "web", "throttle", "whim", 1, 1);	/* not a reason */
	metrics_action(m, "web", NULL, NULL, 0, 1);
	metrics_alert(m, "web", "threshold");
	metrics_alert(m, "web", "threshold");
	metrics_alert(m, "web", "forecast");
	metrics_alert(m, "batch", "psychic");
	metrics_set_gauge(m, METRICS_REQUESTS_HELD, 3);
	metrics_set_gauge(m, METRICS_PROCESSES_GATED, 2);
	render(m);
#define ACT "tollgate_enforcement_actions_total{team="
	CHECK_LINE("# TYPE tollgate_enforcement_actions_total counter");
	CHECK(strstr(text, "# HELP tollgate_enforcement_actions_total ") != NULL, "no HELP");
	CHECK_LINE(ACT "\"web\",action=\"block\",reason=\"budget\",mode=\"enforce\"} 2");
	CHECK_LINE(ACT "\"web\",action=\"block\",reason=\"budget\",mode=\"monitor\"} 1");
	CHECK_LINE(ACT "\"batch\",action=\"kill\",reason=\"loop_guard\",mode=\"enforce\"} 1");
	CHECK_LINE(ACT "\"batch\",action=\"release\",reason=\"hold_timeout\","
		   "mode=\"enforce\"} 1");
	CHECK_LINE(ACT "\"web\",action=\"other\",reason=\"budget\",mode=\"enforce\"} 1");
	CHECK_LINE(ACT "\"web\",action=\"throttle\",reason=\"other\",mode=\"monitor\"} 1");
	CHECK_LINE(ACT "\"web\",action=\"other\",reason=\"other\",mode=\"enforce\"} 1");
	CHECK(!strstr(text, "deny") && !strstr(text, "whim"), "unlisted value exported");
	CHECK_LINE("# TYPE tollgate_budget_alerts_total counter");
	CHECK_LINE("tollgate_budget_alerts_total{team=\"web\",kind=\"threshold\"} 2");
	CHECK_LINE("tollgate_budget_alerts_total{team=\"web\",kind=\"forecast\"} 1");
	CHECK_LINE("tollgate_budget_alerts_total{team=\"batch\",kind=\"other\"} 1");
	CHECK(!strstr(text, "tollgate_budget_alerts_total{team=\"batch\",kind=\"threshold\"}"),
	      "an alert never raised is shown");
	CHECK_LINE("tollgate_metrics_labels_folded_total{label=\"action\"} 2");
	CHECK_LINE("tollgate_metrics_labels_folded_total{label=\"reason\"} 2");
	CHECK_LINE("tollgate_metrics_labels_folded_total{label=\"kind\"} 1");
	CHECK_LINE("# TYPE tollgate_requests_held gauge");
	CHECK_LINE("tollgate_requests_held 3");
	CHECK_LINE("# TYPE tollgate_processes_gated gauge");
	CHECK_LINE("tollgate_processes_gated 2");
	CHECK_LINE("tollgate_connections_open 0");
	metrics_free(m);
}

#define FAIL_ "tollgate_enforcement_failures_total{team="

static void test_enforcement_failures(void)
{
	struct metrics *m = metrics_new();

	/* the family is there from the start, with no team to show yet */
	render(m);
	CHECK_LINE("# TYPE tollgate_enforcement_failures_total counter");
	CHECK(strstr(text, "# HELP tollgate_enforcement_failures_total ") != NULL, "no HELP");
	CHECK(!strstr(text, "\n" FAIL_), "a failure series with no team");

	/* a declared team: block and kill at 0, the actions that cannot fail not shown */
	metrics_declare_team(m, "web");
	metrics_declare_team(m, "web");
	render(m);
	CHECK_EQ_INT(count_line(FAIL_ "\"web\",action=\"block\"} 0"), 1);
	CHECK_EQ_INT(count_line(FAIL_ "\"web\",action=\"kill\"} 0"), 1);
	CHECK(!strstr(text, FAIL_ "\"web\",action=\"throttle\""), "throttle shown");
	CHECK(!strstr(text, FAIL_ "\"web\",action=\"alert\""), "alert shown");
	CHECK(!strstr(text, "tollgate_enforcement_actions_total{"), "declaring is no action");

	/* failed outside monitor mode: counted; done, or only reported: not */
	metrics_action(m, "web", "block", "budget", 0, 0);
	metrics_action(m, "web", "block", "budget", 0, 0);
	metrics_action(m, "web", "block", "budget", 0, 1);
	metrics_action(m, "web", "kill", "loop_guard", 1, 0);	/* monitor mode */
	metrics_action(m, "web", "kill", "loop_guard", 0, 1);
	/* a team no one declared shows its series once it has an action */
	metrics_action(m, "batch", "alert", "budget", 0, 1);
	metrics_action(m, "batch", "throttle", "rate_limit", 0, 0);
	metrics_action(m, "batch", "deny", "budget", 0, 0);	/* not an action */
	render(m);
	CHECK_LINE(FAIL_ "\"web\",action=\"block\"} 2");
	CHECK_LINE(FAIL_ "\"web\",action=\"kill\"} 0");
	CHECK_LINE(ACT "\"web\",action=\"block\",reason=\"budget\",mode=\"enforce\"} 3");
	CHECK_LINE(ACT "\"web\",action=\"kill\",reason=\"loop_guard\",mode=\"monitor\"} 1");
	CHECK_LINE(FAIL_ "\"batch\",action=\"block\"} 0");
	CHECK_LINE(FAIL_ "\"batch\",action=\"kill\"} 0");
	CHECK_LINE(FAIL_ "\"batch\",action=\"throttle\"} 1");
	CHECK_LINE(FAIL_ "\"batch\",action=\"other\"} 1");
	CHECK(!strstr(text, FAIL_ "\"batch\",action=\"alert\""), "alert shown");
	CHECK_LINE("tollgate_metrics_labels_folded_total{label=\"action\"} 1");

	/* NULL team and action, as metrics_action takes them */
	metrics_action(m, NULL, NULL, NULL, 0, 0);
	render(m);
	CHECK_LINE(FAIL_ "\"unknown\",action=\"other\"} 1");
	CHECK_LINE(FAIL_ "\"unknown\",action=\"block\"} 0");
	metrics_free(m);
}

static void test_enforcement_failures_fold(void)
{
	struct metrics *m = metrics_new();
	char team[32];
	int i;

	/* teams declared past the cap share "other", and are not counted as
	 * folded until they are used: a policy's teams are declared every second */
	for (i = 0; i < METRICS_MAX_TEAMS + 3; i++) {
		snprintf(team, sizeof(team), "t%d", i);
		metrics_declare_team(m, team);
		metrics_declare_team(m, team);
	}
	render(m);
	CHECK_LINE(FAIL_ "\"t63\",action=\"kill\"} 0");
	CHECK_LINE(FAIL_ "\"other\",action=\"block\"} 0");
	CHECK(!strstr(text, "team=\"t64\""), "t64 not folded");
	CHECK_LINE("tollgate_metrics_labels_folded_total{label=\"team\"} 0");
	metrics_action(m, "t65", "kill", "budget", 0, 0);
	metrics_action(m, "t64", "kill", "budget", 0, 0);
	metrics_action(m, "t0", "kill", "budget", 0, 1);
	render(m);
	CHECK_LINE(FAIL_ "\"other\",action=\"kill\"} 2");
	CHECK_LINE(FAIL_ "\"t0\",action=\"kill\"} 0");
	CHECK_LINE("tollgate_metrics_labels_folded_total{label=\"team\"} 2");
	metrics_free(m);
}

static void test_enforcement_team_fold(void)
{
	struct metrics *m = metrics_new();
	char team[32];
	int i;

	for (i = 0; i < METRICS_MAX_TEAMS + 3; i++) {
		snprintf(team, sizeof(team), "t%d", i);
		metrics_action(m, team, "throttle", "rate_limit", 0, 1);
		metrics_alert(m, team, "forecast");
	}
	render(m);
	CHECK_LINE(ACT "\"t63\",action=\"throttle\",reason=\"rate_limit\",mode=\"enforce\"} 1");
	CHECK_LINE(ACT "\"other\",action=\"throttle\",reason=\"rate_limit\","
		   "mode=\"enforce\"} 3");
	CHECK_LINE("tollgate_budget_alerts_total{team=\"other\",kind=\"forecast\"} 3");
	CHECK(!strstr(text, "team=\"t64\""), "t64 not folded");
	CHECK_LINE("tollgate_metrics_labels_folded_total{label=\"team\"} 6");

	/* more series than the table holds: the team folds, the rest stays */
	metrics_free(m);
	m = metrics_new();
	for (i = 0; i < 100; i++) {
		snprintf(team, sizeof(team), "t%d", i % 60);
		metrics_action(m, team, i < 60 ? "block" : "kill", "budget", i & 1, 1);
		metrics_action(m, team, "alert", i < 60 ? "model" : "max_tokens", 0, 1);
		metrics_action(m, team, "throttle", i < 60 ? "rate_limit" : "loop_guard", 0, 1);
		metrics_action(m, team, "release", i < 60 ? "hold_timeout" : "budget", 1, 1);
		metrics_action(m, team, "kill", i < 60 ? "loop_guard" : "model", 0, 1);
		metrics_action(m, team, "block", i < 60 ? "model" : "rate_limit", 1, 1);
		metrics_action(m, team, "throttle", i < 60 ? "budget" : "model", 1, 1);
		metrics_action(m, team, "alert", i < 60 ? "budget" : "loop_guard", 1, 1);
	}
	render(m);
	CHECK(strstr(text, "tollgate_metrics_labels_folded_total{label=\"series\"} 0\n") == NULL,
	      "no series folded");
	CHECK(strstr(text, ACT "\"other\",") != NULL, "no team other");
	CHECK_LINE(ACT "\"t0\",action=\"block\",reason=\"budget\",mode=\"enforce\"} 1");
	metrics_free(m);
}

#define BUD(name, labels, v) "tollgate_budget_" name "{team=" labels "} " v

static void test_budgets(void)
{
	struct metrics *m = metrics_new();
	const int64_t usd = 1000000000;

	metrics_set_budget(m, "web", "day", 0, 450000000, 12345678, 50 * usd,
			   1700000000123456789);
	metrics_set_budget(m, "web", "month", 0, 800 * usd + 1, 0, 900 * usd, 0);
	metrics_set_budget(m, "batch", "rolling:15m", 1, 120000, 4096, 200000,
			   1700000900 * usd);
	render(m);
	CHECK_LINE("# TYPE tollgate_budget_spent_usd gauge");
	CHECK(strstr(text, "# HELP tollgate_budget_spent_usd ") != NULL, "no HELP");
	CHECK_LINE(BUD("spent_usd", "\"web\",window=\"day\"", "0.45"));
	CHECK_LINE(BUD("reserved_usd", "\"web\",window=\"day\"", "0.012345678"));
	CHECK_LINE(BUD("limit_usd", "\"web\",window=\"day\"", "50"));
	CHECK_LINE(BUD("spent_usd", "\"web\",window=\"month\"", "800.000000001"));
	CHECK_LINE(BUD("reserved_usd", "\"web\",window=\"month\"", "0"));
	CHECK_LINE(BUD("limit_usd", "\"web\",window=\"month\"", "900"));
	CHECK_LINE(BUD("exhaustion_timestamp_seconds", "\"web\",window=\"day\"",
		       "1700000000.123456789"));
	CHECK(!strstr(text, "tollgate_budget_exhaustion_timestamp_seconds{team=\"web\","
			    "window=\"month\"}"), "exhaustion 0 exported");
	CHECK_LINE("# TYPE tollgate_budget_spent_tokens gauge");
	CHECK_LINE(BUD("spent_tokens", "\"batch\",window=\"rolling:15m\"", "120000"));
	CHECK_LINE(BUD("reserved_tokens", "\"batch\",window=\"rolling:15m\"", "4096"));
	CHECK_LINE(BUD("limit_tokens", "\"batch\",window=\"rolling:15m\"", "200000"));
	CHECK_LINE(BUD("exhaustion_timestamp_seconds", "\"batch\",window=\"rolling:15m\"",
		       "1700000900"));
	CHECK(!strstr(text, "tollgate_budget_spent_usd{team=\"batch\""), "tokens as USD");
	CHECK(!strstr(text, "tollgate_budget_spent_tokens{team=\"web\""), "USD as tokens");

	/* set again: replaced, not added; the exhaustion time can go away */
	metrics_set_budget(m, "web", "day", 0, 460000000, 0, 50 * usd, 0);
	render(m);
	CHECK_LINE(BUD("spent_usd", "\"web\",window=\"day\"", "0.46"));
	CHECK_LINE(BUD("reserved_usd", "\"web\",window=\"day\"", "0"));
	CHECK(!strstr(text, "tollgate_budget_spent_usd{team=\"web\",window=\"day\"} 0.45"),
	      "old value kept");
	CHECK(!strstr(text, "tollgate_budget_exhaustion_timestamp_seconds{team=\"web\","
			    "window=\"day\"}"), "stale exhaustion time");

	/* a reload forgets them all; the families stay, empty */
	metrics_clear_budgets(m);
	metrics_set_budget(m, "web", "week", 0, 1, 0, 2 * usd, 0);
	render(m);
	CHECK_LINE(BUD("spent_usd", "\"web\",window=\"week\"", "0.000000001"));
	CHECK(!strstr(text, "window=\"day\""), "day survived the clear");
	CHECK(!strstr(text, "window=\"rolling:15m\""), "rolling survived the clear");
	CHECK_LINE("# TYPE tollgate_budget_limit_tokens gauge");
	metrics_clear_budgets(m);
	render(m);
	CHECK(!strstr(text, "\ntollgate_budget_spent_usd{"), "budget after clear");
	CHECK_LINE("# TYPE tollgate_budget_spent_usd gauge");
	metrics_free(m);
}

static void test_budget_escaping(void)
{
	struct metrics *m = metrics_new();

	metrics_set_budget(m, "a\"b\\c\nd", "da\xffy", 0, 1500000000, 0, 2000000000, 0);
	metrics_action(m, "a\"b\\c\nd", "block", "budget", 0, 1);
	metrics_action(m, "a\"b\\c\nd", "kill", "budget", 0, 0);
	metrics_declare_team(m, "x\xff\"y");
	metrics_alert(m, "a\"b\\c\nd", "threshold");
	render(m);
	CHECK_LINE(FAIL_ "\"a\\\"b\\\\c\\nd\",action=\"kill\"} 1");
	CHECK_LINE(FAIL_ "\"x\xef\xbf\xbd\\\"y\",action=\"block\"} 0");
	CHECK_LINE(BUD("spent_usd", "\"a\\\"b\\\\c\\nd\",window=\"da\xef\xbf\xbdy\"", "1.5"));
	CHECK_LINE(ACT "\"a\\\"b\\\\c\\nd\",action=\"block\",reason=\"budget\","
		   "mode=\"enforce\"} 1");
	CHECK_LINE("tollgate_budget_alerts_total{team=\"a\\\"b\\\\c\\nd\","
		   "kind=\"threshold\"} 1");
	metrics_free(m);
}

static void test_budget_folding(void)
{
	struct metrics *m = metrics_new();
	const int64_t usd = 1000000000;
	char name[32];
	int i;

	/* windows past the cap share window="other" */
	for (i = 0; i < METRICS_MAX_WINDOWS + 2; i++) {
		snprintf(name, sizeof(name), "rolling:%dm", i + 1);
		metrics_set_budget(m, "web", name, 0, i * usd, 0, 100 * usd, 0);
	}
	render(m);
	CHECK_LINE(BUD("spent_usd", "\"web\",window=\"rolling:16m\"", "15"));
	CHECK(!strstr(text, "window=\"rolling:17m\""), "window 17 not folded");
	/* the shared series shows the folded budget nearest its limit */
	CHECK_LINE(BUD("spent_usd", "\"web\",window=\"other\"", "17"));
	CHECK_LINE("tollgate_metrics_labels_folded_total{label=\"window\"} 2");
	/* ... and follows it down; another takes over when it is nearer */
	metrics_set_budget(m, "web", "rolling:18m", 0, 2 * usd, 0, 100 * usd, 0);
	render(m);
	CHECK_LINE(BUD("spent_usd", "\"web\",window=\"other\"", "2"));
	metrics_set_budget(m, "web", "rolling:17m", 0, 1 * usd, 0, 100 * usd, 0);
	render(m);
	CHECK_LINE(BUD("spent_usd", "\"web\",window=\"other\"", "2"));
	metrics_set_budget(m, "web", "rolling:17m", 0, 1 * usd, 0, 10 * usd, 0);
	render(m);
	CHECK_LINE(BUD("spent_usd", "\"web\",window=\"other\"", "1"));
	CHECK_LINE(BUD("limit_usd", "\"web\",window=\"other\"", "10"));

	/* teams past the cap share team="other" */
	metrics_free(m);
	m = metrics_new();
	for (i = 0; i < METRICS_MAX_TEAMS + 2; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		metrics_set_budget(m, name, "day", 1, 100 - i, 0, 1000, 0);
	}
	render(m);
	CHECK_LINE(BUD("spent_tokens", "\"t63\",window=\"day\"", "37"));
	CHECK(!strstr(text, "team=\"t64\""), "team 64 not folded");
	CHECK_LINE(BUD("spent_tokens", "\"other\",window=\"day\"", "36"));
	CHECK_LINE("tollgate_metrics_labels_folded_total{label=\"team\"} 2");
	/* a budget with no limit left is nearest of all */
	metrics_set_budget(m, "t65", "day", 1, 5, 0, 0, 0);
	render(m);
	CHECK_LINE(BUD("spent_tokens", "\"other\",window=\"day\"", "5"));
	CHECK_LINE(BUD("limit_tokens", "\"other\",window=\"day\"", "0"));
	metrics_free(m);
}

/* Version and start time: the same for every registry of a process. */
static void test_agent_info(void)
{
	struct metrics *m = metrics_new();
	char want[64], *p, *end;
	long long start;
	time_t now = time(NULL);

	render(m);
	snprintf(want, sizeof(want), "tollgate_build_info{version=\"%s\"} 1", TOLLGATE_VERSION);
	CHECK_LINE(want);
	CHECK_LINE("tollgate_build_info{version=\"0.1.0\"} 1");
	CHECK_LINE("# TYPE tollgate_build_info gauge");
	CHECK(strstr(text, "# HELP tollgate_build_info ") != NULL, "no HELP");
	CHECK_LINE("# TYPE process_start_time_seconds gauge");
	CHECK(strstr(text, "# HELP process_start_time_seconds ") != NULL, "no HELP");
	p = strstr(text, "\nprocess_start_time_seconds ");
	CHECK(p != NULL, "no start time");
	if (!p)
		goto out;
	p += strlen("\nprocess_start_time_seconds ");
	start = strtoll(p, &end, 10);
	/* this test began less than a minute ago (clock ticks: 2 decimals at most) */
	CHECK(start <= now && start > now - 60, "start %lld, now %lld", start, (long long)now);
	CHECK(*end == '\n' || (*end == '.' && strspn(end + 1, "0123456789") >= 1 &&
				end[1 + strspn(end + 1, "0123456789")] == '\n'),
	      "not a number: %.30s", p);
	/* a start time does not move between scrapes */
	snprintf(want, sizeof(want), "process_start_time_seconds %.*s", (int)strcspn(p, "\n"), p);
	render(m);
	CHECK_LINE(want);
out:
	metrics_free(m);
}

static void test_probes(void)
{
	static const char *const counters[] = {
		"tollgate_probe_discovered_total", "tollgate_probe_discover_failures_total",
		"tollgate_probe_disabled_total", "tollgate_probe_attach_failures_total",
		"tollgate_probe_exec_holds_total",
	};
	static const char *const gauges[] = { "tollgate_probe_targets", "tollgate_probe_links" };
	struct metrics *m = metrics_new();
	char line[128];
	unsigned i;

	/* every one there from the start, at 0: a panel or rate() has a series */
	render(m);
	for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		snprintf(line, sizeof(line), "%s 0", counters[i]);
		CHECK_LINE(line);
		snprintf(line, sizeof(line), "# TYPE %s counter", counters[i]);
		CHECK_LINE(line);
		snprintf(line, sizeof(line), "# HELP %s ", counters[i]);
		CHECK(strstr(text, line) != NULL, "no HELP for %s", counters[i]);
	}
	for (i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++) {
		snprintf(line, sizeof(line), "%s 0", gauges[i]);
		CHECK_LINE(line);
		snprintf(line, sizeof(line), "# TYPE %s gauge", gauges[i]);
		CHECK_LINE(line);
	}
	metrics_set_gauge(m, METRICS_PROBE_TARGETS, 12);
	metrics_set_gauge(m, METRICS_PROBE_LINKS, 57);
	metrics_set_counter(m, METRICS_PROBE_DISCOVERED, 3);
	metrics_set_counter(m, METRICS_PROBE_DISCOVER_FAILURES, 2);
	metrics_set_counter(m, METRICS_PROBE_DISABLED, 1);
	metrics_set_counter(m, METRICS_PROBE_ATTACH_FAILURES, 4);
	metrics_set_counter(m, METRICS_PROBE_EXEC_HOLDS, 18446744073709551615ull);
	render(m);
	CHECK_LINE("tollgate_probe_targets 12");
	CHECK_LINE("tollgate_probe_links 57");
	CHECK_LINE("tollgate_probe_discovered_total 3");
	CHECK_LINE("tollgate_probe_discover_failures_total 2");
	CHECK_LINE("tollgate_probe_disabled_total 1");
	CHECK_LINE("tollgate_probe_attach_failures_total 4");
	CHECK_LINE("tollgate_probe_exec_holds_total 18446744073709551615");
	/* set, not added: the agent's own totals */
	metrics_set_gauge(m, METRICS_PROBE_LINKS, 41);
	metrics_set_counter(m, METRICS_PROBE_DISCOVERED, 5);
	render(m);
	CHECK_LINE("tollgate_probe_links 41");
	CHECK_LINE("tollgate_probe_discovered_total 5");
	CHECK_EQ_INT(count_line("tollgate_probe_discovered_total 3"), 0);
	/* the others stay as they were */
	CHECK_LINE("tollgate_capture_gaps_total 0");
	CHECK_LINE("tollgate_connections_open 0");
	metrics_free(m);
}

static void test_null(void)
{
	metrics_action(NULL, "t", "block", "budget", 0, 1);
	metrics_declare_team(NULL, "t");
	metrics_set_counter(NULL, METRICS_PROBE_DISCOVERED, 1);
	metrics_set_gauge(NULL, METRICS_PROBE_LINKS, 1);
	metrics_alert(NULL, "t", "threshold");
	metrics_set_budget(NULL, "t", "day", 0, 1, 2, 3, 4);
	metrics_clear_budgets(NULL);
}

/* --- server -------------------------------------------------------------- */

static int dial(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval tv = { .tv_sec = 5 };
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send req, read the answer to EOF into a malloc'd string. */
static char *fetch(int port, const char *req, size_t reqlen)
{
	size_t len = 0, cap = 65536;
	char *out = malloc(cap);
	int fd = dial(port);
	ssize_t n;

	if (fd < 0) {
		free(out);
		return strdup("");
	}
	if (send(fd, req, reqlen, MSG_NOSIGNAL) < 0)
		out[0] = '\0';
	while ((n = recv(fd, out + len, cap - len - 1, 0)) > 0) {
		len += n;
		if (len + 1 == cap)
			out = realloc(out, cap *= 2);
	}
	out[len] = '\0';
	close(fd);
	return out;
}

#define GET(port, s) fetch(port, s, strlen(s))

static void test_server(void)
{
	struct metrics *m = metrics_new();
	struct metrics_call c = call("web", "gpt-4o");
	char err[256] = "", *r, *big;
	int port, idle, i;

	CHECK_EQ_INT(metrics_listen(m, "127.0.0.1:0", err, sizeof(err)), 0);
	port = metrics_port(m);
	CHECK(port > 0, "port %d: %s", port, err);
	c.cost_nusd = 1500000000;
	metrics_call(m, &c);

	r = GET(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK(!strncmp(r, "HTTP/1.1 200 OK\r\n", 17), "%.40s", r);
	CHECK(strstr(r, "\r\nContent-Type: text/plain; version=0.0.4") != NULL, "%.200s", r);
	CHECK(strstr(r, "\r\n\r\n# HELP ") != NULL, "no body");
	CHECK(strstr(r, "\ntollgate_cost_usd_total{team=\"web\",provider=\"openai\","
			"model=\"gpt-4o\"} 1.5\n") != NULL, "no cost");
	free(r);

	r = GET(port, "GET /other HTTP/1.1\r\n\r\n");
	CHECK(!strncmp(r, "HTTP/1.1 404 ", 13), "%.40s", r);
	free(r);
	r = GET(port, "POST /metrics HTTP/1.1\r\n\r\n");
	CHECK(!strncmp(r, "HTTP/1.1 405 ", 13), "%.40s", r);
	free(r);

	/* a head past 8 KiB is refused, not buffered */
	big = malloc(20000);
	memset(big, 'a', 20000);
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	r = fetch(port, big, 20000);
	CHECK(!strncmp(r, "HTTP/1.1 431 ", 13) || !r[0], "%.40s", r);
	free(r);
	free(big);

	/* clients that connect and say nothing do not hold up a scrape,
	 * even when there are more of them than connection slots */
	for (i = 0; i < 6; i++) {
		idle = dial(port);
		CHECK(idle >= 0, "dial %d", i);
		r = GET(port, "GET /metrics HTTP/1.0\r\n\r\n");
		CHECK(!strncmp(r, "HTTP/1.1 200 OK\r\n", 17), "with %d idle: %.40s", i + 1, r);
		free(r);
		/* left open on purpose; closed below */
		if (i < 5)
			continue;
		close(idle);
	}
	metrics_free(m);	/* joins the thread with idle clients still open */
}

static void test_listen_args(void)
{
	struct metrics *m = metrics_new();
	char err[256] = "";

	CHECK_EQ_INT(metrics_listen(m, "off", err, sizeof(err)), 0);
	CHECK_EQ_INT(metrics_port(m), 0);
	CHECK(metrics_listen(m, "nocolon", err, sizeof(err)) == -EINVAL, "%s", err);
	CHECK(metrics_listen(m, "127.0.0.1:", err, sizeof(err)) == -EINVAL, "%s", err);
	/* IPv6 loopback, where the host has it */
	if (!metrics_listen(m, "[::1]:0", err, sizeof(err)))
		CHECK(metrics_port(m) > 0, "v6 port");
	metrics_free(m);
	m = metrics_new();
	CHECK_EQ_INT(metrics_listen(m, ":0", err, sizeof(err)), 0);
	CHECK(metrics_port(m) > 0, "port");
	metrics_free(m);
	metrics_free(NULL);
}

/* A registry with every kind of series, for promtool. */
static void write_sample(const char *path)
{
	struct metrics *m = metrics_new();
	struct metrics_call c = call("web \"team\"\\\n", "gpt-4o\xff");
	FILE *f;
	int i;

	c.input_tokens = 1000;
	c.cached_input_tokens = 200;
	c.output_tokens = 300;
	c.reasoning_tokens = 100;
	c.cost_nusd = 4321000;
	c.ttft_ns = 250000000;
	c.duration_ns = 3000000000;
	metrics_call(m, &c);
	c = call("batch", "claude-sonnet-4");
	c.provider = "anthropic";
	c.status = 0;
	c.cache_write_tokens = 50;
	c.unpriced = true;
	c.estimated = true;
	metrics_call(m, &c);
	for (i = 0; i < 12; i++) {	/* folded statuses */
		c.status = 400 + i;
		metrics_call(m, &c);
	}
	metrics_set_counter(m, METRICS_RINGBUF_DROPS, 1);
	metrics_set_counter(m, METRICS_PROBE_DISCOVER_FAILURES, 2);
	metrics_set_gauge(m, METRICS_PROBE_TARGETS, 9);
	metrics_set_gauge(m, METRICS_PROBE_LINKS, 40);
	metrics_set_unmetered(m, "http2_procs", 2);
	metrics_set_gauge(m, METRICS_REQUESTS_HELD, 4);
	metrics_set_gauge(m, METRICS_PROCESSES_GATED, 2);
	metrics_action(m, "web \"team\"\\\n", "block", "budget", 0, 1);
	metrics_action(m, "batch", "throttle", "rate_limit", 1, 1);
	metrics_action(m, "batch", "deny", "whim", 0, 1);
	metrics_action(m, "web \"team\"\\\n", "kill", "loop_guard", 0, 0);
	metrics_declare_team(m, "ops");
	metrics_alert(m, "web \"team\"\\\n", "threshold");
	metrics_alert(m, "batch", "forecast");
	metrics_set_budget(m, "web \"team\"\\\n", "day", 0, 450000000, 50000000,
			   500000000, 1700000000500000000);
	metrics_set_budget(m, "batch", "rolling:15m", 1, 120000, 4096, 200000, 0);
	for (i = 0; i < METRICS_MAX_WINDOWS + 2; i++) {	/* folded windows */
		char w[16];

		snprintf(w, sizeof(w), "w%d", i);
		metrics_set_budget(m, "batch", w, 0, i, 0, 100, 0);
	}
	render(m);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	CHECK(f != NULL, "cannot write %s", path);
	metrics_free(m);
}

static void test_sample(void)
{
	const char *out = getenv("TOLLGATE_METRICS_OUT");

	if (out)
		write_sample(out);
}

int main(void)
{
	RUN(test_tokens_and_cost);
	RUN(test_escaping);
	RUN(test_folding);
	RUN(test_status_cap);
	RUN(test_histograms);
	RUN(test_health);
	RUN(test_enforcement);
	RUN(test_enforcement_failures);
	RUN(test_enforcement_failures_fold);
	RUN(test_enforcement_team_fold);
	RUN(test_budgets);
	RUN(test_budget_escaping);
	RUN(test_budget_folding);
	RUN(test_agent_info);
	RUN(test_probes);
	RUN(test_null);
	RUN(test_server);
	RUN(test_listen_args);
	if (getenv("TOLLGATE_METRICS_OUT"))
		RUN(test_sample);
	free(text);
	return tap_done();
}
