/*
 * Multi-index hashing kernel for Haven's exact Hamming-range index over 256-bit hashes.
 *
 * Method (Norouzi, Punjani & Fleet, "Fast exact search in Hamming space with multi-index
 * hashing", TPAMI 2014): split each hash into m disjoint chunks; if two hashes differ in at most
 * t bits, then by pigeonhole some chunk differs in at most floor(t/m) bits (refined: with
 * t = m*r + a, one of the first a+1 chunks differs in <= r bits or one of the others in <= r-1).
 * Each chunk has a table in CSR form: offsets[key]..offsets[key+1] index a postings array of
 * row numbers. A query probes every key within its chunk's radius (key XOR a precomputed flip
 * mask), gathers the candidate rows, and verifies each with a 256-bit popcount. A row reached
 * through several chunks is reported once (the few hits of a query are sorted and de-duplicated).
 *
 * The stages issue their loads as prefetches before consuming them because the cost is memory latency:
 * offsets, postings and the hash rows are all random accesses into arrays far larger than cache.
 * The GIL is released while searching and building, so Python threads run in parallel.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#pragma GCC target("popcnt")
#endif

#define HASH_BYTES 32
/* How many loads ahead the sliding prefetch windows run (measured: 16 beat 32 and 64). */
#define PFD 16

typedef struct {
    uint32_t *rows;
    int32_t *dists;
    size_t n, cap;
} Hits;

static int hits_push(Hits *h, uint32_t row, int32_t d) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        uint32_t *r = realloc(h->rows, cap * sizeof(uint32_t));
        if (!r) return -1;
        h->rows = r;
        int32_t *ds = realloc(h->dists, cap * sizeof(int32_t));
        if (!ds) return -1;
        h->dists = ds;
        h->cap = cap;
    }
    h->rows[h->n] = row;
    h->dists[h->n] = d;
    h->n++;
    return 0;
}

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t load_be64(const uint8_t *p) { return __builtin_bswap64(load64(p)); }

static inline int hamming256(const uint8_t *a, const uint64_t q[4]) {
    return __builtin_popcountll(load64(a) ^ q[0]) + __builtin_popcountll(load64(a + 8) ^ q[1]) +
           __builtin_popcountll(load64(a + 16) ^ q[2]) + __builtin_popcountll(load64(a + 24) ^ q[3]);
}

/* The `width` bits starting at bit `start` (bit 0 = most significant bit of byte 0). */
static inline uint32_t chunk_key(const uint8_t *h, int start, int width) {
    int word = start >> 6, off = start & 63;
    uint64_t w0 = load_be64(h + 8 * word);
    if (off + width <= 64) return (uint32_t)((w0 << off) >> (64 - width));
    int lo = width - (64 - off);
    uint64_t w1 = load_be64(h + 8 * (word + 1));
    return (uint32_t)(((w0 << off) >> (64 - width)) | (w1 >> (64 - lo)));
}

/*
 * A chunk's bucket table, in one of three forms (`form`):
 *   0  full: offsets uint32[2**w + 1]; key's rows are postings[offsets[key] .. offsets[key+1]).
 *   8  lines of 64 bytes, each covering LINE8_KEYS consecutive keys: a uint32 base (the offset of
 *      the line's first key) and, per key, a uint8 count of the line's rows up to and including it.
 *  16  the same with uint16 counts and LINE16_KEYS keys per line (for lines holding >= 256 rows).
 * A line form answers a probe with one cache line (the earlier separate base and per-key arrays
 * cost two misses per probe, and probes were most of the query time) and uses 1.07 or 2.13 bytes
 * per key instead of 4.
 */
#define LINE_BYTES 64
#define LINE8_KEYS 60
#define LINE16_KEYS 30

typedef struct {
    Py_buffer table, postings, masks;
    int start, width, form;
} Table;

