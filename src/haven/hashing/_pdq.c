/*
 * PDQ perceptual hash kernel for Haven.
 *
 * Written for Haven from the published PDQ algorithm (Meta, "The TMK+PDQF and PDQ hashing
 * algorithms", 2017) so that its output is bit-identical to the ecosystem's values: the
 * reference C++ pipeline on PIL-decoded RGB pixels as the `pdqhash` package feeds it. Every
 * floating-point operation below therefore happens in the same precision and order as there:
 *
 *   luma   = float32(double(R)*0.299 + double(G)*0.587 + double(B)*0.114)   (NumPy float64 then cast)
 *   blur   = two passes of (box along rows, box along columns), running float sums
 *   sample = 64x64 decimation, quality from 64x64 gradients, 16x16 of the 2-D DCT, median split
 *
 * Speed comes from doing less, never from reordering arithmetic:
 *   - the column passes run across all columns at once (independent lanes, auto-vectorised);
 *   - the row passes run 8 rows at a time so their dependency chains overlap;
 *   - the second blur pass only divides/stores at the 64 sampled columns and rows, since
 *     nothing else is ever read (its running sums still see every pixel, in order);
 *   - the GIL is released, so Python threads hash in parallel.
 * Build with -ffp-contract=off (see setup.py): a fused multiply-add would change rounding.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PDQ_MIN_DIM 5
#define ROW_BLOCK 8

static float DCT[16][64];
static float DCT_T[64][16]; /* DCT transposed, for the second product's contiguous inner loop */

static void init_dct(void) {
    const double pi = 3.14159265358979323846;
    const float scale = (float)sqrt(2.0 / 64.0);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 64; j++)
            DCT_T[j][i] = DCT[i][j] = (float)(scale * cos((pi / 2.0 / 64.0) * (i + 1) * (2 * j + 1)));
}

static int window_size(int old_dim) { return (old_dim + 2 * 64 - 1) / (2 * 64); }

/* Luma of an interleaved 8-bit image with 1 (grey) or 3 (RGB) channels. */
static void fill_luma(const uint8_t *px, int h, int w, int channels, float *luma) {
    size_t n = (size_t)h * (size_t)w;
    if (channels == 3) {
        for (size_t k = 0; k < n; k++) {
            double y = (double)px[3 * k] * 0.299 + (double)px[3 * k + 1] * 0.587;
            y = y + (double)px[3 * k + 2] * 0.114;
            luma[k] = (float)y;
        }
    } else {
        for (size_t k = 0; k < n; k++) {
            double v = (double)px[k];
            double y = v * 0.299 + v * 0.587;
            y = y + v * 0.114;
            luma[k] = (float)y;
        }
    }
}

/*
 * Box filter along rows (contiguous direction), ROW_BLOCK rows at a time. Output is written for
 * every column when `keep` is NULL, else only at the `nkeep` sorted column indices in `keep`,
 * to out[row * nkeep + k].
 */
static void box_rows(const float *in, float *out, int h, int w, int full, const int *keep, int nkeep) {
    const int half = (full + 2) / 2;
    const int p1 = half - 1, p2 = full - half + 1, p3 = w - full, p4 = half - 1;
    const int out_w = keep ? nkeep : w;
    for (int r0 = 0; r0 < h; r0 += ROW_BLOCK) {
        int nb = h - r0 < ROW_BLOCK ? h - r0 : ROW_BLOCK;
        float sum[ROW_BLOCK] = {0};
        const float *rows[ROW_BLOCK];
        float *orow[ROW_BLOCK];
        for (int b = 0; b < nb; b++) {
            rows[b] = in + (size_t)(r0 + b) * w;
            orow[b] = out + (size_t)(r0 + b) * out_w;
        }
        int li = 0, ri = 0, oi = 0, cur = 0, next = 0;
#define EMIT()                                                                   \
    do {                                                                         \
        if (!keep) {                                                             \
            float c = (float)cur;                                                \
            for (int b = 0; b < nb; b++) orow[b][oi] = sum[b] / c;               \
        } else if (next < nkeep && keep[next] == oi) {                           \
            float c = (float)cur;                                                \
            for (; next < nkeep && keep[next] == oi; next++)                     \
                for (int b = 0; b < nb; b++) orow[b][next] = sum[b] / c;         \
        }                                                                        \
    } while (0)
        for (int i = 0; i < p1; i++, ri++, cur++)
            for (int b = 0; b < nb; b++) sum[b] += rows[b][ri];
        for (int i = 0; i < p2; i++, ri++, oi++) {
            for (int b = 0; b < nb; b++) sum[b] += rows[b][ri];
            cur++;
            EMIT();
        }
        for (int i = 0; i < p3; i++, li++, ri++, oi++) {
            for (int b = 0; b < nb; b++) {
                sum[b] += rows[b][ri];
                sum[b] -= rows[b][li];
            }
            EMIT();
        }
        for (int i = 0; i < p4; i++, li++, oi++) {
            for (int b = 0; b < nb; b++) sum[b] -= rows[b][li];
            cur--;
            EMIT();
        }
#undef EMIT
    }
}

