/* weak_cache.c - a cache that never keeps what it caches alive. */
#include <stdio.h>
#include <string.h>

#include "rcgc.h"

typedef struct image {
    rcgc_object base;
    char name[32];
} image;

static const rcgc_type image_type = {
    .name = "image", .size = sizeof(image), .flags = RCGC_TYPE_WEAKREF};

/* NEW: the image called name, from the cache if someone still uses it. */
static rcgc_object *load(rcgc_runtime *rt, rcgc_object *cache, const char *name)
{
    rcgc_object *img = rcgc_wvmap_get(rt, cache, name, strlen(name));
    if (img != NULL) return img;                        /* still in use: shared */
    img = rcgc_object_new(rt, &image_type);             /* RCGC_TYPE_WEAKREF */
    snprintf(((image *)img)->name, sizeof ((image *)img)->name, "%s", name);
    rcgc_wvmap_set(rt, cache, name, strlen(name), img); /* held weakly */
    return img;
}

int main(void)
{
    rcgc_runtime *rt = rcgc_runtime_new(NULL);
    rcgc_object *cache = rcgc_wvmap_new(rt);

    rcgc_object *a = load(rt, cache, "logo.png");
    rcgc_object *b = load(rt, cache, "logo.png");   /* the same object */
    printf("loaded logo.png twice: same object: %s, cached: %td\n",
           a == b ? "yes" : "no", rcgc_weak_len(rt, cache));

    rcgc_decref(rt, a);
    rcgc_decref(rt, b);                              /* last user gone */
    printf("after the last user let go, cached: %td\n", rcgc_weak_len(rt, cache));

    rcgc_decref(rt, cache);
    return rcgc_runtime_free(rt, NULL);
}
