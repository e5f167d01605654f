/*
 * fuzz_op.c — the op codec: op_frame_size and op_unpack on any bytes, and,
 * for what decodes, op_pack of the decoded message must give back exactly
 * the bytes it came from (the layout has one encoding per message).
 */
#include <boxfs/op.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 8)
		(void)op_frame_size(data, 0);
	struct op_msg m;
	int r = op_unpack(&m, data, size);
	if (r != 0) {
		if (r != -EPROTO && r != -EOPNOTSUPP)
			abort();
		return 0;
	}
	static uint8_t out[OP_MAXMSG];
	ssize_t n = op_pack(out, sizeof out, &m);
	if (n != (ssize_t)size || memcmp(out, data, size) != 0) {
		fprintf(stderr, "pack-back mismatch: %zd bytes for %zu\n", n, size);
		abort();
	}
	return 0;
}
