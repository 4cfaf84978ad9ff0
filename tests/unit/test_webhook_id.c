/* test_webhook_id.c — fresh UUIDv4 and UUIDv7 ids, the canonical-form check, hex encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hookd.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_new_is_v4_canonical(void **state)
{
    char id[HOOKD_ID_LEN + 1], other[HOOKD_ID_LEN + 1];
    (void)state;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(hookd_id_new(id), HOOKD_OK);
        assert_int_equal(strlen(id), HOOKD_ID_LEN);
        assert_true(hookd_id_valid(id));
        assert_int_equal(id[14], '4');
        assert_non_null(strchr("89ab", id[19]));
    }
    assert_int_equal(hookd_id_new(other), HOOKD_OK);
    assert_string_not_equal(id, other);
}

static void test_valid(void **state)
{
    (void)state;
    assert_true(hookd_id_valid("3f0e2f9b-8d44-4a7d-9c2a-1f5b2e7d9a6c"));
    assert_true(hookd_id_valid("7f1c0d2e-5b3a-4c8e-9a61-2f4d8b9e0c13"));
    assert_true(hookd_id_valid("01890a5d-ac96-774b-bcce-b302099a8057")); /* v7 */
}

static void test_invalid(void **state)
{
    (void)state;
    assert_false(hookd_id_valid(NULL));
    assert_false(hookd_id_valid(""));
    assert_false(hookd_id_valid("3F0E2F9B-8D44-4A7D-9C2A-1F5B2E7D9A6C")); /* uppercase */
    assert_false(hookd_id_valid("3f0e2f9b8d444a7d9c2a1f5b2e7d9a6c"));     /* no dashes */
    assert_false(hookd_id_valid("{3f0e2f9b-8d44-4a7d-9c2a-1f5b2e7d9a6c}"));
    assert_false(hookd_id_valid("3f0e2f9b-8d44-4a7d-9c2a-1f5b2e7d9a6"));
    assert_false(hookd_id_valid("3f0e2f9b-8d44-4a7d-9c2a-1f5b2e7d9a6c0"));
    assert_false(hookd_id_valid("3f0e2f9b-8d44-4a7d-9c2a_1f5b2e7d9a6c"));
    assert_false(hookd_id_valid("3f0e2f9b-8d44-4a7d-9c2a-1f5b2e7d9a6g"));
    assert_false(hookd_id_valid("3f0e2f9b-8d444a7d--9c2a-1f5b2e7d9a6c"));
}

/* The 48-bit millisecond prefix of a v7 id's text: its first 12 hex digits. */
static uint64_t v7_ms(const char *id)
{
    char hex[13];
    memcpy(hex, id, 8);
    memcpy(hex + 8, id + 9, 4);
    hex[12] = '\0';
    return strtoull(hex, NULL, 16);
}

static void test_new_v7_layout(void **state)
{
    /* 2024-08-22T01:04:05.123Z = 1724288645123 ms = 0x0191779cb803 */
    char id[HOOKD_ID_LEN + 1], other[HOOKD_ID_LEN + 1];
    (void)state;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(hookd_id_new_v7(1724288645123, id), HOOKD_OK);
        assert_true(hookd_id_valid(id));
        assert_memory_equal(id, "0191779c-b803-7", 15); /* time prefix, version nibble 7 */
        assert_non_null(strchr("89ab", id[19]));        /* RFC 4122 variant 10xx */
        assert_int_equal(v7_ms(id), 1724288645123);
    }
    /* The 74 random bits differ between two ids of the same millisecond. */
    assert_int_equal(hookd_id_new_v7(1724288645123, other), HOOKD_OK);
    assert_string_not_equal(id, other);
}

static void test_new_v7_sorts_by_time(void **state)
{
    /* Later milliseconds sort later as text (what an index on the id column sees), also
     * across a carry in the hex digits and at the ends of the 48-bit range. */
    static const int64_t times[] = {0,
                                    1,
                                    15,
                                    16,
                                    255,
                                    256,
                                    INT64_C(1) << 40,
                                    1724288645123,
                                    1724288645124,
                                    (INT64_C(1) << 48) - 1};
    char prev[HOOKD_ID_LEN + 1], id[HOOKD_ID_LEN + 1];
    (void)state;
    assert_int_equal(hookd_id_new_v7(times[0], prev), HOOKD_OK);
    assert_memory_equal(prev, "00000000-0000-7", 15);
    for (size_t i = 1; i < sizeof times / sizeof times[0]; i++) {
        assert_int_equal(hookd_id_new_v7(times[i], id), HOOKD_OK);
        assert_int_equal(v7_ms(id), (uint64_t)times[i]);
        assert_true(strcmp(prev, id) < 0);
        memcpy(prev, id, sizeof id);
    }
    assert_memory_equal(prev, "ffffffff-ffff-7", 15);
}

static void test_new_v7_rejects_out_of_range(void **state)
{
    char id[HOOKD_ID_LEN + 1] = "x";
    (void)state;
    assert_int_equal(hookd_id_new_v7(-1, id), HOOKD_EINVAL);
    assert_string_equal(id, "");
    /* 2^48 would wrap to 0 and sort before every earlier id. */
    assert_int_equal(hookd_id_new_v7(INT64_C(1) << 48, id), HOOKD_EINVAL);
    assert_int_equal(hookd_id_new_v7(INT64_MAX, id), HOOKD_EINVAL);
}

/* v7 ids draw their random bits from a per-thread pool: many in the same millisecond are
 * all different, across several refills of the pool. */
static void test_new_v7_same_ms_distinct(void **state)
{
    enum { N = 200 };
    static char ids[N][HOOKD_ID_LEN + 1];
    (void)state;
    for (int i = 0; i < N; i++)
        assert_int_equal(hookd_id_new_v7(1724288645123, ids[i]), HOOKD_OK);
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            assert_string_not_equal(ids[i], ids[j]);
}

/* A forked child does not reuse its parent's pool: its next id differs from the parent's. */
static void test_new_v7_fork_does_not_repeat(void **state)
{
    char parent[HOOKD_ID_LEN + 1], child[HOOKD_ID_LEN + 1] = "";
    int fds[2];
    (void)state;
    assert_int_equal(hookd_id_new_v7(1724288645123, parent), HOOKD_OK); /* pool filled */
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char id[HOOKD_ID_LEN + 1];
        int ok = hookd_id_new_v7(1724288645123, id) == HOOKD_OK &&
                 write(fds[1], id, HOOKD_ID_LEN) == HOOKD_ID_LEN;
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], child, HOOKD_ID_LEN), HOOKD_ID_LEN);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(hookd_id_new_v7(1724288645123, parent), HOOKD_OK);
    assert_true(hookd_id_valid(child));
    assert_string_not_equal(child, parent);
}

static void test_hex_encode(void **state)
{
    static const unsigned char bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char out[2 * sizeof bytes + 1];
    char empty[1] = {'x'};
    (void)state;
    memset(out, 'x', sizeof out);
    hookd_hex_encode(bytes, sizeof bytes, out);
    assert_string_equal(out, "00017f80abff");
    hookd_hex_encode(bytes, 0, empty); /* nothing to encode: just the terminator */
    assert_int_equal(empty[0], '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_is_v4_canonical),
        cmocka_unit_test(test_new_v7_layout),
        cmocka_unit_test(test_new_v7_sorts_by_time),
        cmocka_unit_test(test_new_v7_rejects_out_of_range),
        cmocka_unit_test(test_new_v7_same_ms_distinct),
        cmocka_unit_test(test_new_v7_fork_does_not_repeat),
        cmocka_unit_test(test_hex_encode),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
