/*
 * test_cli.c — cli.h: a table of flags fills a config struct by kind, keeps the defaults of
 * flags not given, applies environment fallbacks, and reports every mistake as one line
 * naming the flag (and value) plus the --help hint, returning 2; --help returns 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct demo_config {
    const char *name;
    cli_strings secrets;
    int64_t timeout_ms;
    uint64_t max_body;
    long workers;
    cli_list delays;
    bool verbose;
} demo_config;

static bool starts_with_slash(const char *text)
{
    return text[0] == '/';
}

static const cli_option demo_options[] = {
    {.name = "name",
     .kind = CLI_STRING,
     .offset = CLI_AT(demo_config, name),
     .arg = "PATH",
     .help = "a path",
     .valid = starts_with_slash,
     .what = "does not start with /"},
    {.name = "secret",
     .kind = CLI_STRINGS,
     .offset = CLI_AT(demo_config, secrets),
     .arg = "S",
     .help = "a secret;\nrepeat it",
     .env = "TEST_CLI_SECRET",
     .env_adds = true,
     .max = 3},
    {.name = "timeout",
     .kind = CLI_DURATION,
     .offset = CLI_AT(demo_config, timeout_ms),
     .arg = "D",
     .help = "a duration",
     .min = 1,
     .max = 600000},
    {.name = "max-body",
     .kind = CLI_SIZE,
     .offset = CLI_AT(demo_config, max_body),
     .arg = "SIZE",
     .help = "a size",
     .min = 1,
     .max = 1LL << 30},
    {.name = "workers",
     .kind = CLI_COUNT,
     .offset = CLI_AT(demo_config, workers),
     .arg = "N",
     .help = "a count",
     .min = 0,
     .max = 10},
    {.name = "delays",
     .kind = CLI_LIST,
     .offset = CLI_AT(demo_config, delays),
     .arg = "LIST",
     .help = "durations",
     .max = 4},
    {.name = "verbose", .kind = CLI_FLAG, .offset = CLI_AT(demo_config, verbose), .help = "a flag"},
};

static const cli_command demo = {
    .name = "demo",
    .synopsis = "[OPTIONS] [FILE]",
    .summary = "A command for tests.\n",
    CLI_OPTIONS(demo_options),
    .positional_max = 1,
    .footer = "The end.\n",
};

static const demo_config demo_defaults = {
    .name = "/default", .timeout_ms = 10000, .max_body = 1024, .workers = 4};

static char captured[4096];

/* Runs cli_parse on the NULL-terminated words with stderr and stdout captured (the text
 * of both lands in `captured`). */
static int parse(demo_config *c, int *first, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, first);
    argv[argc++] = (char *)"demo";
    for (char *w; (w = va_arg(ap, char *)) != NULL;)
        argv[argc++] = w;
    va_end(ap);
    argv[argc] = NULL;
    *c = demo_defaults;
    FILE *mem = fmemopen(captured, sizeof captured - 1, "w");
    assert_non_null(mem);
    FILE *saved_err = stderr, *saved_out = stdout;
    stderr = mem;
    stdout = mem;
    int rc = cli_parse(&demo, c, argc, argv, first);
    stderr = saved_err;
    stdout = saved_out;
    long len = ftell(mem);
    fclose(mem);
    captured[len > 0 ? len : 0] = '\0';
    return rc;
}

static void test_values_by_kind(void **state)
{
    (void)state;
    demo_config c;
    int first = 0;
    assert_int_equal(parse(&c, &first, "--name", "/x", "--secret", "a", "--secret=b", "--timeout",
                           "1500ms", "--max-body", "2MiB", "--workers", "0", "--delays", "1s,2m",
                           "--verbose", "file.txt", NULL),
                     CLI_CONTINUE);
    assert_string_equal(captured, "");
    assert_string_equal(c.name, "/x");
    assert_int_equal(c.secrets.count, 2);
    assert_string_equal(c.secrets.items[1], "b");
    assert_int_equal(c.timeout_ms, 1500);
    assert_int_equal(c.max_body, 2 << 20);
    assert_int_equal(c.workers, 0);
    assert_int_equal(c.delays.count, 2);
    assert_int_equal(c.delays.ms[1], 120000);
    assert_string_equal(c.delays.text, "1s,2m");
    assert_true(c.verbose);
    assert_int_equal(first, 15); /* "file.txt": the last of 16 words */
}

