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
#include <unistd.h>
#include "metrics.h"
#include "tap.h"

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

/* A whole line of the exposition, not a prefix of one. */
static int has_line(const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line))) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
		p += 1;
	}
	return 0;
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
	metrics_set_unmetered(m, "http2_procs", 2);
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
	RUN(test_server);
	RUN(test_listen_args);
	if (getenv("TOLLGATE_METRICS_OUT"))
		RUN(test_sample);
	free(text);
	return tap_done();
}
