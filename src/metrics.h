/*
 * metrics.h — Prometheus text exposition (format 0.0.4) of counters, gauges and one kind of
 * latency histogram. Each process keeps its own registry; values are updated on the loop
 * thread only.
 */
#ifndef HOOKD_METRICS_H
#define HOOKD_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct metrics metrics;
typedef struct metric metric;

metrics *metrics_new(void);
void metrics_free(metrics *m);

/* Registers a series; name like "hookd_attempts_total", labels like "result=\"success\""
 * (or NULL). The same name with different labels shares one HELP/TYPE header. Registering
 * the same name and labels again returns the same metric; a name already registered with
 * another type gives NULL (logged). metric_* calls on NULL do nothing. */
metric *metrics_counter(metrics *m, const char *name, const char *labels, const char *help);
/* A counter per value of one label, under one name and help text (a family "by result",
 * "by reason" …): out[i] is name{label="values[i]"}, registered in the order given. */
void metrics_counters(metrics *m, const char *name, const char *label, const char *const *values,
                      size_t count, const char *help, metric **out);
metric *metrics_gauge(metrics *m, const char *name, const char *labels, const char *help);
/* A histogram of milliseconds with buckets 1,2,5,10,25,50,100,250,500,1000,2500,5000,10000. */
metric *metrics_histogram_ms(metrics *m, const char *name, const char *labels, const char *help);

void metric_add(metric *c, double v);      /* counters and gauges */
void metric_set(metric *g, double v);      /* gauges */
void metric_observe(metric *h, double ms); /* histograms */

/* The whole registry as text; malloc'd, caller frees; *len receives its length. */
char *metrics_render(const metrics *m, size_t *len);

#endif
