/*
 * fuzz_ixp_msg.c — the libixp layer's decoder: ixp_msg2fcall on any bytes,
 * and ixp_pstat on them as a stat record. A message that decodes is packed
 * again with ixp_fcall2msg and decoded once more, which must give the same
 * size; whatever decoding allocated is freed (leaks are reported).
 */
#include <ixp.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	char *buf = malloc(size + 1);
	memcpy(buf, data, size);
	IxpMsg m = ixp_message(buf, (uint)size, MsgUnpack);
	IxpFcall f;
	memset(&f, 0, sizeof f);
	uint n = ixp_msg2fcall(&m, &f);
	if (n) {
		static char out[1 << 17];
		IxpMsg w = ixp_message(out, sizeof out, MsgPack);
		uint k = ixp_fcall2msg(&w, &f);
		if (k) {
			IxpMsg r = ixp_message(out, k, MsgUnpack);
			IxpFcall g;
			memset(&g, 0, sizeof g);
			if (ixp_msg2fcall(&r, &g) != k)
				abort();
			ixp_freefcall(&g);
		}
		ixp_freefcall(&f);
	}
	m = ixp_message(buf, (uint)size, MsgUnpack);
	IxpStat st;
	memset(&st, 0, sizeof st);
	ixp_pstat(&m, &st);
	ixp_freestat(&st);
	free(buf);
	return 0;
}
