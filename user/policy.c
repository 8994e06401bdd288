// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Policy files (DESIGN §7), read with libyaml's event API through schema
 * tables.  A table lists the keys a mapping may hold; each row says the
 * value's type and where it goes, and a nested mapping is a table of its
 * own.  Adding a key is adding a row: the walker, duplicate and required
 * checks, error positions and freeing come from the tables.
 *
 * Two passes over the events: the first only checks the YAML, so a
 * syntax error is reported as such even where the part before it reads
 * as a different structure; the second is driven by the schema and stops
 * at the first error.  A value of the wrong shape is refused before
 * anything under it is read, so nesting is bounded by the schema, not by
 * the input.  Aliases and anchors are refused (a policy has no need of
 * them, and they are how a small file becomes a huge tree), as are tags.
 * Errors name the offending node: FILE:LINE:COL, 1-based.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>
#include "decimal.h"
#include "escape.h"
#include "policy.h"
#include "yamlerr.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum schema_type {
	ST_STR,		/* a string */
	ST_PATH,	/* a file name, relative to the policy's directory */
	ST_INT,		/* an integer in [min, max] */
	ST_BOOL,	/* true or false */
	ST_STRS,	/* a string or a list of them (struct policy_strs) */
	ST_INTS,	/* an integer or a list of them (pointer + count) */
	ST_MONEY,	/* USD, stored as int64_t nano-USD in [min, max] */
	ST_PERCENT,	/* "80%", stored as basis points in [min, max] */
	ST_DURATION,	/* "60s", stored as uint64_t ns in [min, max] */
	ST_PERCENTS,	/* a percentage or an ascending list of them, into a
			 * fixed array of int64_t basis points (count at off_n) */
	ST_ENUM,	/* one of names, stored as its index */
	ST_WINDOW,	/* one of names, or "rolling:DURATION": the index after
			 * the names, with the span in [min, max] at off_span */
	ST_MAP,		/* a mapping, read by sub into the member */
	ST_MAPS,	/* a list of mappings (pointer + count), each by sub */
};

enum {
	SR_REQUIRED = 1,
	SR_ONE_OF = 2,		/* exactly one of the rows so flagged */
	SR_EXEC = 4,		/* ST_PATH: a program, run rather than read */
};

struct loader;
struct schema;

struct schema_row {
	const char *name;
	enum schema_type type;
	unsigned flags;
	size_t off;			/* the member */
	size_t off_n;			/* ST_INTS, ST_PERCENTS, ST_MAPS: the count */
	size_t off_span;		/* ST_WINDOW: the rolling span (uint64_t ns) */
	size_t size;			/* of the member, or of one element */
	int64_t min, max;		/* bounds of scalar values */
	size_t cap;			/* entries of a list; 0: POLICY_VALUES_MAX */
	const struct schema *sub;	/* ST_MAP, ST_MAPS */
	const char *const *names;	/* ST_ENUM, ST_WINDOW: by value, NULL for gaps */
	size_t nnames;
	/* ST_STR, ST_STRS: refuses a value with ld_error() */
	int (*check)(struct loader *ld, const yaml_mark_t *m, const char *s);
};

struct schema {
	const char *what;		/* for messages: "team", "match" */
	const struct schema_row *rows;
	size_t nrows;
	size_t size;			/* of one object, for ST_MAPS */
	void (*init)(void *obj, const yaml_mark_t *m);
	int (*done)(struct loader *ld, void *obj, const yaml_mark_t *m);
};

#define MEMBER_SIZE(T, m) sizeof(((T *)0)->m)
#define ROW(T, key, ty, m, ...) \
	{ .name = key, .type = ty, .off = offsetof(T, m), .size = MEMBER_SIZE(T, m), __VA_ARGS__ }
/* A pointer + count pair; size is one element's */
#define ROW_VEC(T, key, ty, m, n, ...) \
	{ .name = key, .type = ty, .off = offsetof(T, m), .off_n = offsetof(T, n), \
	  .size = sizeof(*((T *)0)->m), __VA_ARGS__ }
/* A fixed array and its count; the array's length is the cap */
#define ROW_ARR(T, key, ty, m, n, ...) \
	{ .name = key, .type = ty, .off = offsetof(T, m), .off_n = offsetof(T, n), \
	  .size = sizeof(((T *)0)->m[0]), \
	  .cap = MEMBER_SIZE(T, m) / sizeof(((T *)0)->m[0]), __VA_ARGS__ }
/* A value that is one of a table of names */
#define ROW_ENUM(T, key, m, tab, ...) \
	ROW(T, key, ST_ENUM, m, .names = tab, .nnames = ARRAY_SIZE(tab), __VA_ARGS__)
/* A mapping whose keys are members of this object itself (sub's rows
 * are offsets in it): `alerts: { exec: ... }` is policy->alerts_exec. */
#define ROW_FLAT(key, s, ...) { .name = key, .type = ST_MAP, .sub = s, __VA_ARGS__ }
#define SCHEMA_ROWS_MAX 64

struct loader {
	const char *name;		/* the file, for messages */
	const char *dir;		/* where relative paths start */
	const unsigned char *buf;	/* the input, to place reader errors */
	size_t len;
	int check_files;
	yaml_parser_t parser;
	struct policy *pol;
	char *err;
	size_t errlen;
	char quoted[96];		/* ld_quote() */
	char desc[160];			/* type_desc() of a table of names */
};

/* --- errors ---------------------------------------------------------------- */

/* Errors name the file, line and column (include/yamlerr.h). */
#define ld_error(ld, m, ...) \
	yaml_error_mark((ld)->name, (ld)->err, (ld)->errlen, m, __VA_ARGS__)
#define ld_error_at(ld, line, col, ...) \
	yaml_error((ld)->name, (ld)->err, (ld)->errlen, line, col, __VA_ARGS__)

/* Text from the file, escaped and cut short, for a message. */
static const char *ld_quote(struct loader *ld, const char *s, size_t n)
{
	escape_text(ld->quoted, sizeof(ld->quoted), s, n, 0);
	return ld->quoted;
}

/* libyaml's reader errors carry a byte offset, not a mark: place it. */
static void offset_mark(const struct loader *ld, size_t off, size_t *line, size_t *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off && i < ld->len; i++) {
		if (ld->buf[i] == '\n') {
			++*line;
			*col = 1;
		} else if ((ld->buf[i] & 0xc0) != 0x80) {
			++*col;		/* columns count characters */
		}
	}
}