/*
 * Box filter along columns, all columns in lock-step (one running sum per column). Output rows
 * are written for every row when `keep` is NULL, else only at the sorted row indices in `keep`,
 * to out[k * w + col]. `sums` is scratch of w floats.
 */
static void box_cols(const float *in, float *out, int h, int w, int full, const int *keep, int nkeep,
                     float *sums) {
    const int half = (full + 2) / 2;
    const int p1 = half - 1, p2 = full - half + 1, p3 = h - full, p4 = half - 1;
    int li = 0, ri = 0, oi = 0, cur = 0, next = 0;
    memset(sums, 0, sizeof(float) * (size_t)w);
#define ROW(p, r) ((p) + (size_t)(r) * (size_t)w)
#define EMIT()                                                                          \
    do {                                                                                \
        if (!keep) {                                                                    \
            float c = (float)cur;                                                       \
            float *o = ROW(out, oi);                                                    \
            for (int j = 0; j < w; j++) o[j] = sums[j] / c;                              \
        } else if (next < nkeep && keep[next] == oi) {                                  \
            float c = (float)cur;                                                       \
            for (; next < nkeep && keep[next] == oi; next++) {                          \
                float *o = ROW(out, next);                                              \
                for (int j = 0; j < w; j++) o[j] = sums[j] / c;                          \
            }                                                                           \
        }                                                                               \
    } while (0)
    for (int i = 0; i < p1; i++, ri++, cur++) {
        const float *a = ROW(in, ri);
        for (int j = 0; j < w; j++) sums[j] += a[j];
    }
    for (int i = 0; i < p2; i++, ri++, oi++) {
        const float *a = ROW(in, ri);
        for (int j = 0; j < w; j++) sums[j] += a[j];
        cur++;
        EMIT();
    }
    for (int i = 0; i < p3; i++, li++, ri++, oi++) {
        const float *a = ROW(in, ri), *s = ROW(in, li);
        for (int j = 0; j < w; j++) {
            sums[j] += a[j];
            sums[j] -= s[j];
        }
        EMIT();
    }
    for (int i = 0; i < p4; i++, li++, oi++) {
        const float *s = ROW(in, li);
        for (int j = 0; j < w; j++) sums[j] -= s[j];
        cur--;
        EMIT();
    }
#undef EMIT
#undef ROW
}

static void sample_positions(int dim, int *pos) {
    for (int k = 0; k < 64; k++) pos[k] = (int)(((k + 0.5) * dim) / 64);
}

/* Blur and decimate luma (h x w, overwritten) to 64x64. Returns 0, or -1 when out of memory. */
static int downsample(float *luma, int h, int w, float out[64][64]) {
    if (h == 64 && w == 64) { /* the reference skips the blur for input that is already 64x64 */
        memcpy(out, luma, sizeof(float) * 64 * 64);
        return 0;
    }
    const int wr = window_size(w), wc = window_size(h);
    int rows64[64], cols64[64];
    sample_positions(h, rows64);
    sample_positions(w, cols64);
    size_t n = (size_t)h * (size_t)w;
    float *tmp = malloc(sizeof(float) * n);
    float *sums = malloc(sizeof(float) * (size_t)(w > 64 ? w : 64));
    float *narrow = malloc(sizeof(float) * (size_t)h * 64);
    if (!tmp || !sums || !narrow) {
        free(tmp), free(sums), free(narrow);
        return -1;
    }
    /* pass 1: full */
    box_rows(luma, tmp, h, w, wr, NULL, 0);
    box_cols(tmp, luma, h, w, wc, NULL, 0, sums);
    /* pass 2: only the 64 sampled columns, then only the 64 sampled rows of them */
    box_rows(luma, narrow, h, w, wr, cols64, 64);
    box_cols(narrow, &out[0][0], h, 64, wc, rows64, 64, sums);
    free(tmp), free(sums), free(narrow);
    return 0;
}

