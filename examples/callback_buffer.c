/*
 * callback_buffer.c - a cleanup callback that captures a large buffer keeps
 * the buffer alive for as long as the callback is registered.
 *
 *     def open_session(sid):
 *         s = Session(sid)
 *         scratch = bytearray(1 << 20)        # 1 MiB, "only needed here"
 *         ...
 *         weakref.finalize(s, lambda: log(sid, len(scratch)))  # captures it!
 *         return s
 *
 * scratch looks temporary, but the finalize object holds the closure, the
 * closure holds scratch, and the runtime holds the finalize object until the
 * session dies (or the finalizer is detached).  Here the captured state is
 * the finalize object's argument: an object owning a 1 MiB MEM buffer.  The
 * fix: capture only the small thing the callback really needs, the id.
 */
#include <stdint.h>
#include <stdio.h>

#include "rcgc.h"

/* ---- the 1 MiB working buffer, as an object; count the bytes held ------- */

typedef struct scratch {
    rcgc_object base;
    unsigned char *data;   /* from the MEM domain */
    size_t size;
} scratch;

static size_t bytes_held;

static void scratch_release(rcgc_runtime *rt, rcgc_object *self)
{
    scratch *s = (scratch *)self;
    rcgc_mem_free(rt, s->data);
    bytes_held -= s->size;
}

static const rcgc_type scratch_type = {.name = "scratch",
                                       .size = sizeof(scratch),
                                       .release = scratch_release};

static rcgc_object *scratch_new(rcgc_runtime *rt, size_t size)
{
    rcgc_object *o = rcgc_object_new(rt, &scratch_type);
    scratch *s = (scratch *)o;
    s->data = rcgc_mem_calloc(rt, size, 1);
    s->size = size;
    bytes_held += size;
    return o;
}

/* ---- sessions -------------------------------------------------------------- */

static const rcgc_type session_type = {
    .name = "session", .size = sizeof(rcgc_object), .flags = RCGC_TYPE_WEAKREF};

/* lambda: log(sid, len(scratch)) - the argument is the captured buffer */
static int log_with_buffer(rcgc_runtime *rt, rcgc_object *arg, void *ctx)
{
    (void)rt;
    printf("  callback: session %d closed (it captured %zu bytes)\n",
           (int)(intptr_t)ctx, ((scratch *)arg)->size);
    return 0;
}

/* lambda sid=sid: log(sid) - nothing but the id */
static int log_id(rcgc_runtime *rt, rcgc_object *arg, void *ctx)
{
    (void)rt;
    (void)arg;
    printf("  callback: session %d closed\n", (int)(intptr_t)ctx);
    return 0;
}

static rcgc_object *open_session(rcgc_runtime *rt, int sid, int capture_buffer,
                                 rcgc_object **fin)
{
    rcgc_object *s = rcgc_object_new(rt, &session_type);
    rcgc_object *buf = scratch_new(rt, (size_t)1 << 20);
    /* ... work with buf ... */
    if (capture_buffer)
        *fin = rcgc_finalize_new(rt, s, log_with_buffer, buf, (void *)(intptr_t)sid);
    else
        *fin = rcgc_finalize_new(rt, s, log_id, NULL, (void *)(intptr_t)sid);
    rcgc_decref(rt, buf);              /* "scratch goes out of scope" */
    return s;
}

int main(void)
{
    rcgc_runtime *rt = rcgc_runtime_new(NULL);
    rcgc_object *sess[3], *fin[3];

    printf("callbacks that capture the buffer:\n");
    for (int i = 0; i < 3; i++) sess[i] = open_session(rt, i, 1, &fin[i]);
    printf("  3 sessions open: %zu bytes held\n", bytes_held);
    rcgc_decref(rt, sess[0]);                          /* callback fires */
    printf("  after session 0 closed: %zu bytes held\n", bytes_held);
    rcgc_object *arg = NULL;
    rcgc_finalize_detach(rt, fin[1], NULL, &arg);      /* unregister it */
    rcgc_xdecref(rt, arg);
    printf("  after session 1's callback was detached: %zu bytes held "
           "(session 1 still open)\n", bytes_held);
    rcgc_decref(rt, sess[1]);                          /* nothing fires */
    rcgc_decref(rt, sess[2]);                          /* callback fires */
    printf("  after all closed: %zu bytes held\n", bytes_held);
    for (int i = 0; i < 3; i++) rcgc_decref(rt, fin[i]);

    printf("callbacks that capture only the id:\n");
    for (int i = 0; i < 3; i++) sess[i] = open_session(rt, i, 0, &fin[i]);
    printf("  3 sessions open: %zu bytes held\n", bytes_held);
    for (int i = 0; i < 3; i++) rcgc_decref(rt, sess[i]);
    printf("  after all closed: %zu bytes held\n", bytes_held);
    for (int i = 0; i < 3; i++) rcgc_decref(rt, fin[i]);

    return rcgc_runtime_free(rt, NULL);
}