static int ld_yaml_error(struct loader *ld)
{
	yaml_parser_t *p = &ld->parser;
	const char *what = p->problem ? p->problem : "cannot parse";
	size_t line, col;

	if (p->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (p->error == YAML_READER_ERROR) {
		offset_mark(ld, p->problem_offset, &line, &col);
		return ld_error_at(ld, line, col, "invalid YAML: %s", what);
	}
	if (p->context)
		return ld_error(ld, &p->problem_mark, "invalid YAML: %s %s", what, p->context);
	return ld_error(ld, &p->problem_mark, "invalid YAML: %s", what);
}

/* --- events ---------------------------------------------------------------- */

/* The next event, refusing what a policy has no use for. */
static int ld_next(struct loader *ld, yaml_event_t *ev)
{
	const char *why;
	yaml_mark_t m;

	if (!yaml_parser_parse(&ld->parser, ev))
		return ld_yaml_error(ld);
	why = yaml_refused(ev);
	if (why) {
		m = ev->start_mark;	/* yaml_event_delete() clears it */
		yaml_event_delete(ev);
		return ld_error(ld, &m, "%s are not supported in policy files", why);
	}
	return 0;
}

static const char *scalar(const yaml_event_t *ev, size_t *n)
{
	*n = ev->data.scalar.length;
	return (const char *)ev->data.scalar.value;
}

static int is_plain(const yaml_event_t *ev)
{
	return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* "key:" with nothing after it, or ~ / null */
static int is_null(const yaml_event_t *ev)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	size_t i;

	if (ev->type != YAML_SCALAR_EVENT || !is_plain(ev))
		return 0;
	for (i = 0; i < ARRAY_SIZE(nulls); i++)
		if (!strcmp((const char *)ev->data.scalar.value, nulls[i]))
			return 1;
	return 0;
}

/* --- scalar forms ------------------------------------------------------------ */

int policy_parse_usd(const char *s, int64_t *nano)
{
	const char *end;
	int err = decimal_parse(s, &end, 9, INT64_MAX, nano);

	if (!err && *end)
		err = -EINVAL;
	return err;
}

int policy_parse_percent(const char *s, int64_t *bp)
{
	const char *end;
	int err = decimal_parse(s, &end, 2, INT64_MAX, bp);

	if (!err && strcmp(end, "%"))
		err = -EINVAL;
	return err;
}

static const struct {
	const char *unit;
	uint64_t ns;
} units[] = {
	{ "ms", 1000000ull },
	{ "s", 1000000000ull },
	{ "m", 60 * 1000000000ull },
	{ "h", 3600 * 1000000000ull },
	{ "d", 86400 * 1000000000ull },
	{ "w", 7 * 86400 * 1000000000ull },
};

int policy_parse_duration(const char *s, uint64_t *ns)
{
	uint64_t v = 0;
	size_t i;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	for (i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(s, units[i].unit))
			continue;
		if (v > INT64_MAX / units[i].ns)	/* the ledger keeps int64 */
			return -ERANGE;
		*ns = v * units[i].ns;
		return 0;
	}
	return -EINVAL;
}

/* A duration as a policy would write it, in the largest unit that
 * divides it: bounds in messages read "1m", not "60000000000". */
static const char *fmt_duration(char *buf, size_t cap, uint64_t ns)
{
	size_t i = ARRAY_SIZE(units);

	while (i-- > 0) {
		if (ns && !(ns % units[i].ns)) {
			snprintf(buf, cap, "%llu%s", (unsigned long long)(ns / units[i].ns),
				 units[i].unit);
			return buf;
		}
	}
	snprintf(buf, cap, "%llums", (unsigned long long)(ns / units[0].ns));
	return buf;
}

/* Basis points as a percentage: 8000 -> "80%", 1250 -> "12.5%". */
static const char *fmt_percent(char *buf, size_t cap, int64_t bp)
{
	if (bp % 100 == 0)
		snprintf(buf, cap, "%lld%%", (long long)(bp / 100));
	else if (bp % 10 == 0)
		snprintf(buf, cap, "%lld.%lld%%", (long long)(bp / 100),
			 (long long)(bp % 100 / 10));
	else
		snprintf(buf, cap, "%lld.%02lld%%", (long long)(bp / 100), (long long)(bp % 100));
	return buf;
}

/* A decimal integer, no sign unless negative, no leading zeros: YAML 1.1
 * reads 010 as octal, and a uid or a limit should not surprise. */
static int parse_int(const char *s, int64_t *out)
{
	int neg = *s == '-';
	int64_t v = 0;

	s += neg;
	if (*s < '0' || *s > '9' || (*s == '0' && s[1]))
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (INT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (*s - '0');
	}
	if (*s)
		return -EINVAL;
	*out = neg ? -v : v;
	return 0;
}

/* --- storing --------------------------------------------------------------- */

static void *member(void *obj, size_t off)
{
	return (char *)obj + off;
}

/* An integer into a member of its size (int, uid_t, int64_t, ...): the
 * row's bounds fit the member, so the cast keeps the value. */
static void store_int(void *dst, size_t size, int64_t v)
{
	uint8_t v8 = (uint8_t)v;
	uint16_t v16 = (uint16_t)v;
	uint32_t v32 = (uint32_t)v;

	switch (size) {
	case 1:
		memcpy(dst, &v8, 1);
		break;
	case 2:
		memcpy(dst, &v16, 2);
		break;
	case 4:
		memcpy(dst, &v32, 4);
		break;
	default:
		memcpy(dst, &v, sizeof(v));
		break;
	}
}

/* Room for one more element of a pointer + count vector. */
static void *vec_push(void **v, size_t *n, size_t size)
{
	void *nv;

	/* full when the count is 0 or a power of two */
	if (!(*n & (*n - 1))) {
		nv = realloc(*v, (*n ? 2 * *n : 1) * size);
		if (!nv)
			return NULL;
		*v = nv;
	}
	nv = (char *)*v + *n * size;
	memset(nv, 0, size);
	++*n;
	return nv;
}

/* "a, b or c" from a row's names, then the extra choice if any. */
static const char *names_desc(struct loader *ld, const struct schema_row *r, const char *extra)
{
	size_t i, left = !!extra, o = 0, cap = sizeof(ld->desc);

	for (i = 0; i < r->nnames; i++)
		left += r->names[i] != NULL;
	ld->desc[0] = '\0';
	for (i = 0; i < r->nnames && o < cap; i++) {
		if (!r->names[i])
			continue;
		left--;
		o += snprintf(ld->desc + o, cap - o, "%s%s", r->names[i],
			      !left ? "" : left == 1 ? " or " : ", ");
	}
	if (extra && o < cap)
		snprintf(ld->desc + o, cap - o, "%s", extra);
	return ld->desc;
}

static const char *type_desc(struct loader *ld, const struct schema_row *r)
{
	switch (r->type) {
	case ST_STR:
		return "a string";
	case ST_PATH:
		return "a file name";
	case ST_INT:
		return "an integer";
	case ST_BOOL:
		return "true or false";
	case ST_STRS:
		return "a string or a list of strings";
	case ST_INTS:
		return "an integer or a list of integers";
	case ST_MONEY:
		return "an amount in USD such as 2.50";
	case ST_PERCENT:
		return "a percentage such as 80%";
	case ST_PERCENTS:
		return "a percentage such as 80% or a list of them";
	case ST_DURATION:
		return "a duration such as 90s, 15m, 1h or 1d";
	case ST_ENUM:
		return names_desc(ld, r, NULL);
	case ST_WINDOW:
		return names_desc(ld, r, "rolling:DURATION such as rolling:15m");
	case ST_MAP:
		return "a mapping";
	case ST_MAPS:
		return "a list of mappings";
	}
	return "?";
}

static int type_error(struct loader *ld, const struct schema_row *r, const yaml_event_t *ev)
{
	return ld_error(ld, &ev->start_mark, "'%s' must be %s", r->name, type_desc(ld, r));
}

/* A string value, checked and copied. */
static int take_str(struct loader *ld, const struct schema_row *r, const yaml_event_t *ev,
		    char **out)
{
	size_t n;
	const char *s;
	int err;

	if (ev->type != YAML_SCALAR_EVENT || is_null(ev))
		return type_error(ld, r, ev);
	s = scalar(ev, &n);
	if (!n)
		return ld_error(ld, &ev->start_mark, "'%s' is empty", r->name);
	if (memchr(s, '\0', n))
		return ld_error(ld, &ev->start_mark, "'%s' contains a NUL byte", r->name);
	if (n > POLICY_STR_MAX)
		return ld_error(ld, &ev->start_mark, "'%s' is longer than %d bytes",
				r->name, POLICY_STR_MAX);
	if (r->check) {
		err = r->check(ld, &ev->start_mark, s);
		if (err)
			return err;
	}
	*out = strndup(s, n);
	return *out ? 0 : -ENOMEM;
}

