/*
 * metrics.c — a small Prometheus registry: families (one HELP/TYPE header each) holding
 * series (one label set each), rendered in text format 0.0.4 in registration order.
 */
#include "metrics.h"
#include "mem.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

static const double histogram_bounds[] = {1,   2,   5,    10,   25,   50,   100,
                                          250, 500, 1000, 2500, 5000, 10000};
#define BUCKETS (sizeof histogram_bounds / sizeof histogram_bounds[0])

struct metric {
    enum metric_type type;
    char *labels;              /* "a=\"b\"" or NULL */
    double value;              /* counters and gauges */
    uint64_t buckets[BUCKETS]; /* histograms: observations <= each bound (not cumulative) */
    uint64_t count;            /* histograms: all observations */
    double sum;                /* histograms: their total */
    struct metric *next;
};

typedef struct family {
    char *name;
    char *help;
    enum metric_type type;
    struct metric *series, *last;
    struct family *next;
} family;

struct metrics {
    family *families, *last;
};

metrics *metrics_new(void)
{
    return xcalloc(1, sizeof(metrics));
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    family *f = m->families;
    while (f) {
        family *fn = f->next;
        metric *s = f->series;
        while (s) {
            metric *sn = s->next;
            free(s->labels);
            free(s);
            s = sn;
        }
        free(f->name);
        free(f->help);
        free(f);
        f = fn;
    }
    free(m);
}

static bool same_labels(const char *a, const char *b)
{
    if (!a || !*a)
        return !b || !*b;
    return b && strcmp(a, b) == 0;
}

/* Finds or creates the series; NULL (logged) when the name is taken by another type. */
static metric *metrics_register(metrics *m, enum metric_type type, const char *name,
                                const char *labels, const char *help)
{
    family *f = m->families;
    while (f && strcmp(f->name, name) != 0)
        f = f->next;
    if (f && f->type != type) {
        log_error("metrics", "%s registered twice with different types", name);
        return NULL;
    }
    if (!f) {
        f = xcalloc(1, sizeof *f);
        f->name = xstrdup(name);
        f->help = xstrdup(help ? help : "");
        f->type = type;
        if (m->last)
            m->last->next = f;
        else
            m->families = f;
        m->last = f;
    }
    for (metric *s = f->series; s; s = s->next)
        if (same_labels(s->labels, labels))
            return s;
    metric *s = xcalloc(1, sizeof *s);
    s->type = type;
    s->labels = labels && *labels ? xstrdup(labels) : NULL;
    if (f->last)
        f->last->next = s;
    else
        f->series = s;
    f->last = s;
    return s;
}

metric *metrics_counter(metrics *m, const char *name, const char *labels, const char *help)
{
    return metrics_register(m, METRIC_COUNTER, name, labels, help);
}

void metrics_counters(metrics *m, const char *name, const char *label, const char *const *values,
                      size_t count, const char *help, metric **out)
{
    for (size_t i = 0; i < count; i++) {
        char labels[128];
        snprintf(labels, sizeof labels, "%s=\"%s\"", label, values[i]);
        out[i] = metrics_counter(m, name, labels, help);
    }
}

metric *metrics_gauge(metrics *m, const char *name, const char *labels, const char *help)
{
    return metrics_register(m, METRIC_GAUGE, name, labels, help);
}

metric *metrics_histogram_ms(metrics *m, const char *name, const char *labels, const char *help)
{
    return metrics_register(m, METRIC_HISTOGRAM, name, labels, help);
}

void metric_add(metric *c, double v)
{
    if (c && c->type != METRIC_HISTOGRAM)
        c->value += v;
}

void metric_set(metric *g, double v)
{
    if (g && g->type != METRIC_HISTOGRAM)
        g->value = v;
}

void metric_observe(metric *h, double ms)
{
    if (!h || h->type != METRIC_HISTOGRAM || isnan(ms))
        return;
    for (size_t i = 0; i < BUCKETS; i++) {
        if (ms <= histogram_bounds[i]) {
            h->buckets[i]++;
            break;
        }
    }
    h->count++;
    h->sum += ms;
}

/* ---- rendering ---- */

typedef struct out_buf {
    char *data;
    size_t len, cap;
} out_buf;

static void out_printf(out_buf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(out_buf *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->data + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2;
        while (cap - o->len <= (size_t)n)
            cap *= 2;
        o->data = xrealloc(o->data, cap);
        o->cap = cap;
    }
}

static void format_value(double v, char *buf, size_t len)
{
    if (isnan(v))
        snprintf(buf, len, "NaN");
    else if (isinf(v))
        snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, len, "%.0f", v);
    else
        snprintf(buf, len, "%.17g", v);
}

/* HELP text escapes backslash and newline. */
static void out_help(out_buf *o, const char *help)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            out_printf(o, "\\\\");
        else if (*p == '\n')
            out_printf(o, "\\n");
        else
            out_printf(o, "%c", *p);
    }
}

static void render_histogram(out_buf *o, const family *f, const metric *s)
{
    const char *labels = s->labels ? s->labels : "";
    const char *comma = s->labels ? "," : "";
    uint64_t cumulative = 0;
    char num[64];
    for (size_t i = 0; i < BUCKETS; i++) {
        cumulative += s->buckets[i];
        format_value(histogram_bounds[i], num, sizeof num);
        out_printf(o, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, labels, comma, num,
                   (unsigned long long)cumulative);
    }
    out_printf(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name, labels, comma,
               (unsigned long long)s->count);
    format_value(s->sum, num, sizeof num);
    if (s->labels) {
        out_printf(o, "%s_sum{%s} %s\n", f->name, labels, num);
        out_printf(o, "%s_count{%s} %llu\n", f->name, labels, (unsigned long long)s->count);
    } else {
        out_printf(o, "%s_sum %s\n", f->name, num);
        out_printf(o, "%s_count %llu\n", f->name, (unsigned long long)s->count);
    }
}

char *metrics_render(const metrics *m, size_t *len)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    out_buf o = {.cap = 4096};
    o.data = xmalloc(o.cap);
    o.data[0] = '\0';
    for (const family *f = m->families; f; f = f->next) {
        if (f->help[0]) {
            out_printf(&o, "# HELP %s ", f->name);
            out_help(&o, f->help);
            out_printf(&o, "\n");
        }
        out_printf(&o, "# TYPE %s %s\n", f->name, type_names[f->type]);
        for (const metric *s = f->series; s; s = s->next) {
            if (f->type == METRIC_HISTOGRAM) {
                render_histogram(&o, f, s);
                continue;
            }
            char num[64];
            format_value(s->value, num, sizeof num);
            if (s->labels)
                out_printf(&o, "%s{%s} %s\n", f->name, s->labels, num);
            else
                out_printf(&o, "%s %s\n", f->name, num);
        }
    }
    if (len)
        *len = o.len;
    return o.data;
}