static void test_defaults_kept(void **state)
{
    (void)state;
    demo_config c;
    int first = 0;
    assert_int_equal(parse(&c, &first, NULL), CLI_CONTINUE);
    assert_string_equal(c.name, "/default");
    assert_int_equal(c.timeout_ms, 10000);
    assert_int_equal(c.workers, 4);
    assert_false(c.verbose);
    assert_int_equal(c.secrets.count, 0);
}

static void expect_error(const char *line, int rc)
{
    char want[512];
    snprintf(want, sizeof want, "hookd demo: %s\nrun 'hookd demo --help' for the flags\n", line);
    assert_int_equal(rc, 2);
    assert_string_equal(captured, want);
}

static void test_errors_one_style(void **state)
{
    (void)state;
    demo_config c;
    int first;
    expect_error("--timeout: \"abc\" is not a duration (use 500ms, 10s, 5m, 2h)",
                 parse(&c, &first, "--timeout", "abc", NULL));
    expect_error("--timeout: \"11m\" is not a duration from 1ms to 10m",
                 parse(&c, &first, "--timeout", "11m", NULL));
    expect_error("--timeout: \"0\" is not a duration from 1ms to 10m",
                 parse(&c, &first, "--timeout", "0", NULL));
    expect_error("--max-body: \"2GiB\" is not a size from 1 byte to 1GiB",
                 parse(&c, &first, "--max-body", "2GiB", NULL));
    expect_error("--max-body: \"big\" is not a size (use 512KiB, 1MiB, 1GiB)",
                 parse(&c, &first, "--max-body", "big", NULL));
    expect_error("--workers: \"11\" is not a number from 0 to 10",
                 parse(&c, &first, "--workers", "11", NULL));
    expect_error("--workers: \"1e3\" is not a whole number",
                 parse(&c, &first, "--workers", "1e3", NULL));
    expect_error("--delays: \"1s,2s,3s,4s,5s\" is not a list of at most 4 durations "
                 "(use 10s,1m,10m,1h)",
                 parse(&c, &first, "--delays", "1s,2s,3s,4s,5s", NULL));
    expect_error("--name: \"x\" does not start with /", parse(&c, &first, "--name", "x", NULL));
    expect_error("--secret: given more than 3 times",
                 parse(&c, &first, "--secret", "a", "--secret", "b", "--secret", "c", "--secret",
                       "d", NULL));
    expect_error("unknown flag --nope", parse(&c, &first, "--nope=1", NULL));
    expect_error("unknown flag -q", parse(&c, &first, "-q", NULL));
    expect_error("--timeout needs a value", parse(&c, &first, "--timeout", NULL));
    expect_error("--verbose takes no value", parse(&c, &first, "--verbose=yes", NULL));
    expect_error("unexpected argument \"two\"", parse(&c, &first, "one", "two", NULL));
}

static void test_help(void **state)
{
    (void)state;
    demo_config c;
    int first;
    assert_int_equal(parse(&c, &first, "--workers", "3", "-h", NULL), 0);
    assert_non_null(
        strstr(captured, "usage: hookd demo [OPTIONS] [FILE]\n\nA command for tests.\n"));
    assert_non_null(strstr(captured, "\n  --timeout D               a duration\n"));
    assert_non_null(strstr(captured, "\n  --secret S                a secret;\n"
                                     "                            repeat it\n"));
    assert_non_null(strstr(captured, "\n  --verbose                 a flag\n"));
    assert_non_null(strstr(captured, "\n  -h, --help                this text\n\nThe end.\n"));
    assert_int_equal(parse(&c, &first, "--help", NULL), 0);
}

