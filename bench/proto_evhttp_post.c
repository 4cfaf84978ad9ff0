/*
 * proto_evhttp_post.c — not part of hookd: the prototype behind the libcurl decision in
 * src/http_client.c's header (issue 10). N keep-alive POSTs with libevent's evhttp client on
 * 16 connections, with the headers hookd sends and a small JSON body, to an nginx answering
 * 204. Instructions per POST = (Ir at N=2200 − Ir at N=200) / 2000, client side only:
 *   gcc -O2 -g -o /tmp/evpost bench/proto_evhttp_post.c -levent
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/ev.cg /tmp/evpost NGINX_PORT N
 *   callgrind_annotate /tmp/ev.cg | grep 'PROGRAM TOTALS'
 * Measured 2026-11-30: 39.6 k Ir per POST (curl in hookd: 86–99 k).
 */
#include <event2/event.h>
#include <event2/http.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static struct event_base *base;
static struct evhttp_connection *conns[16];
static int left, outstanding;
static const char body[] = "{\"type\":\"order.created\",\"data\":{\"id\":\"ord_0123456789\",\"amount\":1999,\"currency\":\"eur\",\"customer\":\"cus_0123456789abcdef\"}}";
static void start(int i);
static void done(struct evhttp_request *req, void *arg)
{
    int i = (int)(long)arg;
    if (!req || evhttp_request_get_response_code(req) != 204) { fprintf(stderr, "bad\n"); exit(1); }
    outstanding--;
    if (left > 0) start(i);
    else if (outstanding == 0) event_base_loopbreak(base);
}
static void start(int i)
{
    left--; outstanding++;
    struct evhttp_request *r = evhttp_request_new(done, (void *)(long)i);
    struct evkeyvalq *h = evhttp_request_get_output_headers(r);
    evhttp_add_header(h, "Host", "127.0.0.1");
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "User-Agent", "hookd/0.1.0");
    evhttp_add_header(h, "webhook-id", "01938c4e-7b1a-7cc2-9a4e-0123456789ab");
    evhttp_add_header(h, "webhook-timestamp", "1764500000");
    evhttp_add_header(h, "webhook-signature", "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=");
    evbuffer_add(evhttp_request_get_output_buffer(r), body, sizeof body - 1);
    char uri[16]; snprintf(uri, sizeof uri, "/d%d", i % 10);
    evhttp_make_request(conns[i], r, EVHTTP_REQ_POST, uri);
}
int main(int argc, char **argv)
{
    int port = atoi(argv[1]); left = atoi(argv[2]);
    base = event_base_new();
    for (int i = 0; i < 16; i++) conns[i] = evhttp_connection_base_new(base, NULL, "127.0.0.1", port);
    for (int i = 0; i < 16 && left > 0; i++) start(i);
    event_base_dispatch(base);
    for (int i = 0; i < 16; i++) evhttp_connection_free(conns[i]);
    event_base_free(base);
    return 0;
}