static int quality_metric(float a[64][64]) {
    int gradient_sum = 0;
    for (int i = 0; i < 63; i++)
        for (int j = 0; j < 64; j++) {
            float u = a[i][j], v = a[i + 1][j];
            int d = (int)(((u - v) * 100.0f) / 255.0f);
            gradient_sum += abs(d);
        }
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 63; j++) {
            float u = a[i][j], v = a[i][j + 1];
            int d = (int)(((u - v) * 100.0f) / 255.0f);
            gradient_sum += abs(d);
        }
    int q = gradient_sum / 90;
    return q > 100 ? 100 : q;
}

/* The loops run i, k, j so the innermost one is over contiguous j and vectorises; each output
 * still sums its 64 products in k order starting from 0, exactly as the reference's i, j, k loops. */
static void dct64_to_16(float a[64][64], float out[16][16]) {
    float t[16][64];
    for (int i = 0; i < 16; i++) {
        for (int j = 0; j < 64; j++) t[i][j] = 0.0f;
        for (int k = 0; k < 64; k++) {
            const float c = DCT[i][k];
            for (int j = 0; j < 64; j++) t[i][j] += c * a[k][j];
        }
    }
    for (int i = 0; i < 16; i++) {
        for (int j = 0; j < 16; j++) out[i][j] = 0.0f;
        for (int k = 0; k < 64; k++) {
            const float c = t[i][k];
            for (int j = 0; j < 16; j++) out[i][j] += c * DCT_T[k][j];
        }
    }
}

/* Torben's median (returns an element of m, as the reference does for even n). */
static float torben(const float *m, int n) {
    float min = m[0], max = m[0];
    for (int i = 1; i < n; i++) {
        if (m[i] < min) min = m[i];
        if (m[i] > max) max = m[i];
    }
    int less, greater, equal;
    float guess, maxlt, mingt;
    for (;;) {
        guess = (min + max) / 2;
        less = greater = equal = 0;
        maxlt = min;
        mingt = max;
        for (int i = 0; i < n; i++) {
            if (m[i] < guess) {
                less++;
                if (m[i] > maxlt) maxlt = m[i];
            } else if (m[i] > guess) {
                greater++;
                if (m[i] < mingt) mingt = m[i];
            } else {
                equal++;
            }
        }
        if (less <= (n + 1) / 2 && greater <= (n + 1) / 2) break;
        if (less > greater) max = maxlt;
        else min = mingt;
    }
    if (less >= (n + 1) / 2) return maxlt;
    if (less + equal >= (n + 1) / 2) return guess;
    return mingt;
}

/* Bit k = i*16+j set when coefficient (i,j) exceeds the median; bytes big-endian (bit 255 first). */
static void to_bits(float d[16][16], uint8_t out[32]) {
    float med = torben(&d[0][0], 256);
    memset(out, 0, 32);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++)
            if (d[i][j] > med) {
                int k = i * 16 + j;
                out[31 - (k >> 3)] |= (uint8_t)(1u << (k & 7));
            }
}

/* The 8 dihedral transforms in the DCT domain, in the reference's order. */
static void dihedral(int t, float a[16][16], float b[16][16]) {
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            float v = a[i][j];
            switch (t) {
            case 0: b[i][j] = v; break;                            /* original */
            case 1: b[j][i] = (j & 1) ? v : -v; break;             /* rotate 90 */
            case 2: b[i][j] = ((i + j) & 1) ? -v : v; break;       /* rotate 180 */
            case 3: b[j][i] = (i & 1) ? v : -v; break;             /* rotate 270 */
            case 4: b[i][j] = (i & 1) ? v : -v; break;             /* flip x */
            case 5: b[i][j] = (j & 1) ? v : -v; break;             /* flip y */
            case 6: b[j][i] = v; break;                            /* flip +1 (transpose) */
            default: b[j][i] = ((i + j) & 1) ? -v : v; break;      /* flip -1 */
            }
        }
}