static void test_environment(void **state)
{
    (void)state;
    demo_config c;
    int first;
    setenv("TEST_CLI_SECRET", "from-env", 1);
    assert_int_equal(parse(&c, &first, NULL), CLI_CONTINUE);
    assert_int_equal(c.secrets.count, 1);
    assert_string_equal(c.secrets.items[0], "from-env");
    /* env_adds: one more after the flags, while there is room. */
    assert_int_equal(parse(&c, &first, "--secret", "a", NULL), CLI_CONTINUE);
    assert_int_equal(c.secrets.count, 2);
    assert_string_equal(c.secrets.items[1], "from-env");
    assert_int_equal(parse(&c, &first, "--secret", "a", "--secret", "b", "--secret", "c", NULL),
                     CLI_CONTINUE);
    assert_int_equal(c.secrets.count, 3);
    /* An empty variable counts as unset. */
    setenv("TEST_CLI_SECRET", "", 1);
    assert_int_equal(parse(&c, &first, NULL), CLI_CONTINUE);
    assert_int_equal(c.secrets.count, 0);
    unsetenv("TEST_CLI_SECRET");
}

/* Writes text to a temporary file; its path in path (PATH_MAX-sized). */
static void write_config(char *path, const char *text)
{
    strcpy(path, "/tmp/test_cli_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void test_config_file(void **state)
{
    (void)state;
    demo_config c;
    int first;
    char path[64];
    write_config(path, "# a comment\n\n  timeout = 5m\nverbose = true\r\n"
                       "secret = one\nsecret = two\nworkers=7\nname = /from-file\n");
    assert_int_equal(parse(&c, &first, "--config", path, NULL), CLI_CONTINUE);
    assert_int_equal(c.timeout_ms, 300000);
    assert_true(c.verbose);
    assert_int_equal(c.secrets.count, 2);
    assert_string_equal(c.secrets.items[1], "two");
    assert_int_equal(c.workers, 7);
    assert_string_equal(c.name, "/from-file");
    /* the command line wins, for single values and for repeated ones */
    assert_int_equal(parse(&c, &first, "--workers", "2", "--config", path, "--secret", "cli", NULL),
                     CLI_CONTINUE);
    assert_int_equal(c.workers, 2);
    assert_int_equal(c.secrets.count, 1);
    assert_string_equal(c.secrets.items[0], "cli");
    /* the environment wins over the file (here: adds to its secrets) */
    setenv("TEST_CLI_SECRET", "env", 1);
    assert_int_equal(parse(&c, &first, "--config", path, NULL), CLI_CONTINUE);
    assert_int_equal(c.secrets.count, 3);
    assert_string_equal(c.secrets.items[2], "env");
    unsetenv("TEST_CLI_SECRET");
    unlink(path);
}

static void test_config_file_errors(void **state)
{
    (void)state;
    demo_config c;
    int first;
    char path[64], expected[200];
    static const struct {
        const char *text, *error;
    } cases[] = {
        {"timeout = 5m\n\ntimeout = abc\n", ":3: --timeout: \"abc\" is not a duration"},
        {"# ok\nbogus = 1\n", ":2: \"bogus\" is not a setting of hookd demo"},
        {"workers\n", ":1: expected \"name = value\""},
        {"verbose = maybe\n", ":1: verbose: \"maybe\" is not true or false"},
        {"config = /etc/other\n", ":1: \"config\" is not a setting"},
        {"log-format = xml\n", ":1: --log-format: \"xml\" is not text or json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_config(path, cases[i].text);
        assert_int_equal(parse(&c, &first, "--config", path, NULL), 2);
        snprintf(expected, sizeof expected, "hookd demo: %s%s", path, cases[i].error);
        if (!strstr(captured, expected))
            fail_msg("case %zu: \"%s\" not in \"%s\"", i, expected, captured);
        unlink(path);
    }
    assert_int_equal(parse(&c, &first, "--config", "/nonexistent/x.conf", NULL), 2);
    assert_non_null(strstr(captured, "--config: cannot read \"/nonexistent/x.conf\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_by_kind),     cmocka_unit_test(test_defaults_kept),
        cmocka_unit_test(test_errors_one_style),   cmocka_unit_test(test_help),
        cmocka_unit_test(test_environment),        cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_config_file_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