/*
 * A number outside the row's bounds.  Bounds are said in the form the
 * value is written in; amounts keep the text as given, since a cap of
 * nano-USD would read worse than the value that broke it.
 */
static int range_error(struct loader *ld, const struct schema_row *r, const yaml_event_t *ev,
		       int err, int64_t v)
{
	const yaml_mark_t *m = &ev->start_mark;
	char lo[32], hi[32];
	const char *s;
	size_t n;

	switch (r->type) {
	case ST_INT:
	case ST_INTS:
		if (r->min == r->max)
			return ld_error(ld, m, "'%s' must be %lld", r->name, (long long)r->min);
		return ld_error(ld, m, "'%s' must be between %lld and %lld", r->name,
				(long long)r->min, (long long)r->max);
	case ST_PERCENT:
	case ST_PERCENTS:
		return ld_error(ld, m, "'%s' must be between %s and %s", r->name,
				fmt_percent(lo, sizeof(lo), r->min),
				fmt_percent(hi, sizeof(hi), r->max));
	case ST_DURATION:
		return ld_error(ld, m, "'%s' must be between %s and %s", r->name,
				fmt_duration(lo, sizeof(lo), (uint64_t)r->min),
				fmt_duration(hi, sizeof(hi), (uint64_t)r->max));
	default:
		break;
	}
	/* money has no sign: below a minimum of 1 nano-USD is 0 */
	if (!err && v < r->min && r->min == 1)
		return ld_error(ld, m, "'%s' must be more than 0", r->name);
	s = scalar(ev, &n);
	return ld_error(ld, m, "'%s' is out of range (%s)", r->name, ld_quote(ld, s, n));
}

/* A number: plain scalars only, since "1" in quotes is a string to YAML. */
static int take_num(struct loader *ld, const struct schema_row *r, const yaml_event_t *ev,
		    int64_t *out)
{
	const char *s;
	size_t n;
	uint64_t u;
	int err;

	if (ev->type != YAML_SCALAR_EVENT || !is_plain(ev) || is_null(ev))
		return type_error(ld, r, ev);
	s = scalar(ev, &n);
	switch (r->type) {
	case ST_MONEY:
		err = policy_parse_usd(s, out);
		break;
	case ST_PERCENT:
	case ST_PERCENTS:
		err = policy_parse_percent(s, out);
		break;
	case ST_DURATION:
		err = policy_parse_duration(s, &u);
		if (!err)
			*out = (int64_t)u;
		break;
	default:
		err = parse_int(s, out);
		break;
	}
	if (err == -ERANGE && r->type == ST_MONEY && strchr(s, '.') &&
	    strspn(strchr(s, '.') + 1, "0123456789") > 9)
		return ld_error(ld, &ev->start_mark, "'%s' must be %s (at most 9 decimal places)",
				r->name, type_desc(ld, r));
	if (err == -EINVAL)
		return type_error(ld, r, ev);
	if (!err && *out >= r->min && *out <= r->max)
		return 0;
	return range_error(ld, r, ev, err, err ? 0 : *out);
}

static int take_bool(struct loader *ld, const struct schema_row *r, const yaml_event_t *ev,
		     int *out)
{
	static const char *const t[] = { "true", "True", "TRUE" };
	static const char *const f[] = { "false", "False", "FALSE" };
	const char *s;
	size_t i, n;

	if (ev->type != YAML_SCALAR_EVENT || !is_plain(ev))
		return type_error(ld, r, ev);
	s = scalar(ev, &n);
	for (i = 0; i < ARRAY_SIZE(t); i++) {
		if (!strcmp(s, t[i]) || !strcmp(s, f[i])) {
			*out = !strcmp(s, t[i]);
			return 0;
		}
	}
	return type_error(ld, r, ev);
}

/* The index of a name among the row's, or -1; the length counts, so a
 * NUL inside the value never matches a prefix. */
static int name_index(const struct schema_row *r, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < r->nnames; i++)
		if (r->names[i] && strlen(r->names[i]) == n && !memcmp(r->names[i], s, n))
			return (int)i;
	return -1;
}

/* ST_ENUM: a name, in any quoting; stored as its index. */
static int take_enum(struct loader *ld, const struct schema_row *r, const yaml_event_t *ev,
		     void *dst)
{
	const char *s;
	size_t n;
	int i;

	if (ev->type != YAML_SCALAR_EVENT || is_null(ev))
		return type_error(ld, r, ev);
	s = scalar(ev, &n);
	i = name_index(r, s, n);
	if (i < 0)
		return type_error(ld, r, ev);
	store_int(dst, r->size, i);
	return 0;
}

#define ROLLING "rolling:"

/* ST_WINDOW: a calendar window by name, or a rolling span. */
static int take_window(struct loader *ld, const struct schema_row *r, const yaml_event_t *ev,
		       void *obj)
{
	char lo[32], hi[32];
	const char *s;
	uint64_t ns;
	size_t n;
	int i, err;

	if (ev->type != YAML_SCALAR_EVENT || is_null(ev))
		return type_error(ld, r, ev);
	s = scalar(ev, &n);
	i = name_index(r, s, n);
	if (i >= 0) {
		store_int(member(obj, r->off), r->size, i);
		return 0;
	}
	if (strncmp(s, ROLLING, strlen(ROLLING)) || memchr(s, '\0', n))
		return type_error(ld, r, ev);
	err = policy_parse_duration(s + strlen(ROLLING), &ns);
	if (err == -EINVAL)
		return type_error(ld, r, ev);
	if (err || ns < (uint64_t)r->min || ns > (uint64_t)r->max)
		return ld_error(ld, &ev->start_mark, "'%s' rolling span must be between %s and %s",
				r->name, fmt_duration(lo, sizeof(lo), (uint64_t)r->min),
				fmt_duration(hi, sizeof(hi), (uint64_t)r->max));
	store_int(member(obj, r->off), r->size, (int64_t)r->nnames);
	memcpy(member(obj, r->off_span), &ns, sizeof(ns));
	return 0;
}

/* SR_EXEC: a program is run, never read, so it need not be readable. */
static int check_exec(struct loader *ld, const struct schema_row *r, const yaml_event_t *ev,
		      const char *path)
{
	const char *q = ld_quote(ld, path, strlen(path));
	struct stat st;

	if (stat(path, &st))
		return ld_error(ld, &ev->start_mark, "'%s': cannot run %s: %s", r->name, q,
				strerror(errno));
	if (!S_ISREG(st.st_mode))
		return ld_error(ld, &ev->start_mark, "'%s': %s is not a regular file", r->name, q);
	if (access(path, X_OK))
		return ld_error(ld, &ev->start_mark, "'%s': %s is not executable", r->name, q);
	return 0;
}

/* ST_PATH: resolved against the policy's directory, and readable (or
 * executable) when the policy came from a file. */
static int take_path(struct loader *ld, const struct schema_row *r, const yaml_event_t *ev,
		     char **out)
{
	char *s, *full;
	struct stat st;
	int err, fd;

	err = take_str(ld, r, ev, &s);
	if (err)
		return err;
	if (s[0] == '/') {
		*out = s;
	} else {
		err = asprintf(&full, "%s/%s", ld->dir, s);
		free(s);
		if (err < 0)
			return -ENOMEM;
		*out = full;
	}
	if (!ld->check_files)
		return 0;
	if (r->flags & SR_EXEC)
		return check_exec(ld, r, ev, *out);
	fd = open(*out, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		err = errno;
		return ld_error(ld, &ev->start_mark, "'%s': cannot read %s: %s", r->name,
				ld_quote(ld, *out, strlen(*out)), strerror(err));
	}
	err = fstat(fd, &st) ? -errno : 0;
	close(fd);
	if (err || !S_ISREG(st.st_mode))
		return ld_error(ld, &ev->start_mark, "'%s': %s is not a regular file", r->name,
				ld_quote(ld, *out, strlen(*out)));
	return 0;
}

