// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libFuzzer target for discovery (discover.c): the agent analyses every
 * executable a process runs, and whoever can run a program on the host
 * controls those bytes.  The input is the file image itself; discovery
 * must answer (found, refused, absent) without reading outside it, and a
 * found probe point must lie inside the image's code.  The seed corpus is
 * fake_tls (tests/integ/helpers), a small stripped executable with
 * BoringSSL's error sites, so mutations start from a file discovery
 * locates.  Byte 0 of the input picks what is asked for.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "discover.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct discover_result r;
	char id[DISCOVER_ID];
	unsigned i;
	int err;

	if (!size)
		return 0;
	err = discover_mem(data + 1, size - 1, data[0] % 5, &r);
	if (err && err != -ENOENT && err != -ENOTSUP && err != -EBADMSG && err != -ENOMEM &&
	    err != -E2BIG)
		abort();
	if (!err && !r.nfn)
		abort();
	for (i = 0; i < r.nfn; i++)
		if (r.fn[i].off >= size - 1 || r.fn[i].size == 0)
			abort();
	discover_id(data + 1, size - 1, id, sizeof(id));
	return 0;
}
