/*
 * test_cursor.c — the byte cursors of src/base: bounds, the sticky error,
 * byte order, and the counting mode of writing cursors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/cursor.h"

static void test_read_le_and_be(void **state)
{
	(void)state;
	static const uint8_t b[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
	struct bx_rcur c = bx_rcur(b, sizeof b);
	assert_int_equal(bx_get8(&c), 1);
	assert_int_equal(bx_get16le(&c), 0x0302);
	assert_int_equal(bx_get32le(&c), 0x07060504);
	assert_true(bx_get64le(&c) == 0x0f0e0d0c0b0a0908ull);
	assert_false(c.bad);
	assert_int_equal(c.pos, c.len);

	c = bx_rcur(b, sizeof b);
	assert_int_equal(bx_get32be(&c), 0x01020304);
	assert_true(bx_get64be(&c) == 0x05060708090a0b0cull);
	assert_false(c.bad);
}

static void test_overrun_is_sticky(void **state)
{
	(void)state;
	static const uint8_t b[] = { 0xff, 0xff, 0xff };
	struct bx_rcur c = bx_rcur(b, sizeof b);
	assert_int_equal(bx_get32le(&c), 0);
	assert_true(c.bad);
	/* once bad, even a read that would fit answers 0 */
	assert_int_equal(bx_get8(&c), 0);
	assert_int_equal(bx_left(&c), 0);
	assert_null(bx_take(&c, 0));
}

static void test_take_huge_length(void **state)
{
	(void)state;
	static const uint8_t b[8] = { 0 };
	struct bx_rcur c = bx_rcur(b, sizeof b);
	bx_get8(&c);
	assert_null(bx_take(&c, SIZE_MAX));
	assert_true(c.bad);
}

static void test_write_and_overflow(void **state)
{
	(void)state;
	uint8_t b[6];
	memset(b, 0xee, sizeof b);
	struct bx_wcur c = bx_wcur(b, 4);
	bx_put16le(&c, 0x0201);
	bx_put16le(&c, 0x0403);
	assert_false(c.bad);
	bx_put8(&c, 9);
	assert_true(c.bad);
	assert_memory_equal(b, ((uint8_t[]){ 1, 2, 3, 4, 0xee, 0xee }), 6);

	c = bx_wcur(b, sizeof b);
	bx_put32be(&c, 0x0a0b0c0d);
	assert_memory_equal(b, ((uint8_t[]){ 0xa, 0xb, 0xc, 0xd }), 4);
}

static void test_counting_cursor(void **state)
{
	(void)state;
	struct bx_wcur c = bx_wcur(NULL, 0);
	bx_put8(&c, 1);
	bx_put64le(&c, 2);
	bx_putbytes(&c, "abc", 3);
	assert_false(c.bad);
	assert_int_equal(c.pos, 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_le_and_be),	 cmocka_unit_test(test_overrun_is_sticky),
		cmocka_unit_test(test_take_huge_length), cmocka_unit_test(test_write_and_overflow),
		cmocka_unit_test(test_counting_cursor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
