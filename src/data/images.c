/* images.c: the in-memory image set shared by all loaders (images.h). */
#include "data/images.h"

#include <stdlib.h>

/* Release the pixel and label arrays and reset the struct to empty, so a
 * second call (or a call on a zeroed struct) is harmless. */
void bfn_images_free(bfn_images *im) {
    if (!im) return;
    free(im->pixels);
    free(im->labels);
    im->pixels = NULL;
    im->labels = NULL;
    im->n = im->channels = im->height = im->width = 0;
}