static inline uint32_t load32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void bucket(const Table *t, uint32_t key, uint32_t *lo, uint32_t *hi) {
    if (t->form == 8) {
        uint32_t b = key / LINE8_KEYS, j = key - b * LINE8_KEYS;
        const uint8_t *line = (const uint8_t *)t->table.buf + (size_t)b * LINE_BYTES;
        uint32_t base = load32(line);
        *lo = base + (j ? line[4 + j - 1] : 0);
        *hi = base + line[4 + j];
    } else if (t->form == 16) {
        uint32_t b = key / LINE16_KEYS, j = key - b * LINE16_KEYS;
        const uint8_t *line = (const uint8_t *)t->table.buf + (size_t)b * LINE_BYTES;
        uint32_t base = load32(line);
        uint16_t prev = 0, end;
        if (j) memcpy(&prev, line + 4 + 2 * (j - 1), 2);
        memcpy(&end, line + 4 + 2 * j, 2);
        *lo = base + prev;
        *hi = base + end;
    } else {
        const uint32_t *off = t->table.buf;
        *lo = off[key];
        *hi = off[key + 1];
    }
}

static inline void prefetch_bucket(const Table *t, uint32_t key) {
    if (t->form == 8)
        __builtin_prefetch((const uint8_t *)t->table.buf + (size_t)(key / LINE8_KEYS) * LINE_BYTES);
    else if (t->form == 16)
        __builtin_prefetch((const uint8_t *)t->table.buf + (size_t)(key / LINE16_KEYS) * LINE_BYTES);
    else
        __builtin_prefetch((const uint32_t *)t->table.buf + key);
}

/* Bytes a table of `form` must have for 2**width keys (0 for an unknown form). */
static size_t table_bytes(int form, int width) {
    size_t nkeys = (size_t)1 << width;
    if (form == 0) return (nkeys + 1) * sizeof(uint32_t);
    if (form == 8) return (nkeys + LINE8_KEYS - 1) / LINE8_KEYS * LINE_BYTES;
    if (form == 16) return (nkeys + LINE16_KEYS - 1) / LINE16_KEYS * LINE_BYTES;
    return 0;
}

static int get_buf(PyObject *obj, Py_buffer *view, int writable, const char *what) {
    if (PyObject_GetBuffer(obj, view, writable ? (PyBUF_SIMPLE | PyBUF_WRITABLE) : PyBUF_SIMPLE) < 0) {
        PyErr_Format(PyExc_TypeError, "%s must be a contiguous buffer", what);
        return -1;
    }
    return 0;
}

static PyObject *results_tuple(Hits *all, int64_t *counts, Py_ssize_t nq) {
    PyObject *c = PyBytes_FromStringAndSize((const char *)counts, nq * (Py_ssize_t)sizeof(int64_t));
    PyObject *r = PyBytes_FromStringAndSize((const char *)all->rows, (Py_ssize_t)(all->n * sizeof(uint32_t)));
    PyObject *d = PyBytes_FromStringAndSize((const char *)all->dists, (Py_ssize_t)(all->n * sizeof(int32_t)));
    if (!c || !r || !d) {
        Py_XDECREF(c);
        Py_XDECREF(r);
        Py_XDECREF(d);
        return NULL;
    }
    return Py_BuildValue("(NNN)", c, r, d);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sort one query's hits by row and drop repeats (the same row found through several chunks). */
static size_t dedupe(uint32_t *rows, int32_t *dists, size_t n) {
    if (n < 2) return n;
    uint64_t small[64];
    uint64_t *tmp = n <= 64 ? small : malloc(n * sizeof(uint64_t));
    if (!tmp) { /* out of memory: quadratic but allocation-free */
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            size_t j = 0;
            while (j < k && rows[j] != rows[i]) j++;
            if (j == k) { rows[k] = rows[i]; dists[k] = dists[i]; k++; }
        }
        return k;
    }
    for (size_t i = 0; i < n; i++) tmp[i] = ((uint64_t)rows[i] << 32) | (uint32_t)dists[i];
    qsort(tmp, n, sizeof(uint64_t), cmp_u64);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t r = (uint32_t)(tmp[i] >> 32);
        if (k && rows[k - 1] == r) continue;
        rows[k] = r;
        dists[k] = (int32_t)(uint32_t)tmp[i];
        k++;
    }
    if (tmp != small) free(tmp);
    return k;
}