/* --- lists and mappings ------------------------------------------------------ */

static int parse_map(struct loader *ld, const struct schema *s, void *obj,
		     const yaml_event_t *start);

static size_t row_cap(const struct schema_row *r)
{
	return r->cap ? r->cap : POLICY_VALUES_MAX;
}

static int too_many(struct loader *ld, const struct schema_row *r, const yaml_event_t *ev)
{
	return ld_error(ld, &ev->start_mark, "'%s' has more than %zu entries", r->name,
			row_cap(r));
}

static int strs_add(struct loader *ld, const struct schema_row *r, void *obj,
		    const yaml_event_t *ev)
{
	struct policy_strs *strs = member(obj, r->off);
	char **slot, *s;
	int err;

	if (strs->n >= row_cap(r))
		return too_many(ld, r, ev);
	err = take_str(ld, r, ev, &s);
	if (err)
		return err;
	slot = vec_push((void **)&strs->v, &strs->n, sizeof(*slot));
	if (!slot) {
		free(s);
		return -ENOMEM;
	}
	*slot = s;
	return 0;
}

/* Thresholds are crossed in order: a list out of order is a mistake,
 * and sorting it would hide which one the writer meant. */
static int percents_add(struct loader *ld, const struct schema_row *r, void *obj,
			const yaml_event_t *ev)
{
	int64_t *v = member(obj, r->off), x;
	size_t *n = member(obj, r->off_n);
	char a[32], b[32];
	int err;

	if (*n >= row_cap(r))
		return too_many(ld, r, ev);
	err = take_num(ld, r, ev, &x);
	if (err)
		return err;
	if (*n && x <= v[*n - 1])
		return ld_error(ld, &ev->start_mark, "'%s' must be ascending: %s is not above %s",
				r->name, fmt_percent(a, sizeof(a), x),
				fmt_percent(b, sizeof(b), v[*n - 1]));
	v[(*n)++] = x;
	return 0;
}

/* One entry of ST_STRS, ST_INTS or ST_PERCENTS. */
static int list_add(struct loader *ld, const struct schema_row *r, void *obj,
		    const yaml_event_t *ev)
{
	void **v = member(obj, r->off);
	size_t *n = member(obj, r->off_n);
	void *slot;
	int64_t x;
	int err;

	if (r->type == ST_STRS)
		return strs_add(ld, r, obj, ev);
	if (r->type == ST_PERCENTS)
		return percents_add(ld, r, obj, ev);
	if (*n >= row_cap(r))
		return too_many(ld, r, ev);
	err = take_num(ld, r, ev, &x);
	if (err)
		return err;
	slot = vec_push(v, n, r->size);
	if (!slot)
		return -ENOMEM;
	store_int(slot, r->size, x);
	return 0;
}

/* A scalar, or a list of scalars. */
static int parse_list(struct loader *ld, const struct schema_row *r, void *obj,
		      const yaml_event_t *first)
{
	yaml_event_t ev;
	int err;

	if (first->type == YAML_SCALAR_EVENT)
		return list_add(ld, r, obj, first);
	if (first->type != YAML_SEQUENCE_START_EVENT)
		return type_error(ld, r, first);
	for (;;) {
		err = ld_next(ld, &ev);
		if (err)
			return err;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		err = list_add(ld, r, obj, &ev);
		yaml_event_delete(&ev);
		if (err)
			return err;
	}
}

static void *map_new(const struct schema_row *r, void *obj, const yaml_mark_t *m)
{
	void *elem = vec_push(member(obj, r->off), member(obj, r->off_n), r->sub->size);

	if (elem && r->sub->init)
		r->sub->init(elem, m);
	return elem;
}

/* A list of mappings: each entry is counted in the parent before it is
 * read, so a hook can see the entries before it and freeing after an
 * error finds everything. */
static int parse_maps(struct loader *ld, const struct schema_row *r, void *obj,
		      const yaml_event_t *first)
{
	yaml_event_t ev;
	void *elem;
	int err;

	if (first->type != YAML_SEQUENCE_START_EVENT)
		return type_error(ld, r, first);
	for (;;) {
		err = ld_next(ld, &ev);
		if (err)
			return err;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (ev.type != YAML_MAPPING_START_EVENT)
			err = ld_error(ld, &ev.start_mark, "each entry of '%s' must be a mapping",
				       r->name);
		else if (*(size_t *)member(obj, r->off_n) >= row_cap(r))
			err = too_many(ld, r, &ev);
		else if (!(elem = map_new(r, obj, &ev.start_mark)))
			err = -ENOMEM;
		else
			err = parse_map(ld, r->sub, elem, &ev);
		yaml_event_delete(&ev);
		if (err)
			return err;
	}
}

static int parse_value(struct loader *ld, const struct schema_row *r, void *obj)
{
	void *dst = member(obj, r->off);
	yaml_event_t ev;
	int64_t x;
	int err;

	err = ld_next(ld, &ev);
	if (err)
		return err;
	switch (r->type) {
	case ST_STR:
		err = take_str(ld, r, &ev, dst);
		break;
	case ST_PATH:
		err = take_path(ld, r, &ev, dst);
		break;
	case ST_BOOL:
		err = take_bool(ld, r, &ev, dst);
		break;
	case ST_INT:
	case ST_MONEY:
	case ST_PERCENT:
	case ST_DURATION:
		err = take_num(ld, r, &ev, &x);
		if (!err)
			store_int(dst, r->size, x);
		break;
	case ST_ENUM:
		err = take_enum(ld, r, &ev, dst);
		break;
	case ST_WINDOW:
		err = take_window(ld, r, &ev, obj);
		break;
	case ST_STRS:
	case ST_INTS:
	case ST_PERCENTS:
		err = parse_list(ld, r, obj, &ev);
		break;
	case ST_MAP:
		if (ev.type != YAML_MAPPING_START_EVENT) {
			err = type_error(ld, r, &ev);
			break;
		}
		if (r->sub->init)
			r->sub->init(dst, &ev.start_mark);
		err = parse_map(ld, r->sub, dst, &ev);
		break;
	case ST_MAPS:
		err = parse_maps(ld, r, obj, &ev);
		break;
	}
	yaml_event_delete(&ev);
	return err;
}

static const struct schema_row *find_row(const struct schema *s, const char *key, size_t n)
{
	size_t i;

	for (i = 0; i < s->nrows; i++)
		if (strlen(s->rows[i].name) == n && !memcmp(s->rows[i].name, key, n))
			return &s->rows[i];
	return NULL;
}

/* "a, b or c": the keys of a table, or those with all of flags, quoted
 * with q */
static void key_list(const struct schema *s, unsigned flags, const char *q, char *buf,
		     size_t cap)
{
	size_t i, j, nk = 0, o = 0;

	for (i = 0; i < s->nrows; i++)
		nk += (s->rows[i].flags & flags) == flags;
	buf[0] = '\0';
	for (i = 0, j = 0; i < s->nrows && o < cap; i++) {
		if ((s->rows[i].flags & flags) != flags)
			continue;
		o += snprintf(buf + o, cap - o, "%s%s%s%s", !j ? "" : j + 1 == nk ? " or " : ", ",
			      q, s->rows[i].name, q);
		j++;
	}
}

static int unknown_key(struct loader *ld, const struct schema *s, const yaml_event_t *key)
{
	char keys[512];
	const char *k;
	size_t n;

	key_list(s, 0, "", keys, sizeof(keys));
	k = scalar(key, &n);
	return ld_error(ld, &key->start_mark, "unknown key '%s' in %s (expected %s)",
			ld_quote(ld, k, n), s->what, keys);
}

