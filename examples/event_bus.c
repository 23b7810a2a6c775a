/* event_bus.c - listeners registered in a weak set: the bus never keeps a
 * listener alive, so one nobody else holds simply stops receiving events. */
#include <stdio.h>

#include "rcgc.h"

typedef struct listener {
    rcgc_object base;
    int id;
    int events;            /* events received */
} listener;

static const rcgc_type listener_type = {
    .name = "listener", .size = sizeof(listener), .flags = RCGC_TYPE_WEAKREF};

static void emit(rcgc_runtime *rt, rcgc_object *bus)
{
    rcgc_witer it;
    rcgc_witer_begin(rt, bus, &it);
    while (rcgc_witer_next(&it)) ((listener *)it.key_obj)->events++;
    rcgc_witer_end(&it);
}

int main(void)
{
    rcgc_runtime *rt = rcgc_runtime_new(NULL);
    rcgc_object *bus = rcgc_wset_new(rt);

    rcgc_object *kept = rcgc_object_new(rt, &listener_type);
    rcgc_wset_add(rt, bus, kept);
    for (int i = 0; i < 1000; i++) {     /* 1000 short-lived widgets */
        rcgc_object *w = rcgc_object_new(rt, &listener_type);
        ((listener *)w)->id = i;
        rcgc_wset_add(rt, bus, w);
        emit(rt, bus);
        rcgc_decref(rt, w);              /* closed, never unsubscribed */
    }
    printf("listeners registered: %td\n", rcgc_weak_len(rt, bus));
    printf("events the kept listener received: %d\n", ((listener *)kept)->events);

    rcgc_decref(rt, kept);
    rcgc_decref(rt, bus);
    return rcgc_runtime_free(rt, NULL);
}
