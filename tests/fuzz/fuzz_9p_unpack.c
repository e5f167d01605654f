/*
 * fuzz_9p_unpack.c — p9_frame_size and p9_unpack on arbitrary bytes.
 *
 * The first input byte picks the dialect; the rest is one message. Whatever
 * decodes must pack back to exactly the same bytes (the decoder consumed all
 * of it and lost nothing), and must print without overrunning.
 */
#include <boxfs/9p.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum p9_dialect d = (enum p9_dialect)(data[0] % 3);
	data++, size--;
	if (size >= 4)
		(void)p9_frame_size(data, 8192);

	struct p9_fcall f;
	if (p9_unpack(&f, data, size, d) != 0)
		return 0;

	uint8_t *out = malloc(size);
	if (!out)
		return 0;
	if (p9_size(&f, d) != size || p9_pack(out, size, &f, d) != (ssize_t)size ||
	    memcmp(out, data, size) != 0)
		abort();
	free(out);

	char line[256];
	int n = p9_snprint(line, sizeof line, &f);
	if (n < 0 || strlen(line) >= sizeof line || (size_t)n < strlen(line))
		abort();
	return 0;
}
