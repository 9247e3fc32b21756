/* png.c: write a grid of images as one PNG (samples, data previews). */
#include "data/images.h"
#include "util/err.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { GRID_BORDER = 2, GRID_BORDER_GREY = 128, GRID_MAX_SIDE = 1 << 20 };

/* Lay the n CHW images into an interleaved canvas of canvas_w x canvas_h
 * pixels: image i goes to row i / cols, column i % cols, each cell framed
 * by GRID_BORDER pixels of grey. Cells past n stay grey. */
static void fill_canvas(uint8_t *canvas, long canvas_w, long canvas_h, const uint8_t *images, int n, int channels,
                        int height, int width, int cols) {
    memset(canvas, GRID_BORDER_GREY, (size_t)canvas_w * (size_t)canvas_h * (size_t)channels);
    size_t plane = (size_t)height * (size_t)width;
    for (int i = 0; i < n; i++) {
        const uint8_t *img = images + (size_t)i * (size_t)channels * plane;
        long x0 = GRID_BORDER + (long)(i % cols) * (width + GRID_BORDER);
        long y0 = GRID_BORDER + (long)(i / cols) * (height + GRID_BORDER);
        for (int y = 0; y < height; y++) {
            uint8_t *row = canvas + ((size_t)(y0 + y) * (size_t)canvas_w + (size_t)x0) * (size_t)channels;
            for (int x = 0; x < width; x++)
                for (int c = 0; c < channels; c++)
                    row[(size_t)x * (size_t)channels + (size_t)c] = img[(size_t)c * plane + (size_t)y * width + x];
        }
    }
}

/* Write the grid PNG (see images.h): grey for 1 channel, RGB for 3; the
 * canvas is (ceil(n/cols) (height+2) + 2) x (cols (width+2) + 2) pixels. */
int bfn_png_write_grid(const char *path, const uint8_t *images, int n, int channels, int height, int width,
                       int cols) {
    if (n <= 0 || cols <= 0 || height <= 0 || width <= 0 || (channels != 1 && channels != 3))
        return bfn_error(BFN_EINVAL, "%s: cannot draw %d images of %dx%dx%d in %d columns", path, n, channels,
                         height, width, cols);
    long rows = (n + cols - 1) / cols;
    long long cw = (long long)cols * (width + GRID_BORDER) + GRID_BORDER;
    long long ch = (long long)rows * (height + GRID_BORDER) + GRID_BORDER;
    if (cw > GRID_MAX_SIDE || ch > GRID_MAX_SIDE || cw * ch * channels > (1LL << 32))
        return bfn_error(BFN_EINVAL, "%s: grid of %lldx%lld pixels is too large", path, cw, ch);

    uint8_t *canvas = bfn_xmalloc((size_t)(cw * ch * channels));
    png_bytep *row_ptrs = bfn_xmalloc((size_t)ch * sizeof *row_ptrs);
    fill_canvas(canvas, (long)cw, (long)ch, images, n, channels, height, width, cols);
    for (long long y = 0; y < ch; y++) row_ptrs[y] = canvas + (size_t)(y * cw * channels);

    FILE *f = fopen(path, "wb");
    if (!f) {
        int e = errno;
        free(row_ptrs);
        free(canvas);
        return bfn_error(BFN_EIO, "%s: cannot create: %s", path, strerror(e));
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int rc = BFN_OK;
    if (!png || !info) {
        rc = bfn_error(BFN_ENOMEM, "%s: libpng could not allocate its state", path);
    } else if (setjmp(png_jmpbuf(png))) {
        /* libpng longjmps here on any error; nothing used below was
         * modified after setjmp, so no volatile is needed. */
        rc = bfn_error(BFN_EIO, "%s: libpng failed while writing", path);
    } else {
        png_init_io(png, f);
        png_set_IHDR(png, info, (png_uint_32)cw, (png_uint_32)ch, 8,
                     channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        png_write_info(png, info);
        png_write_image(png, row_ptrs);
        png_write_end(png, NULL);
    }
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    if (fclose(f) != 0 && rc == BFN_OK) rc = bfn_error(BFN_EIO, "%s: write failed: %s", path, strerror(errno));
    if (rc != BFN_OK) remove(path);
    free(row_ptrs);
    free(canvas);
    return rc;
}