static PyObject *py_hash(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"pixels", "width", "height", "channels", "dihedral", NULL};
    Py_buffer buf;
    int w, h, channels, want_dihedral = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*iii|p", kwlist, &buf, &w, &h, &channels, &want_dihedral))
        return NULL;
    if ((channels != 1 && channels != 3) || w <= 0 || h <= 0 ||
        buf.len != (Py_ssize_t)w * (Py_ssize_t)h * (Py_ssize_t)channels) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "pixels must be width*height*channels bytes, channels 1 or 3");
        return NULL;
    }
    uint8_t hashes[8][32];
    int quality = 0, failed = 0;
    int nout = want_dihedral ? 8 : 1;
    memset(hashes, 0, sizeof(hashes));
    if (h >= PDQ_MIN_DIM && w >= PDQ_MIN_DIM) {
        Py_BEGIN_ALLOW_THREADS;
        float *luma = malloc(sizeof(float) * (size_t)h * (size_t)w);
        if (!luma) {
            failed = 1;
        } else {
            float a64[64][64], d16[16][16], t16[16][16];
            fill_luma((const uint8_t *)buf.buf, h, w, channels, luma);
            if (downsample(luma, h, w, a64) != 0) {
                failed = 1;
            } else {
                quality = quality_metric(a64);
                dct64_to_16(a64, d16);
                for (int t = 0; t < nout; t++) {
                    dihedral(t, d16, t16);
                    to_bits(t16, hashes[t]);
                }
            }
            free(luma);
        }
        Py_END_ALLOW_THREADS;
    }
    PyBuffer_Release(&buf);
    if (failed) return PyErr_NoMemory();
    if (!want_dihedral)
        return Py_BuildValue("(y#i)", (const char *)hashes[0], (Py_ssize_t)32, quality);
    PyObject *tuple = PyTuple_New(8);
    if (!tuple) return NULL;
    for (int t = 0; t < 8; t++) {
        PyObject *b = PyBytes_FromStringAndSize((const char *)hashes[t], 32);
        if (!b) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, t, b);
    }
    return Py_BuildValue("(Ni)", tuple, quality);
}

/*
 * The upscaled-PDQ "ladder" (haven/hashing/ladder.py): PDQ of the image as if upscaled to a few sizes.
 * Upscaling, PDQ's blur and its 64-point sampling are linear and separable, so each rung is one
 * banded 64 x n operator per axis, built in Python: output k = sum over t < T of
 * weight[k*T + t] * input[start[k] + t]. Here they are applied to the luma (rows, then columns),
 * and the DCT and median split finish each hash. No upscaled image is ever made.
 */
typedef struct {
    const int32_t *start;
    const float *weight;
    int taps;
} band_t;