/* A second key of the SR_ONE_OF group of s, refused at the key. */
static int one_of_again(struct loader *ld, const struct schema *s, const struct schema_row *r,
			uint64_t seen, const yaml_mark_t *first, const yaml_event_t *key)
{
	size_t j;

	if (!(r->flags & SR_ONE_OF))
		return 0;
	for (j = 0; j < s->nrows; j++)
		if ((s->rows[j].flags & SR_ONE_OF) && (seen & (1ull << j)))
			return ld_error(ld, &key->start_mark, "'%s' and '%s' (line %zu) exclude "
					"each other in %s: give one", r->name, s->rows[j].name,
					first[j].line + 1, s->what);
	return 0;
}

/* One key of a mapping, and its value. */
static int parse_entry(struct loader *ld, const struct schema *s, void *obj,
		       const yaml_event_t *key, uint64_t *seen, yaml_mark_t *first)
{
	const struct schema_row *r;
	const char *k;
	size_t n, i;
	int err;

	if (key->type != YAML_SCALAR_EVENT)
		return ld_error(ld, &key->start_mark, "keys in %s must be plain names", s->what);
	k = scalar(key, &n);
	r = find_row(s, k, n);
	if (!r)
		return unknown_key(ld, s, key);
	i = (size_t)(r - s->rows);
	if (*seen & (1ull << i))
		return ld_error(ld, &key->start_mark, "duplicate key '%s' (first at line %zu)",
				r->name, first[i].line + 1);
	err = one_of_again(ld, s, r, *seen, first, key);
	if (err)
		return err;
	*seen |= 1ull << i;
	first[i] = key->start_mark;
	return parse_value(ld, r, obj);
}

/* None of the SR_ONE_OF group of s, refused at the mapping. */
static int one_of_missing(struct loader *ld, const struct schema *s, uint64_t seen,
			  const yaml_event_t *start)
{
	uint64_t group = 0;
	char keys[256];
	size_t i;

	for (i = 0; i < s->nrows; i++)
		if (s->rows[i].flags & SR_ONE_OF)
			group |= 1ull << i;
	if (!group || (seen & group))
		return 0;
	key_list(s, SR_ONE_OF, "'", keys, sizeof(keys));
	return ld_error(ld, &start->start_mark, "missing required key %s in %s", keys, s->what);
}

static int parse_map(struct loader *ld, const struct schema *s, void *obj,
		     const yaml_event_t *start)
{
	yaml_mark_t first[SCHEMA_ROWS_MAX];
	uint64_t seen = 0;
	yaml_event_t key;
	size_t i;
	int err;

	for (;;) {
		err = ld_next(ld, &key);
		if (err)
			return err;
		if (key.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&key);
			break;
		}
		err = parse_entry(ld, s, obj, &key, &seen, first);
		yaml_event_delete(&key);
		if (err)
			return err;
	}
	for (i = 0; i < s->nrows; i++)
		if ((s->rows[i].flags & SR_REQUIRED) && !(seen & (1ull << i)))
			return ld_error(ld, &start->start_mark, "missing required key '%s' in %s",
					s->rows[i].name, s->what);
	err = one_of_missing(ld, s, seen, start);
	if (err)
		return err;
	return s->done ? s->done(ld, obj, &start->start_mark) : 0;
}

static void schema_free(const struct schema *s, void *obj)
{
	const struct schema_row *r;
	struct policy_strs *strs;
	size_t i, k, n;
	char *v;

	for (r = s->rows; r < s->rows + s->nrows; r++) {
		switch (r->type) {
		case ST_STR:
		case ST_PATH:
			free(*(char **)member(obj, r->off));
			break;
		case ST_STRS:
			strs = member(obj, r->off);
			for (i = 0; i < strs->n; i++)
				free(strs->v[i]);
			free(strs->v);
			break;
		case ST_INTS:
			free(*(void **)member(obj, r->off));
			break;
		case ST_MAP:
			schema_free(r->sub, member(obj, r->off));
			break;
		case ST_MAPS:
			v = *(char **)member(obj, r->off);
			n = *(size_t *)member(obj, r->off_n);
			for (k = 0; k < n; k++)
				schema_free(r->sub, v + k * r->sub->size);
			free(v);
			break;
		default:
			break;
		}
	}
}

/* --- the policy's tables ------------------------------------------------------ */

static int is_glob_char(char c)
{
	return c == '*' || c == '?' || c == '[' || c == ']' || c == '!' || c == '^' ||
	       c == '\\';
}

/* NULL, or why fnmatch(3) would not read s as the glob it looks like. */
static const char *glob_problem(const char *s)
{
	const char *p;

	for (p = s; *p; p++) {
		if (*p == '\\') {
			if (!p[1])
				return "it ends in a lone backslash";
			p++;
		} else if (*p == '[') {
			p++;
			if (*p == '!' || *p == '^')
				p++;
			if (*p == ']')		/* a ']' first is a member */
				p++;
			while (*p && *p != ']')
				p++;
			if (!*p)
				return "a '[' is not closed";
		}
	}
	return NULL;
}

static int has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

static int check_glob(struct loader *ld, const yaml_mark_t *m, const char *key, const char *s)
{
	const char *why = glob_problem(s);

	if (!why)
		return 0;
	return ld_error(ld, m, "bad %s glob '%s': %s", key, ld_quote(ld, s, strlen(s)), why);
}

/* 1 if s is lowercase hex (and dashes), glob characters allowed */
static int only_hex(const char *s, int dashes)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		      (dashes && *s == '-') || is_glob_char(*s)))
			return 0;
	return 1;
}

/* Cgroup paths are relative to the cgroup2 mount and begin with '/';
 * exe paths are absolute.  A glob may start with a wildcard. */
static int check_abs_glob(struct loader *ld, const yaml_mark_t *m, const char *key,
			  const char *s)
{
	if (s[0] != '/' && s[0] != '*' && s[0] != '?' && s[0] != '[')
		return ld_error(ld, m, "%s glob '%s' must be an absolute path ('/...')", key,
				ld_quote(ld, s, strlen(s)));
	return check_glob(ld, m, key, s);
}

static int check_cgroup(struct loader *ld, const yaml_mark_t *m, const char *s)
{
	return check_abs_glob(ld, m, "cgroup", s);
}

static int check_exe(struct loader *ld, const yaml_mark_t *m, const char *s)
{
	return check_abs_glob(ld, m, "exe", s);
}

static int check_unit(struct loader *ld, const yaml_mark_t *m, const char *s)
{
	if (strchr(s, '/'))
		return ld_error(ld, m, "unit '%s' must be a unit or slice name such as "
				"'x.service' (use 'cgroup' for paths)", ld_quote(ld, s, strlen(s)));
	return check_glob(ld, m, "unit", s);
}

static int check_user(struct loader *ld, const yaml_mark_t *m, const char *s)
{
	return check_glob(ld, m, "user", s);
}

static int check_container(struct loader *ld, const yaml_mark_t *m, const char *s)
{
	size_t n = strlen(s);

	if (!only_hex(s, 0) || (!has_glob(s) && n != 12 && n != 64))
		return ld_error(ld, m, "container '%s' must be a container id: 64 lowercase hex "
				"digits or the first 12 (globs allowed)", ld_quote(ld, s, n));
	return check_glob(ld, m, "container", s);
}

static int check_pod(struct loader *ld, const yaml_mark_t *m, const char *s)
{
	if (!only_hex(s, 1))
		return ld_error(ld, m, "pod '%s' must be a pod UID in lowercase hex and dashes "
				"(globs allowed)", ld_quote(ld, s, strlen(s)));
	return check_glob(ld, m, "pod", s);
}

