/*
 * fuzz_9p_stat.c — p9_stat_next over arbitrary bytes, as a 9P2000 directory
 * read delivers them. The first byte picks 9P2000 or 9P2000.u. Each record
 * decoded must pack back to the bytes it came from.
 */
#include <boxfs/9p.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum p9_dialect d = data[0] & 1 ? P9_2000U : P9_2000;
	data++, size--;

	size_t off = 0;
	struct p9_stat st;
	uint8_t out[65536 + 2];
	for (;;) {
		size_t start = off;
		int r = p9_stat_next(&st, data, size, &off, d);
		if (r <= 0)
			break;
		if (off <= start || off > size)
			abort();
		size_t n = off - start;
		if (p9_stat_size(&st, d) != n ||
		    p9_stat_pack(out, sizeof out, &st, d) != (ssize_t)n ||
		    memcmp(out, data + start, n) != 0)
			abort();
	}
	return 0;
}