static int parse_band(PyObject *start, PyObject *weight, int taps, int n, Py_buffer *sb, Py_buffer *wb,
                      band_t *out) {
    if (PyObject_GetBuffer(start, sb, PyBUF_SIMPLE) < 0) return -1;
    if (PyObject_GetBuffer(weight, wb, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(sb);
        return -1;
    }
    out->start = (const int32_t *)sb->buf;
    out->weight = (const float *)wb->buf;
    out->taps = taps;
    int ok = taps > 0 && taps <= n && sb->len == (Py_ssize_t)(64 * sizeof(int32_t)) &&
             wb->len == (Py_ssize_t)(64 * (size_t)taps * sizeof(float));
    for (int k = 0; ok && k < 64; k++)
        ok = out->start[k] >= 0 && out->start[k] + taps <= n;
    if (!ok) {
        PyBuffer_Release(sb);
        PyBuffer_Release(wb);
        PyErr_SetString(PyExc_ValueError, "band: 64 int32 starts and 64*taps float32 weights inside the image");
        return -1;
    }
    return 0;
}

/* a64 = Y . luma . X^T with banded Y (64 x h) and X (64 x w); tmp holds 64 x w floats. */
static void apply_bands(const float *luma, int w, const band_t *y, const band_t *x, float *tmp,
                        float a64[64][64]) {
    for (int k = 0; k < 64; k++) {
        float *restrict dst = tmp + (size_t)k * w;
        memset(dst, 0, sizeof(float) * (size_t)w);
        for (int t = 0; t < y->taps; t++) {
            const float c = y->weight[k * y->taps + t];
            const float *restrict src = luma + (size_t)(y->start[k] + t) * w;
            if (c != 0.0f)
                for (int j = 0; j < w; j++) dst[j] += c * src[j];
        }
    }
    for (int k = 0; k < 64; k++) {
        const float *row = tmp + (size_t)k * w;
        for (int j = 0; j < 64; j++) {
            const float *wt = x->weight + j * x->taps;
            const float *src = row + x->start[j];
            float acc = 0.0f;
            for (int t = 0; t < x->taps; t++) acc += wt[t] * src[t];
            a64[k][j] = acc;
        }
    }
}

static PyObject *py_ladder(PyObject *self, PyObject *args) {
    Py_buffer buf;
    int w, h, channels;
    PyObject *rungs;
    if (!PyArg_ParseTuple(args, "y*iiiO", &buf, &w, &h, &channels, &rungs)) return NULL;
    PyObject *seq = PySequence_Fast(rungs, "rungs must be a sequence");
    if (!seq) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    Py_ssize_t nr = PySequence_Fast_GET_SIZE(seq);
    if ((channels != 1 && channels != 3) || w < PDQ_MIN_DIM || h < PDQ_MIN_DIM ||
        buf.len != (Py_ssize_t)w * (Py_ssize_t)h * (Py_ssize_t)channels || nr > 16) {
        Py_DECREF(seq);
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "pixels must be width*height*channels bytes (sides >= 5), <= 16 rungs");
        return NULL;
    }
    band_t ys[16], xs[16];
    Py_buffer held[64];
    int nheld = 0, failed = 0;
    for (Py_ssize_t r = 0; r < nr && !failed; r++) {
        PyObject *ysb, *ywb, *xsb, *xwb;
        int ty, tx;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, r), "OOiOOi", &ysb, &ywb, &ty, &xsb, &xwb, &tx) ||
            parse_band(ysb, ywb, ty, h, &held[nheld], &held[nheld + 1], &ys[r]) < 0) {
            failed = 1;
            break;
        }
        nheld += 2;
        if (parse_band(xsb, xwb, tx, w, &held[nheld], &held[nheld + 1], &xs[r]) < 0) {
            failed = 1;
            break;
        }
        nheld += 2;
    }
    uint8_t hashes[16][32];
    if (!failed) {
        Py_BEGIN_ALLOW_THREADS;
        float *luma = malloc(sizeof(float) * (size_t)h * (size_t)w);
        float *tmp = malloc(sizeof(float) * 64 * (size_t)w);
        if (!luma || !tmp) {
            failed = 2;
        } else {
            float a64[64][64], d16[16][16];
            fill_luma((const uint8_t *)buf.buf, h, w, channels, luma);
            for (Py_ssize_t r = 0; r < nr; r++) {
                apply_bands(luma, w, &ys[r], &xs[r], tmp, a64);
                dct64_to_16(a64, d16);
                to_bits(d16, hashes[r]);
            }
        }
        free(luma);
        free(tmp);
        Py_END_ALLOW_THREADS;
    }
    for (int i = 0; i < nheld; i++) PyBuffer_Release(&held[i]);
    Py_DECREF(seq);
    PyBuffer_Release(&buf);
    if (failed == 1) return NULL;
    if (failed == 2) return PyErr_NoMemory();
    PyObject *out = PyList_New(nr);
    if (!out) return NULL;
    for (Py_ssize_t r = 0; r < nr; r++) {
        PyObject *b = PyBytes_FromStringAndSize((const char *)hashes[r], 32);
        if (!b) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, r, b);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"hash", (PyCFunction)(void (*)(void))py_hash, METH_VARARGS | METH_KEYWORDS,
     "hash(pixels, width, height, channels, dihedral=False) -> (hash32 | tuple of 8 hash32, quality)\n\n"
     "PDQ of interleaved 8-bit pixels (channels 1 = grey, 3 = RGB). Hashes are 32 big-endian bytes\n"
     "(hex of them is the standard PDQ hex). Images under 5 px on a side give zero hashes and\n"
     "quality 0, as the reference does. Dihedral order: original, rot90, rot180, rot270, flipx,\n"
     "flipy, flipplus1, flipminus1."},
    {"ladder", (PyCFunction)py_ladder, METH_VARARGS,
     "ladder(pixels, width, height, channels, rungs) -> list of hash32\n\n"
     "PDQ hashes of the pixels through banded 64 x n operators, one (y_start, y_weights, y_taps,\n"
     "x_start, x_weights, x_taps) tuple per rung (int32[64] starts, float32[64*taps] weights, as\n"
     "bytes): the blur and decimation of ``hash`` replaced by the operators (haven.hashing.ladder)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pdq", "PDQ hashing kernel (see _pdq.c).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__pdq(void) {
    init_dct();
    return PyModule_Create(&module);
}