/* A key is never written in a policy, only its fingerprint; a value
 * that is not one may be a key pasted by mistake, so it is not echoed. */
static int check_api_key(struct loader *ld, const yaml_mark_t *m, const char *s)
{
	const char *hex = s + 7;

	if (strncmp(s, "sha256:", 7) || !*hex || !only_hex(hex, 0) ||
	    (!has_glob(hex) && strlen(hex) != 12))
		return ld_error(ld, m, "api_key must be a key fingerprint, never the key: "
				"'sha256:' and the first 12 lowercase hex digits of the key's "
				"SHA-256 (globs allowed, e.g. 'sha256:3f2a9c*')");
	return check_glob(ld, m, "api_key", s);
}

/* Team names go into records, metrics labels and terminals. */
static int check_team_name(struct loader *ld, const yaml_mark_t *m, const char *s)
{
	const struct policy *p = ld->pol;
	size_t i, n = strlen(s);

	if (n > 64 || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			     "0123456789._-") != n)
		return ld_error(ld, m, "team name '%s' must be 1 to 64 letters, digits, '.', '_' "
				"or '-'", ld_quote(ld, s, n));
	/* the team being read is the last one */
	for (i = 0; i + 1 < p->nteams; i++)
		if (p->teams[i].name && !strcmp(p->teams[i].name, s))
			return ld_error(ld, m, "duplicate team name '%s' (first at line %u)", s,
					p->teams[i].line);
	return 0;
}

static int match_done(struct loader *ld, void *obj, const yaml_mark_t *m)
{
	const struct policy_match *mt = obj;

	if (mt->cgroup.n || mt->unit.n || mt->container.n || mt->pod.n || mt->user.n ||
	    mt->exe.n || mt->api_key.n || mt->nuid || mt->any)
		return 0;
	return ld_error(ld, m, "empty match: give at least one of cgroup, unit, container, pod, "
			"uid, user, exe, api_key, or any: true");
}

#define T struct policy_match
static const struct schema_row match_rows[] = {
	ROW(T, "cgroup", ST_STRS, cgroup, .check = check_cgroup),
	ROW(T, "unit", ST_STRS, unit, .check = check_unit),
	ROW(T, "container", ST_STRS, container, .check = check_container),
	ROW(T, "pod", ST_STRS, pod, .check = check_pod),
	ROW_VEC(T, "uid", ST_INTS, uid, nuid, .min = 0, .max = (int64_t)UINT32_MAX - 1),
	ROW(T, "user", ST_STRS, user, .check = check_user),
	ROW(T, "exe", ST_STRS, exe, .check = check_exe),
	ROW(T, "api_key", ST_STRS, api_key, .check = check_api_key),
	ROW(T, "any", ST_BOOL, any),
};
#undef T

static const struct schema match_schema = {
	.what = "match",
	.rows = match_rows,
	.nrows = ARRAY_SIZE(match_rows),
	.size = sizeof(struct policy_match),
	.done = match_done,
};

/* --- budgets and a team's rules --------------------------------------------------- */

static const char *const window_names[] = {
	[PW_HOUR] = "hour", [PW_DAY] = "day", [PW_WEEK] = "week", [PW_MONTH] = "month",
};
_Static_assert(ARRAY_SIZE(window_names) == PW_ROLLING, "rolling comes after the names");

static const char *const action_names[] = {
	[PA_ALERT] = "alert", [PA_THROTTLE] = "throttle", [PA_BLOCK] = "block", [PA_KILL] = "kill",
};

static const char *const mode_names[] = {
	[PM_ENFORCE] = "enforce", [PM_MONITOR] = "monitor",
};

static const char *const kill_scope_names[] = {
	[PK_PROCESS] = "process", [PK_CGROUP] = "cgroup",
};

const char *policy_action_name(enum policy_action a)
{
	return (size_t)a < ARRAY_SIZE(action_names) && action_names[a] ? action_names[a] : "?";
}

static void budget_init(void *obj, const yaml_mark_t *m)
{
	struct policy_budget *b = obj;

	b->limit_nusd = -1;
	b->limit_tokens = -1;
	b->action = PA_ALERT;
	b->line = m->line + 1;
}

const char *policy_window_name(const struct policy_budget *b, char *buf, size_t cap)
{
	char d[32];

	if (b->window == PW_ROLLING)
		snprintf(buf, cap, ROLLING "%s", fmt_duration(d, sizeof(d), b->rolling_ns));
	else
		snprintf(buf, cap, "%s", window_names[b->window]);
	return buf;
}

/* Two budgets of one window would race for the same spend; rolling
 * spans that differ are different windows. */
static int budget_done(struct loader *ld, void *obj, const yaml_mark_t *m)
{
	const struct policy_team *t = &ld->pol->teams[ld->pol->nteams - 1];
	const struct policy_budget *b = obj;
	char w[48];
	size_t i;

	/* the team being read is the last one, and the budget its last */
	for (i = 0; i + 1 < t->nbudgets; i++)
		if (t->budgets[i].window == b->window && t->budgets[i].rolling_ns == b->rolling_ns)
			return ld_error(ld, m, "duplicate budget window '%s' (first at line %u)",
					policy_window_name(b, w, sizeof(w)), t->budgets[i].line);
	return 0;
}

#define NS_S		1000000000ll
#define NS_MIN		(60 * NS_S)
#define NS_DAY		(86400 * NS_S)
/* Far above any real budget; they bound typos and keep sums in int64. */
#define LIMIT_USD_MAX	(1000000000ll * 1000000000ll)	/* $1e9 in nano-USD */
#define LIMIT_TOKENS_MAX 1000000000000000ll

#define T struct policy_budget
static const struct schema_row budget_rows[] = {
	ROW(T, "window", ST_WINDOW, window, .flags = SR_REQUIRED, .names = window_names,
	    .nnames = ARRAY_SIZE(window_names), .off_span = offsetof(T, rolling_ns),
	    .min = NS_MIN, .max = 31 * NS_DAY),
	ROW(T, "limit_usd", ST_MONEY, limit_nusd, .flags = SR_ONE_OF, .min = 1,
	    .max = LIMIT_USD_MAX),
	ROW(T, "limit_tokens", ST_INT, limit_tokens, .flags = SR_ONE_OF, .min = 1,
	    .max = LIMIT_TOKENS_MAX),
	ROW_ARR(T, "alert_at", ST_PERCENTS, alert_at_bp, nalert, .min = 100, .max = 10000),
	ROW_ENUM(T, "action", action, action_names),
	ROW(T, "strict", ST_BOOL, strict),
};
#undef T

static const struct schema budget_schema = {
	.what = "budget",
	.rows = budget_rows,
	.nrows = ARRAY_SIZE(budget_rows),
	.size = sizeof(struct policy_budget),
	.init = budget_init,
	.done = budget_done,
};

/* A mapping with nothing in it says nothing: a mistake, not "no limit". */
static int rate_done(struct loader *ld, void *obj, const yaml_mark_t *m)
{
	const struct policy_rate *r = obj;

	if (r->requests_per_minute || r->tokens_per_minute)
		return 0;
	return ld_error(ld, m, "empty rate_limits: give requests_per_minute, tokens_per_minute "
			"or both");
}

#define T struct policy_rate
static const struct schema_row rate_rows[] = {
	ROW(T, "requests_per_minute", ST_INT, requests_per_minute, .min = 1, .max = 1000000000),
	ROW(T, "tokens_per_minute", ST_INT, tokens_per_minute, .min = 1, .max = 1000000000),
};
#undef T

static const struct schema rate_schema = {
	.what = "rate_limits",
	.rows = rate_rows,
	.nrows = ARRAY_SIZE(rate_rows),
	.size = sizeof(struct policy_rate),
	.done = rate_done,
};

