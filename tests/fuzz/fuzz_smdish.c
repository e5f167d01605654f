/*
 * fuzz_smdish.c — smd_req_unpack and smd_rep_unpack on arbitrary bytes.
 * The first byte picks the op (0-19: ops 0-8, the boxfs extensions 16-18 and
 * codes the codec does not know), the second whether it is a request or a
 * reply (and the reply's status); the rest is the body. What decodes must
 * pack back to the same bytes.
 */
#include <boxfs/smdish.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint32_t op = data[0] % 20;
	bool reply = data[1] & 1;
	uint32_t status = data[1] & 2 ? 11 : 0;
	data += 2, size -= 2;
	uint8_t *out = malloc(size + SMD_HDRSZ);
	if (!out)
		return 0;
	ssize_t n = 0;
	if (!reply) {
		struct smd_req r;
		if (smd_req_unpack(&r, op, data, size) == 0)
			n = smd_req_pack(out, size + SMD_HDRSZ, &r);
		else
			n = -1;
	} else {
		struct smd_rep r;
		if (smd_rep_unpack(&r, op, status, data, size) == 0)
			n = smd_rep_pack(out, size + SMD_HDRSZ, op, &r);
		else
			n = -1;
	}
	if (n >= 0) {
		struct smd_hdr h;
		smd_hdr_unpack(&h, out);
		if ((size_t)n != size + SMD_HDRSZ || h.body_size != size ||
		    h.code != (reply ? status : op) || memcmp(out + SMD_HDRSZ, data, size) != 0)
			abort();
	}
	free(out);
	return 0;
}