/* scan(hashes, dead|None, queries, threshold) -> (counts, rows, dists): exact linear scan. */
static PyObject *py_scan(PyObject *self, PyObject *args) {
    PyObject *ho, *deado, *qo;
    int threshold;
    if (!PyArg_ParseTuple(args, "OOOi", &ho, &deado, &qo, &threshold)) return NULL;
    Py_buffer hb, db = {0}, qb;
    if (get_buf(ho, &hb, 0, "hashes") < 0) return NULL;
    if (get_buf(qo, &qb, 0, "queries") < 0) { PyBuffer_Release(&hb); return NULL; }
    int has_dead = deado != Py_None;
    if (has_dead && get_buf(deado, &db, 0, "dead") < 0) {
        PyBuffer_Release(&hb);
        PyBuffer_Release(&qb);
        return NULL;
    }
    size_t n = (size_t)hb.len / HASH_BYTES, nq = (size_t)qb.len / HASH_BYTES;
    const uint8_t *H = hb.buf, *Q = qb.buf, *D = has_dead ? db.buf : NULL;
    int64_t *counts = calloc(nq ? nq : 1, sizeof(int64_t));
    Hits all = {0};
    int oom = counts == NULL;
    Py_BEGIN_ALLOW_THREADS;
    for (size_t qi = 0; qi < nq && !oom; qi++) {
        uint64_t q[4];
        for (int j = 0; j < 4; j++) q[j] = load64(Q + qi * HASH_BYTES + 8 * j);
        size_t before = all.n;
        for (size_t row = 0; row < n; row++) {
            int d = hamming256(H + row * HASH_BYTES, q);
            if (d <= threshold && !(D && D[row])) {
                if (hits_push(&all, (uint32_t)row, d) < 0) { oom = 1; break; }
            }
        }
        counts[qi] = (int64_t)(all.n - before);
    }
    Py_END_ALLOW_THREADS;
    PyObject *res = oom ? PyErr_NoMemory() : results_tuple(&all, counts, (Py_ssize_t)nq);
    free(counts);
    free(all.rows);
    free(all.dists);
    PyBuffer_Release(&hb);
    PyBuffer_Release(&qb);
    if (has_dead) PyBuffer_Release(&db);
    return res;
}

static void release_tables(Table *t, Py_ssize_t m) {
    for (Py_ssize_t k = 0; k < m; k++) {
        if (t[k].table.obj) PyBuffer_Release(&t[k].table);
        if (t[k].postings.obj) PyBuffer_Release(&t[k].postings);
        if (t[k].masks.obj) PyBuffer_Release(&t[k].masks);
    }
    free(t);
}

/*
 * The probe tables of one segment at one threshold: a sequence of
 * (table, form, postings uint32[n], start_bit, width, masks uint32[]), with table in the given
 * form (see Table above) and masks the XOR flip masks to probe for that chunk (empty = chunk not
 * probed). parse_tables takes a buffer on every array and checks the geometry; NULL on error.
 */