static int check_model(struct loader *ld, const yaml_mark_t *m, const char *s)
{
	return check_glob(ld, m, "model", s);
}

static int models_done(struct loader *ld, void *obj, const yaml_mark_t *m)
{
	const struct policy_models *md = obj;

	if (md->allow.n || md->deny.n)
		return 0;
	return ld_error(ld, m, "empty models: give allow, deny or both");
}

#define T struct policy_models
static const struct schema_row models_rows[] = {
	ROW(T, "allow", ST_STRS, allow, .check = check_model),
	ROW(T, "deny", ST_STRS, deny, .check = check_model),
};
#undef T

static const struct schema models_schema = {
	.what = "models",
	.rows = models_rows,
	.nrows = ARRAY_SIZE(models_rows),
	.size = sizeof(struct policy_models),
	.done = models_done,
};

/* --- teams ------------------------------------------------------------------------ */

static void team_init(void *obj, const yaml_mark_t *m)
{
	struct policy_team *t = obj;

	t->line = m->line + 1;
}

#define T struct policy_team
static const struct schema_row team_rows[] = {
	ROW(T, "name", ST_STR, name, .flags = SR_REQUIRED, .check = check_team_name),
	ROW(T, "match", ST_MAP, match, .flags = SR_REQUIRED, .sub = &match_schema),
	ROW_VEC(T, "budgets", ST_MAPS, budgets, nbudgets, .sub = &budget_schema,
		.cap = POLICY_BUDGETS_MAX),
	ROW(T, "rate_limits", ST_MAP, rate, .sub = &rate_schema),
	ROW(T, "models", ST_MAP, models, .sub = &models_schema),
	ROW(T, "max_tokens_cap", ST_INT, max_tokens_cap, .min = 1, .max = 10000000),
	ROW_ENUM(T, "kill_scope", kill_scope, kill_scope_names),
};
#undef T

static const struct schema team_schema = {
	.what = "team",
	.rows = team_rows,
	.nrows = ARRAY_SIZE(team_rows),
	.size = sizeof(struct policy_team),
	.init = team_init,
};

/* A price not given is -1: "billed as input" (pricing.h). */
static void price_init(void *obj, const yaml_mark_t *m)
{
	struct price_row *pr = obj;

	pr->provider = "default";
	pr->model = "default";
	pr->base.input = -1;
	pr->base.cached_input = -1;
	pr->base.cache_write = -1;
	pr->base.cache_write_1h = -1;
	pr->base.output = -1;
	pr->ntiers = 0;
}

/* $1M per million tokens is far above any real price; it bounds typos. */
#define USD_MAX (1000000ll * 1000000000ll)

#define T struct price_row
static const struct schema_row price_rows[] = {
	ROW(T, "input_per_mtok", ST_MONEY, base.input, .flags = SR_REQUIRED, .max = USD_MAX),
	ROW(T, "output_per_mtok", ST_MONEY, base.output, .flags = SR_REQUIRED, .max = USD_MAX),
	ROW(T, "cached_input_per_mtok", ST_MONEY, base.cached_input, .max = USD_MAX),
	ROW(T, "cache_write_per_mtok", ST_MONEY, base.cache_write, .max = USD_MAX),
};
#undef T

static const struct schema price_schema = {
	.what = "default_price",
	.rows = price_rows,
	.nrows = ARRAY_SIZE(price_rows),
	.size = sizeof(struct price_row),
	.init = price_init,
};

/* --- the rest of the policy ---------------------------------------------------- */

static void loop_guard_init(void *obj, const yaml_mark_t *m)
{
	struct policy_loop_guard *lg = obj;

	lg->action = PA_ALERT;
}

#define T struct policy_loop_guard
static const struct schema_row loop_guard_rows[] = {
	ROW(T, "identical_requests", ST_INT, identical_requests, .flags = SR_REQUIRED,
	    .min = 2, .max = 100000),
	ROW(T, "within", ST_DURATION, within_ns, .flags = SR_REQUIRED, .min = NS_S,
	    .max = NS_DAY),
	ROW_ENUM(T, "action", action, action_names),
};
#undef T

static const struct schema loop_guard_schema = {
	.what = "loop_guard",
	.rows = loop_guard_rows,
	.nrows = ARRAY_SIZE(loop_guard_rows),
	.size = sizeof(struct policy_loop_guard),
	.init = loop_guard_init,
};

/* The hook is a program: it must be there to run when the first alert
 * comes, not found missing then. */
#define T struct policy
static const struct schema_row alerts_rows[] = {
	ROW(T, "exec", ST_PATH, alerts_exec, .flags = SR_REQUIRED | SR_EXEC),
};
#undef T

static const struct schema alerts_schema = {
	.what = "alerts",
	.rows = alerts_rows,
	.nrows = ARRAY_SIZE(alerts_rows),
};

#define ZONEINFO "/usr/share/zoneinfo/"

/*
 * An IANA name ("Europe/Paris", "Etc/GMT+5") names a file under
 * ZONEINFO: no '.', so no "..", and no empty component.  UTC is the
 * agent's own and needs no tzdata.
 */
static int check_timezone(struct loader *ld, const yaml_mark_t *m, const char *s)
{
	size_t n = strlen(s);
	struct stat st;
	char *path;
	int bad;

	if (!strcmp(s, "UTC"))
		return 0;
	if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_-+") != n ||
	    s[0] == '/' || s[n - 1] == '/' || strstr(s, "//"))
		return ld_error(ld, m, "timezone '%s' must be UTC or an IANA time zone name such "
				"as Europe/Paris", ld_quote(ld, s, n));
	if (!ld->check_files)
		return 0;
	if (asprintf(&path, ZONEINFO "%s", s) < 0)
		return -ENOMEM;
	bad = stat(path, &st) || !S_ISREG(st.st_mode);
	free(path);
	if (bad)	/* s is made of the characters above: safe to print */
		return ld_error(ld, m, "unknown time zone '%s' (no " ZONEINFO "%s)", s, s);
	return 0;
}

/* Defaults of what a policy may leave out. */
static void policy_init(void *obj, const yaml_mark_t *m)
{
	struct policy *p = obj;

	price_init(&p->default_price, NULL);
	loop_guard_init(&p->loop_guard, NULL);
	p->hold_timeout_ns = 2 * NS_S;
}

static int policy_done(struct loader *ld, void *obj, const yaml_mark_t *m)
{
	struct policy *p = obj;

	p->has_default_price = p->default_price.base.input >= 0;
	return 0;
}

#define T struct policy
static const struct schema_row policy_rows[] = {
	ROW(T, "version", ST_INT, version, .flags = SR_REQUIRED, .min = 1, .max = 1),
	ROW_VEC(T, "teams", ST_MAPS, teams, nteams, .sub = &team_schema,
		.cap = POLICY_TEAMS_MAX),
	ROW(T, "default_price", ST_MAP, default_price, .sub = &price_schema),
	ROW(T, "prices", ST_PATH, prices_file),
	ROW(T, "loop_guard", ST_MAP, loop_guard, .sub = &loop_guard_schema),
	ROW_FLAT("alerts", &alerts_schema),
	ROW_ENUM(T, "mode", mode, mode_names),
	ROW(T, "timezone", ST_STR, timezone, .check = check_timezone),
	ROW(T, "hold_timeout", ST_DURATION, hold_timeout_ns, .min = NS_S / 10,
	    .max = 60 * NS_S),
};
#undef T

static const struct schema policy_schema = {
	.what = "the policy",
	.rows = policy_rows,
	.nrows = ARRAY_SIZE(policy_rows),
	.size = sizeof(struct policy),
	.init = policy_init,
	.done = policy_done,
};

