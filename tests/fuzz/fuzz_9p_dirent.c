/*
 * fuzz_9p_dirent.c — p9_dirent_next over arbitrary Rreaddir data. Each entry
 * decoded must pack back to the bytes it came from.
 */
#include <boxfs/9p.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	struct p9_dirent de;
	uint8_t out[24 + 65535];
	for (;;) {
		size_t start = off;
		int r = p9_dirent_next(&de, data, size, &off);
		if (r <= 0)
			break;
		if (off <= start || off > size)
			abort();
		size_t n = off - start;
		if (p9_dirent_size(&de) != n ||
		    p9_dirent_pack(out, sizeof out, &de) != (ssize_t)n ||
		    memcmp(out, data + start, n) != 0)
			abort();
	}
	return 0;
}