static Table *parse_tables(PyObject *tables_o, Py_ssize_t *m_out) {
    PyObject *seq = PySequence_Fast(tables_o, "tables must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t m = PySequence_Fast_GET_SIZE(seq);
    Table *tab = calloc(m ? m : 1, sizeof(Table));
    if (!tab) { Py_DECREF(seq); PyErr_NoMemory(); return NULL; }
    for (Py_ssize_t k = 0; k < m; k++) {
        PyObject *o, *p, *mk;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, k), "OiOiiO", &o, &tab[k].form, &p, &tab[k].start,
                              &tab[k].width, &mk))
            goto fail;
        if (get_buf(o, &tab[k].table, 0, "table") < 0 || get_buf(p, &tab[k].postings, 0, "postings") < 0 ||
            get_buf(mk, &tab[k].masks, 0, "masks") < 0)
            goto fail;
        if (tab[k].width < 1 || tab[k].width > 32 || tab[k].start < 0 || tab[k].start + tab[k].width > 256) {
            PyErr_SetString(PyExc_ValueError, "bad table geometry");
            goto fail;
        }
        size_t want = table_bytes(tab[k].form, tab[k].width);
        if (!want || (size_t)tab[k].table.len != want) {
            PyErr_SetString(PyExc_ValueError, "table size disagrees with its form and width");
            goto fail;
        }
    }
    Py_DECREF(seq);
    *m_out = m;
    return tab;
fail:
    release_tables(tab, m);
    Py_DECREF(seq);
    return NULL;
}