_Static_assert(ARRAY_SIZE(policy_rows) <= SCHEMA_ROWS_MAX, "seen is a 64-bit mask");
_Static_assert(ARRAY_SIZE(team_rows) <= SCHEMA_ROWS_MAX, "seen is a 64-bit mask");
_Static_assert(ARRAY_SIZE(match_rows) <= SCHEMA_ROWS_MAX, "seen is a 64-bit mask");
_Static_assert(ARRAY_SIZE(price_rows) <= SCHEMA_ROWS_MAX, "seen is a 64-bit mask");
_Static_assert(ARRAY_SIZE(budget_rows) <= SCHEMA_ROWS_MAX, "seen is a 64-bit mask");

/* --- loading ---------------------------------------------------------------- */

/* stream-start document-start MAPPING ... document-end stream-end */
static int parse_document(struct loader *ld)
{
	yaml_event_t ev;
	int err, type;

	err = ld_next(ld, &ev);		/* stream start */
	if (err)
		return err;
	yaml_event_delete(&ev);
	err = ld_next(ld, &ev);
	if (err)
		return err;
	type = ev.type;
	yaml_event_delete(&ev);
	if (type == YAML_STREAM_END_EVENT)
		return ld_error_at(ld, 1, 1, "the policy is empty (expected version: 1, teams: ...)");
	err = ld_next(ld, &ev);
	if (err)
		return err;
	if (ev.type != YAML_MAPPING_START_EVENT)
		err = ld_error(ld, &ev.start_mark,
			       "a policy must be a mapping of keys (version: 1, teams: ...)");
	else
		err = parse_map(ld, &policy_schema, ld->pol, &ev);
	yaml_event_delete(&ev);
	if (err)
		return err;
	err = ld_next(ld, &ev);		/* document end */
	if (err)
		return err;
	yaml_event_delete(&ev);
	err = ld_next(ld, &ev);
	if (err)
		return err;
	if (ev.type != YAML_STREAM_END_EVENT)
		err = ld_error(ld, &ev.start_mark,
			       "only one YAML document is allowed in a policy file");
	yaml_event_delete(&ev);
	return err;
}

/*
 * The whole stream first: a YAML mistake (a key indented one space off)
 * can read as a well-formed but different structure up to the point
 * where it breaks, and the schema would blame what it saw first.
 */
static int check_stream(struct loader *ld)
{
	yaml_event_t ev;
	int err, done = 0, depth = 0;

	if (!yaml_parser_initialize(&ld->parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&ld->parser, ld->buf, ld->len);
	while (!done) {
		err = ld_next(ld, &ev);
		if (err)
			break;
		done = ev.type == YAML_STREAM_END_EVENT;
		if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT)
			depth--;
		/* libyaml's scanner costs O(depth) a token: bound it */
		if ((ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) &&
		    ++depth > POLICY_DEPTH_MAX) {
			err = ld_error(ld, &ev.start_mark, "nested deeper than %d levels",
				       POLICY_DEPTH_MAX);
			done = 1;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&ld->parser);
	return err;
}

/*
 * libyaml checks each %TAG directive against all before it: quadratic.
 * A policy needs a %YAML line at most; a '%' starting a line is a
 * directive, or content no policy has.
 */
#define DIRECTIVES_MAX 8

static int check_directives(struct loader *ld)
{
	size_t i, line = 1, n = 0;

	for (i = 0; i < ld->len; i++) {
		if (ld->buf[i] == '%' && (!i || ld->buf[i - 1] == '\n') && ++n > DIRECTIVES_MAX)
			return ld_error_at(ld, line, 1, "more than %d YAML directives",
					   DIRECTIVES_MAX);
		line += ld->buf[i] == '\n';
	}
	return 0;
}

static int load(struct loader *ld, struct policy **out)
{
	struct policy *p;
	int err;

	*out = NULL;
	if (ld->errlen)
		ld->err[0] = '\0';
	if (ld->len > POLICY_FILE_MAX)
		return ld_error_at(ld, 1, 1, "the policy is larger than %u bytes",
				   POLICY_FILE_MAX);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->path = strdup(ld->name);
	if (!p->path) {
		free(p);
		return -ENOMEM;
	}
	policy_schema.init(p, NULL);
	ld->pol = p;
	err = check_directives(ld);
	if (!err)
		err = check_stream(ld);
	if (!err && !yaml_parser_initialize(&ld->parser))
		err = -ENOMEM;
	if (!err) {
		yaml_parser_set_input_string(&ld->parser, ld->buf, ld->len);
		err = parse_document(ld);
		yaml_parser_delete(&ld->parser);
	}
	if (err) {
		policy_free(p);
		return err;
	}
	*out = p;
	return 0;
}

/* The directory of name, without its trailing slash ("." for none). */
static char *dir_of(const char *name)
{
	const char *slash = strrchr(name, '/');

	if (!slash)
		return strdup(".");
	if (slash == name)
		return strdup("/");
	return strndup(name, (size_t)(slash - name));
}

int policy_load_mem(const char *name, const void *buf, size_t len, struct policy **out,
		    char *err, size_t errlen)
{
	struct loader ld = {
		.name = name, .buf = buf, .len = len, .err = err, .errlen = errlen,
	};
	char *dir = dir_of(name);
	int rc;

	*out = NULL;
	if (!dir)
		return -ENOMEM;
	ld.dir = dir;
	rc = load(&ld, out);
	free(dir);
	return rc;
}

/* Up to POLICY_FILE_MAX + 1 bytes: enough to tell "too big". */
static int read_capped(int fd, char **buf, size_t *len)
{
	size_t cap = POLICY_FILE_MAX + 1, n = 0;
	char *b = malloc(cap);
	ssize_t r;

	if (!b)
		return -ENOMEM;
	while (n < cap) {
		r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			r = -errno;
			free(b);
			return (int)r;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	*buf = b;
	*len = n;
	return 0;
}

/* Relative paths in the policy start at its directory, made absolute
 * here so the agent can chdir. */
static char *abs_dir_of(const char *path)
{
	char *cwd, *full, *dir;

	if (path[0] == '/')
		return dir_of(path);
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	if (asprintf(&full, "%s/%s", cwd, path) < 0)
		full = NULL;
	free(cwd);
	if (!full)
		return NULL;
	dir = dir_of(full);
	free(full);
	return dir;
}

int policy_load(const char *path, struct policy **out, char *err, size_t errlen)
{
	struct loader ld = { .name = path, .err = err, .errlen = errlen, .check_files = 1 };
	char *buf = NULL, *dir = NULL, file[256];
	size_t len = 0;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = read_capped(fd, &buf, &len);
	close(fd);
	if (rc)
		goto fail;
	dir = abs_dir_of(path);
	if (!dir) {
		rc = -ENOMEM;
		goto fail;
	}
	ld.buf = (const unsigned char *)buf;
	ld.len = len;
	ld.dir = dir;
	rc = load(&ld, out);
	free(dir);
	free(buf);
	return rc;
fail:
	free(buf);
	if (errlen)
		snprintf(err, errlen, "%s: %s", escape_str(file, sizeof(file), path),
			 strerror(-rc));
	return rc;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	schema_free(&policy_schema, p);
	free(p->path);
	free(p);
}

int policy_check_yaml(const char *path, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	FILE *f;
	int rc = 0, done = 0;

	f = fopen(path, "re");
	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			snprintf(err, errlen, "%s:%zu:%zu: %s%s%s", path,
				 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
				 parser.problem ? parser.problem : "invalid YAML",
				 parser.context ? " " : "", parser.context ? parser.context : "");
			rc = -EBADMSG;
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	fclose(f);
	return rc;
}