/* One multi-index-hashing search over parsed tables (the caller keeps and releases them): (counts, rows, dists). */
static PyObject *search_with(const Table *tab, Py_ssize_t m, PyObject *ho, PyObject *deado, PyObject *qo,
                             int threshold) {
    Py_buffer hb = {0}, db = {0}, qb = {0};
    int has_dead = deado != Py_None;
    PyObject *res = NULL;
    int64_t *counts = NULL;
    uint32_t *cand = NULL;
    Hits all = {0};
    if (get_buf(ho, &hb, 0, "hashes") < 0 || get_buf(qo, &qb, 0, "queries") < 0) goto done;
    if (has_dead && get_buf(deado, &db, 0, "dead") < 0) goto done;
    size_t n = (size_t)hb.len / HASH_BYTES, nq = (size_t)qb.len / HASH_BYTES;
    for (Py_ssize_t k = 0; k < m; k++) {
        if ((size_t)tab[k].postings.len != n * sizeof(uint32_t)) {
            PyErr_SetString(PyExc_ValueError, "postings length disagrees with the row count");
            goto done;
        }
    }
    counts = calloc(nq ? nq : 1, sizeof(int64_t));
    size_t cand_cap = 4096;
    cand = malloc(cand_cap * sizeof(uint32_t));
    if (!counts || !cand) { PyErr_NoMemory(); goto done; }
    int oom = 0;
    const uint8_t *H = hb.buf, *Q = qb.buf, *D = has_dead ? db.buf : NULL;
    size_t nprobe = 0;
    for (Py_ssize_t k = 0; k < m; k++) nprobe += (size_t)tab[k].masks.len / sizeof(uint32_t);
    uint32_t *pkey = malloc((nprobe ? nprobe : 1) * sizeof(uint32_t));
    uint32_t *ptab = malloc((nprobe ? nprobe : 1) * sizeof(uint32_t));
    uint32_t *plo = malloc((nprobe ? nprobe : 1) * sizeof(uint32_t));
    uint32_t *phi = malloc((nprobe ? nprobe : 1) * sizeof(uint32_t));
    const uint32_t **ppost = malloc((nprobe ? nprobe : 1) * sizeof(uint32_t *));
    if (!pkey || !ptab || !plo || !phi || !ppost) {
        free(pkey); free(ptab); free(plo); free(phi); free(ppost);
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS;
    for (size_t qi = 0; qi < nq && !oom; qi++) {
        const uint8_t *qh = Q + qi * HASH_BYTES;
        uint64_t q[4];
        for (int j = 0; j < 4; j++) q[j] = load64(qh + 8 * j);
        /*
         * Each stage's loads are independent of each other, so they are issued ahead as
         * prefetches: keeping many cache misses in flight is what makes random access affordable.
         */
        /* Stage 1: the offsets slot of every probed key (all prefetched; a few thousand lines fit in L2). */
        size_t np = 0;
        for (Py_ssize_t k = 0; k < m; k++) {
            const uint32_t *masks = tab[k].masks.buf;
            size_t nm = (size_t)tab[k].masks.len / sizeof(uint32_t);
            uint32_t key = chunk_key(qh, tab[k].start, tab[k].width);
            for (size_t i = 0; i < nm; i++) {
                prefetch_bucket(&tab[k], key ^ masks[i]);
                pkey[np] = key ^ masks[i];
                ptab[np] = (uint32_t)k;
                np++;
            }
        }
        /* Stage 2: bucket ranges of the non-empty buckets. */
        size_t nr = 0, nc = 0;
        for (size_t i = 0; i < np; i++) {
            uint32_t lo, hi;
            bucket(&tab[ptab[i]], pkey[i], &lo, &hi);
            if (lo == hi) continue;
            plo[nr] = lo;
            phi[nr] = hi;
            ppost[nr] = tab[ptab[i]].postings.buf;
            nr++;
            nc += hi - lo;
        }
        /* Stage 3: gather candidate rows. */
        if (nc > cand_cap) {
            while (nc > cand_cap) cand_cap *= 2;
            uint32_t *c2 = realloc(cand, cand_cap * sizeof(uint32_t));
            if (!c2) { oom = 1; break; }
            cand = c2;
        }
        size_t c = 0;
        for (size_t i = 0; i < nr; i++) {
            if (i + PFD < nr) __builtin_prefetch(ppost[i + PFD] + plo[i + PFD]);
            const uint32_t *p = ppost[i] + plo[i], *e = ppost[i] + phi[i];
            for (; p < e; p++) cand[c++] = *p;
        }
        /* Stage 4: verify with a sliding prefetch window. */
        size_t before = all.n;
        for (size_t i = 0; i < nc && i < PFD; i++) __builtin_prefetch(H + (size_t)cand[i] * HASH_BYTES);
        for (size_t i = 0; i < nc && !oom; i++) {
            if (i + PFD < nc) __builtin_prefetch(H + (size_t)cand[i + PFD] * HASH_BYTES);
            uint32_t row = cand[i];
            int d = hamming256(H + (size_t)row * HASH_BYTES, q);
            if (d > threshold || (D && D[row])) continue;
            if (hits_push(&all, row, d) < 0) oom = 1;
        }
        if (!oom) all.n = before + dedupe(all.rows + before, all.dists + before, all.n - before);
        counts[qi] = (int64_t)(all.n - before);
    }
    Py_END_ALLOW_THREADS;
    free(pkey);
    free(ptab);
    free(plo);
    free(phi);
    free(ppost);
    if (oom) { PyErr_NoMemory(); goto done; }
    res = results_tuple(&all, counts, (Py_ssize_t)nq);
done:
    free(counts);
    free(cand);
    free(all.rows);
    free(all.dists);
    if (hb.obj) PyBuffer_Release(&hb);
    if (qb.obj) PyBuffer_Release(&qb);
    if (db.obj) PyBuffer_Release(&db);
    return res;
}

/*
 * A plan: the parsed tables of one segment at one threshold, kept in a capsule so that repeated
 * single queries skip re-taking a buffer on every array (about 7 us of a call's fixed cost).
 * The capsule holds those buffers, and so keeps the arrays alive, until it is freed.
 */
#define PLAN_NAME "haven.index._mih.plan"

typedef struct {
    Table *tab;
    Py_ssize_t m;
} Plan;

static void plan_free(PyObject *capsule) {
    Plan *plan = PyCapsule_GetPointer(capsule, PLAN_NAME);
    if (!plan) return;
    release_tables(plan->tab, plan->m);
    free(plan);
}

/* prepare(tables) -> plan capsule */
static PyObject *py_prepare(PyObject *self, PyObject *tables_o) {
    Plan *plan = malloc(sizeof(Plan));
    if (!plan) return PyErr_NoMemory();
    plan->tab = parse_tables(tables_o, &plan->m);
    if (!plan->tab) { free(plan); return NULL; }
    PyObject *capsule = PyCapsule_New(plan, PLAN_NAME, plan_free);
    if (!capsule) { release_tables(plan->tab, plan->m); free(plan); }
    return capsule;
}

/* search_plan(hashes, dead|None, queries, threshold, plan) -> (counts, rows, dists) */
static PyObject *py_search_plan(PyObject *self, PyObject *args) {
    PyObject *ho, *deado, *qo, *capsule;
    int threshold;
    if (!PyArg_ParseTuple(args, "OOOiO", &ho, &deado, &qo, &threshold, &capsule)) return NULL;
    Plan *plan = PyCapsule_GetPointer(capsule, PLAN_NAME);
    if (!plan) return NULL;
    return search_with(plan->tab, plan->m, ho, deado, qo, threshold);
}

/* build(hashes, start_bit, width, offsets_out uint32[2**w+1], postings_out uint32[n]): one CSR table. */
static PyObject *py_build(PyObject *self, PyObject *args) {
    PyObject *ho, *oo, *po;
    int start, width;
    if (!PyArg_ParseTuple(args, "OiiOO", &ho, &start, &width, &oo, &po)) return NULL;
    if (width < 1 || width > 32 || start < 0 || start + width > 256) {
        PyErr_SetString(PyExc_ValueError, "bad chunk geometry");
        return NULL;
    }
    Py_buffer hb, ob, pb;
    if (get_buf(ho, &hb, 0, "hashes") < 0) return NULL;
    if (get_buf(oo, &ob, 1, "offsets") < 0) { PyBuffer_Release(&hb); return NULL; }
    if (get_buf(po, &pb, 1, "postings") < 0) { PyBuffer_Release(&hb); PyBuffer_Release(&ob); return NULL; }
    size_t n = (size_t)hb.len / HASH_BYTES, nkeys = (size_t)1 << width;
    PyObject *res = NULL;
    uint32_t *keys = NULL;
    if ((size_t)ob.len != (nkeys + 1) * sizeof(uint32_t) || (size_t)pb.len != n * sizeof(uint32_t) ||
        n > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "output sizes disagree with the table geometry");
        goto out;
    }
    keys = malloc((n ? n : 1) * sizeof(uint32_t));
    if (!keys) { PyErr_NoMemory(); goto out; }
    const uint8_t *H = hb.buf;
    uint32_t *off = ob.buf, *post = pb.buf;
    Py_BEGIN_ALLOW_THREADS;
    memset(off, 0, (nkeys + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) {
        keys[i] = chunk_key(H + i * HASH_BYTES, start, width);
        off[keys[i] + 1]++;
    }
    for (size_t k = 0; k < nkeys; k++) off[k + 1] += off[k];
    /* Scatter in row order (postings of a bucket stay ascending), using off[key] as a cursor. */
    for (size_t i = 0; i < n; i++) post[off[keys[i]]++] = (uint32_t)i;
    memmove(off + 1, off, nkeys * sizeof(uint32_t));
    off[0] = 0;
    Py_END_ALLOW_THREADS;
    res = Py_None;
    Py_INCREF(res);
out:
    free(keys);
    PyBuffer_Release(&hb);
    PyBuffer_Release(&ob);
    PyBuffer_Release(&pb);
    return res;
}

static PyMethodDef methods[] = {
    {"prepare", py_prepare, METH_O, "Parse a segment's probe tables once, for search_plan."},
    {"search_plan", py_search_plan, METH_VARARGS, "Multi-index-hashing range search over one segment's plan."},
    {"scan", py_scan, METH_VARARGS, "Exact linear-scan range search over one segment."},
    {"build", py_build, METH_VARARGS, "Build one chunk's CSR bucket table."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_mih", "Haven multi-index hashing kernel.", -1, methods};

PyMODINIT_FUNC PyInit__mih(void) { return PyModule_Create(&module); }
