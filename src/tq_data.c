/* tq_data.c: the HDF5 data model; the contract is in tq_data.h and docs/formats.md.
 *
 * Error handling: HDF5's own error stack printing is switched off; every failing call
 * is turned into a tq_err naming the file and the object. One exit per function. */
#include "tq_data.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>
#ifdef TQ_HAVE_MPI
#include <mpi.h>
#endif

#define CHUNK_ROWS 65536

static void quiet_hdf5(void)
{
    static int done = 0;
    if (!done) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

/* ---- checksum: a streaming 64-bit hash, independent of how data is split into calls -- */
typedef struct {
    uint64_t h;
    uint8_t tail[8];
    int ntail;
} hasher;

static inline uint64_t mix_word(uint64_t h, uint64_t w)
{
    h ^= tq_mix64(w);
    return h * 0x9fb21c651e98df25ULL + 0x632be59bd9b4e019ULL;
}

static void hash_bytes(hasher *s, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (s->ntail && len) {
        s->tail[s->ntail++] = *p++;
        len--;
        if (s->ntail == 8) {
            uint64_t w;
            memcpy(&w, s->tail, 8);
            s->h = mix_word(s->h, w);
            s->ntail = 0;
        }
    }
    for (; len >= 8; len -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        s->h = mix_word(s->h, w);
    }
    while (len--) s->tail[s->ntail++] = *p++;
}

static uint64_t hash_final(const hasher *s)
{
    uint64_t w = 0;
    memcpy(&w, s->tail, (size_t)s->ntail);
    return tq_mix64(mix_word(s->h, w) ^ (uint64_t)s->ntail);
}

/* ---- small HDF5 helpers ---------------------------------------------------------------- */
static int attr_write(hid_t obj, const char *name, hid_t type, const void *v)
{
    int status = TQ_EIO;
    hid_t sp = H5Screate(H5S_SCALAR), a = H5I_INVALID_HID;
    if (sp < 0) return TQ_EIO;
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0 && H5Awrite(a, type, v) >= 0) status = TQ_OK;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return status;
}

static int attr_write_str(hid_t obj, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    int status;
    H5Tset_size(t, strlen(v) + 1);
    H5Tset_cset(t, H5T_CSET_UTF8);
    status = attr_write(obj, name, t, v);
    H5Tclose(t);
    return status;
}

static int attr_read(hid_t obj, const char *name, hid_t memtype, void *v)
{
    int status = TQ_EIO;
    if (H5Aexists(obj, name) <= 0) return TQ_EINVAL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a >= 0 && H5Aread(a, memtype, v) >= 0) status = TQ_OK;
    if (a >= 0) H5Aclose(a);
    return status;
}

/* Reads a string attribute into a malloc'ed buffer (fixed-length strings only). */
static char *attr_read_str(hid_t obj, const char *name)
{
    char *out = NULL;
    if (H5Aexists(obj, name) <= 0) return NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
    if (t >= 0 && !H5Tis_variable_str(t)) {
        size_t n = H5Tget_size(t);
        out = calloc(n + 1, 1);
        if (out && H5Aread(a, t, out) < 0) {
            free(out);
            out = NULL;
        }
    }
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    return out;
}

/* Groups without timestamps, so equal content gives equal bytes. */
static hid_t create_group(hid_t loc, const char *name)
{
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_obj_track_times(gcpl, 0);
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    return g;
}

static hid_t make_string_type(int len)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, (size_t)len);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

/* The stored (file) string type: len bytes, NUL-padded, so a string of exactly len
 * bytes keeps its last byte (a NULLTERM type of size len holds only len-1). */
static hid_t make_file_string_type(int len)
{
    hid_t t = make_string_type(len);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    return t;
}

/* Creates an extendible chunked dataset of `width` columns (1-D when width == 1). */
static hid_t create_ext(hid_t loc, const char *name, hid_t type, int width, int level)
{
    hsize_t dims[2] = {0, (hsize_t)width}, maxd[2] = {H5S_UNLIMITED, (hsize_t)width};
    hsize_t chunk[2] = {CHUNK_ROWS, (hsize_t)width};
    int rank = width == 1 ? 1 : 2;
    if (width > 1 && (hsize_t)CHUNK_ROWS * (hsize_t)width > (1u << 20)) chunk[0] = (1u << 20) / (hsize_t)width;
    hid_t sp = H5Screate_simple(rank, dims, maxd), dcpl = H5Pcreate(H5P_DATASET_CREATE), d;
    H5Pset_chunk(dcpl, rank, chunk);
    H5Pset_obj_track_times(dcpl, 0);  /* same data, same bytes: no timestamps */
    if (level > 0) {
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, (unsigned)level);
    }
    d = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return d;
}

/* Appends `rows` rows of `width` values at row `at` of an extendible dataset. */
static int append_rows(hid_t d, hid_t memtype, int64_t at, int64_t rows, int width,
                       const void *buf)
{
    int status = TQ_EIO, rank = width == 1 ? 1 : 2;
    hsize_t size[2] = {(hsize_t)(at + rows), (hsize_t)width};
    hsize_t start[2] = {(hsize_t)at, 0}, count[2] = {(hsize_t)rows, (hsize_t)width};
    hid_t fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
    if (rows == 0) return TQ_OK;
    if (H5Dset_extent(d, size) < 0) return TQ_EIO;
    fs = H5Dget_space(d);
    ms = H5Screate_simple(rank, count, NULL);
    if (fs >= 0 && ms >= 0 &&
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
        H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, buf) >= 0)
        status = TQ_OK;
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return status;
}

/* Writes a whole fixed-size dataset (rows x width) with chunking and compression. */
static int write_full(hid_t loc, const char *name, hid_t filetype, hid_t memtype, int64_t rows,
                      int width, const void *buf)
{
    int status = TQ_EIO, rank = width == 1 ? 1 : 2;
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)width};
    hid_t sp = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE), d;
    H5Pset_obj_track_times(dcpl, 0);
    if (rows > 0) {
        hsize_t chunk[2] = {(hsize_t)(rows < CHUNK_ROWS ? rows : CHUNK_ROWS), (hsize_t)width};
        H5Pset_chunk(dcpl, rank, chunk);
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, 1);
    }
    if (H5Lexists(loc, name, H5P_DEFAULT) > 0) H5Ldelete(loc, name, H5P_DEFAULT);
    d = H5Dcreate2(loc, name, filetype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d >= 0 && (rows == 0 || H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0))
        status = TQ_OK;
    if (d >= 0) H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return status;
}

/* Reads rows [lo,hi) of a dataset of `width` values a row into buf (memtype conversion by
 * HDF5): 1-D, or 2-D with `width` columns (a 1-D dataset is width 1). Any other shape
 * fails, so a file whose dataset has more columns than the caller's buffer cannot
 * overrun it. */
static int read_rows(hid_t loc, const char *name, hid_t memtype, int64_t lo, int64_t hi,
                     int width, void *buf, hid_t dxpl)
{
    int status = TQ_EIO;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT), fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
    hsize_t dims[2] = {0, 1}, start[2] = {(hsize_t)lo, 0}, count[2];
    int rank;
    if (d < 0) return TQ_EIO;
    fs = H5Dget_space(d);
    rank = H5Sget_simple_extent_ndims(fs);
    if (rank < 1 || rank > 2) goto done;
    H5Sget_simple_extent_dims(fs, dims, NULL);
    if ((hsize_t)hi > dims[0] || (rank == 1 ? 1 : (int64_t)dims[1]) != width) goto done;
    count[0] = (hsize_t)(hi - lo);
    count[1] = rank == 2 ? dims[1] : 1;
    ms = H5Screate_simple(rank, count, NULL);
    if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0) goto done;
    if (hi == lo) {
        H5Sselect_none(fs);
        H5Sselect_none(ms);
    }
    if (H5Dread(d, memtype, ms, fs, dxpl, buf) >= 0) status = TQ_OK;
done:
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    H5Dclose(d);
    return status;
}

/* Why dataset `name` of loc cannot be read as `rows` rows (as many as dataset `ref` has) of
 * `width` values, text or numbers; NULL when it can. A file tqplan wrote always can: this
 * names what a file edited or written by other means got wrong, before it is read. */
static const char *column_problem(hid_t loc, const char *name, int64_t rows, const char *ref,
                                  int width, int text, char *buf, size_t len)
{
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) return "is missing";
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return "is not a dataset";
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    H5T_class_t c = H5Tget_class(t);
    int r = H5Sget_simple_extent_ndims(s);
    hsize_t dims[2] = {0, 1};
    const char *why = NULL;
    if (r >= 1 && r <= 2) H5Sget_simple_extent_dims(s, dims, NULL);
    if (text && (c != H5T_STRING || H5Tis_variable_str(t) > 0))
        why = c == H5T_STRING ? "holds variable-length strings (tqplan reads fixed-length ones)"
                              : "does not hold text";
    else if (!text && c != H5T_INTEGER && c != H5T_FLOAT)
        why = "does not hold numbers";
    else if (r < 1 || r > 2)
        snprintf(buf, len, "has %d dimensions, not 1 or 2", r), why = buf;
    else if ((r == 1 ? 1 : (int64_t)dims[1]) != width)
        snprintf(buf, len, "has %lld values a row, not %d", (long long)(r == 1 ? 1 : dims[1]),
                 width), why = buf;
    else if ((int64_t)dims[0] != rows)
        snprintf(buf, len, "has %lld rows, %s has %lld", (long long)dims[0], ref, (long long)rows),
            why = buf;
    H5Sclose(s);
    H5Tclose(t);
    H5Dclose(d);
    return why;
}

/* ---- opening ------------------------------------------------------------------------ */
/* Opens a dataset file read-only (collectively over comm when it has several ranks) and
 * checks its schema version. */
static hid_t open_dataset_file(const char *path, const tq_comm *comm, unsigned flags,
                               tq_err *err)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), f;
    int version = 0;
    quiet_hdf5();
    /* Ranks open the same file read-only at the same time, some through MPI-IO and some
     * serially (small headers); HDF5's advisory locks would make them refuse each other.
     * Writers never share a file: results are written by rank 0 alone. */
    if (flags == H5F_ACC_RDONLY) H5Pset_file_locking(fapl, 0, 1);
#ifdef TQ_HAVE_MPI
    if (tq_comm_size(comm) > 1) H5Pset_fapl_mpio(fapl, *(MPI_Comm *)tq_comm_mpi(comm), MPI_INFO_NULL);
#else
    (void)comm;
#endif
    if (access(path, F_OK) != 0) {
        tq_err_set(err, TQ_EINVAL, "%s: %s", path, strerror(errno));
        H5Pclose(fapl);
        return H5I_INVALID_HID;
    }
    f = H5Fopen(path, flags, fapl);
    H5Pclose(fapl);
    if (f < 0) {
        tq_err_set(err, TQ_EINVAL, "%s: not an HDF5 file, or it cannot be opened%s", path,
                   flags == H5F_ACC_RDWR ? " for writing" : "");
        return H5I_INVALID_HID;
    }
    if (attr_read(f, "schema_version", H5T_NATIVE_INT, &version) != TQ_OK) {
        tq_err_set(err, TQ_EINVAL, "%s: not a tqplan dataset (no schema_version attribute)", path);
        H5Fclose(f);
        return H5I_INVALID_HID;
    }
    if (version != TQ_SCHEMA_VERSION) {
        tq_err_set(err, TQ_EINVAL,
                   "%s: schema version %d is not supported by tqplan %s (it reads version %d)%s",
                   path, version, TQ_VERSION, TQ_SCHEMA_VERSION,
                   version > TQ_SCHEMA_VERSION ? ": written by a newer tqplan" : "");
        H5Fclose(f);
        return H5I_INVALID_HID;
    }
    return f;
}

static int64_t dataset_rows(hid_t loc, const char *name, int *width)
{
    hsize_t dims[2] = {0, 1};
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t s = H5Dget_space(d);
    int r = H5Sget_simple_extent_ndims(s);
    H5Sget_simple_extent_dims(s, dims, NULL);
    if (width) *width = r == 2 ? (int)dims[1] : 1;
    H5Sclose(s);
    H5Dclose(d);
    return (int64_t)dims[0];
}

int tq_data_info(const char *path, tq_info *info, tq_err *err)
{
    hid_t f = open_dataset_file(path, NULL, H5F_ACC_RDONLY, err), g = H5I_INVALID_HID;
    int status = TQ_EIO, d = 0;
    if (f < 0) return err->status;
    memset(info, 0, sizeof *info);
    info->schema_version = TQ_SCHEMA_VERSION;
    g = H5Gopen2(f, "accounts", H5P_DEFAULT);
    if (g < 0) {
        tq_err_set(err, TQ_EINVAL, "%s: no /accounts group", path);
        status = TQ_EINVAL;
        goto done;
    }
    info->n = dataset_rows(g, "lat", NULL);
    if (info->n < 0) {
        tq_err_set(err, TQ_EINVAL, "%s: /accounts/lat is missing", path);
        status = TQ_EINVAL;
        goto done;
    }
    if (H5Lexists(g, "features", H5P_DEFAULT) > 0) dataset_rows(g, "features", &d);
    info->d = d;
    info->has_score = H5Lexists(g, "score", H5P_DEFAULT) > 0;
    attr_read(g, "checksum", H5T_NATIVE_UINT64, &info->checksum);
    if (H5Lexists(f, "territories", H5P_DEFAULT) > 0 &&
        H5Lexists(f, "territories/id", H5P_DEFAULT) > 0)
        info->k = (int)dataset_rows(f, "territories/id", NULL);
    status = TQ_OK;
done:
    if (g >= 0) H5Gclose(g);
    H5Fclose(f);
    return status;
}

typedef struct {
    tq_result_fn fn;
    void *ctx;
} results_walk;

static herr_t result_visit(hid_t loc, const char *name, const H5L_info_t *info, void *data)
{
    results_walk *w = data;
    (void)info;
    if (!strcmp(name, "accounts") || !strcmp(name, "territories")) return 0;
    hid_t g = H5Gopen2(loc, name, H5P_DEFAULT);  /* fails quietly for non-groups */
    if (g < 0) return 0;
    char *cmd = attr_read_str(g, "command"), *fin = attr_read_str(g, "finished");
    w->fn(name, cmd ? cmd : "?", fin ? fin : "?", w->ctx);
    free(cmd);
    free(fin);
    H5Gclose(g);
    return 0;
}

int tq_data_results(const char *path, tq_result_fn fn, void *ctx, tq_err *err)
{
    hid_t f = open_dataset_file(path, NULL, H5F_ACC_RDONLY, err);
    results_walk w = {fn, ctx};
    if (f < 0) return err->status;
    H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, NULL, result_visit, &w);
    H5Fclose(f);
    return TQ_OK;
}

/* ---- accounts in memory -------------------------------------------------------------- */
int tq_accounts_alloc(tq_accounts *a, int64_t rows, int d, int id_len, unsigned cols)
{
    size_t r = (size_t)(rows > 0 ? rows : 1);
    memset(a, 0, sizeof *a);
    a->hi = rows;
    a->n = rows;
    a->d = d;
    a->id_len = id_len;
#define ALLOC(col, field, count) \
    if (cols & (col)) { a->field = calloc((count), sizeof *a->field); if (!a->field) goto nomem; }
    ALLOC(TQ_COL_ID, id, r * (size_t)id_len)
    ALLOC(TQ_COL_LATLON, lat, r)
    ALLOC(TQ_COL_LATLON, lon, r)
    ALLOC(TQ_COL_WORKLOAD, workload, r)
    ALLOC(TQ_COL_VALUE, value, r)
    ALLOC(TQ_COL_PREV, prev_territory, r)
    ALLOC(TQ_COL_LOCKED, locked, r)
    ALLOC(TQ_COL_FEATURES, features, r * (size_t)(d > 0 ? d : 1))
    ALLOC(TQ_COL_LABEL, label, r)
    ALLOC(TQ_COL_SCORE, score, r)
#undef ALLOC
    return TQ_OK;
nomem:
    tq_accounts_free(a);
    return TQ_ENOMEM;
}

void tq_accounts_free(tq_accounts *a)
{
    if (!a) return;
    free(a->id);
    free(a->lat);
    free(a->lon);
    free(a->workload);
    free(a->value);
    free(a->prev_territory);
    free(a->locked);
    free(a->features);
    free(a->label);
    free(a->score);
    if (a->feature_names) {
        for (int j = 0; j < a->d; j++) free(a->feature_names[j]);
        free(a->feature_names);
    }
    memset(a, 0, sizeof *a);
}

static char **read_feature_names(hid_t g, int d)
{
    char *all = attr_read_str(g, "feature_names"), **names = NULL;
    if (!all || d <= 0) goto done;
    names = calloc((size_t)d, sizeof *names);
    if (!names) goto done;
    char *p = all;
    for (int j = 0; j < d; j++) {
        char *comma = strchr(p, ',');
        if (comma) *comma = 0;
        names[j] = strdup(p);
        p = comma ? comma + 1 : p + strlen(p);
    }
done:
    free(all);
    return names;
}

/* Rows [lo, hi) (hi < 0: this rank's rows of the block partition), opened over comm. */
static int read_accounts(const char *path, const tq_comm *comm, unsigned cols, int64_t lo,
                         int64_t hi, tq_accounts *a, tq_err *err)
{
    tq_info info;
    tq_blocks b;
    int status;
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID, strt = H5I_INVALID_HID;
    memset(a, 0, sizeof *a);
    /* Every rank reads the small header serially, then rows through one collective open. */
    status = tq_data_info(path, &info, err);
    if (status != TQ_OK) return status;
    if (!info.has_score) cols &= ~(unsigned)TQ_COL_SCORE;
    if (info.d == 0) cols &= ~(unsigned)TQ_COL_FEATURES;
    if (hi < 0) {
        tq_blocks_init(&b, info.n);
        tq_blocks_of_rank(&b, tq_comm_rank(comm), tq_comm_size(comm), NULL, NULL, &lo, &hi);
    } else if (lo < 0 || lo > hi || hi > info.n) {
        tq_err_set(err, TQ_EINVAL, "%s: rows %lld..%lld are outside 0..%lld", path,
                   (long long)lo, (long long)hi, (long long)info.n);
        return TQ_EINVAL;
    }
    f = open_dataset_file(path, comm, H5F_ACC_RDONLY, err);
    if (f < 0) return err->status;
    g = H5Gopen2(f, "accounts", H5P_DEFAULT);
    static const struct { unsigned col; const char *name; } need[] = {
        {TQ_COL_ID, "id"}, {TQ_COL_LATLON, "lat"}, {TQ_COL_LATLON, "lon"},
        {TQ_COL_WORKLOAD, "workload"}, {TQ_COL_VALUE, "value"},
        {TQ_COL_PREV, "prev_territory"}, {TQ_COL_LOCKED, "locked"},
        {TQ_COL_FEATURES, "features"}, {TQ_COL_LABEL, "label"}, {TQ_COL_SCORE, "score"},
    };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        char buf[96];
        const char *why = (cols & need[i].col)
            ? column_problem(g, need[i].name, info.n, "/accounts/lat",
                             need[i].col == TQ_COL_FEATURES ? info.d : 1,
                             need[i].col == TQ_COL_ID, buf, sizeof buf) : NULL;
        if (why) {
            tq_err_set(err, TQ_EINVAL, "%s: /accounts/%s %s; not as tqplan writes it: import "
                       "the CSV again", path, need[i].name, why);
            status = TQ_EINVAL;
            goto done;
        }
    }
    int id_len = 1;
    if (cols & TQ_COL_ID) {
        hid_t d = H5Dopen2(g, "id", H5P_DEFAULT);
        hid_t t = d >= 0 ? H5Dget_type(d) : H5I_INVALID_HID;
        id_len = t >= 0 ? (int)H5Tget_size(t) + 1 : 1;
        if (t >= 0) H5Tclose(t);
        if (d >= 0) H5Dclose(d);
        strt = make_string_type(id_len);
    }
    status = tq_accounts_alloc(a, hi - lo, info.d, id_len, cols);
    if (status != TQ_OK) {
        tq_err_set(err, status, "%s: cannot allocate %lld rows", path, (long long)(hi - lo));
        goto done;
    }
    a->n = info.n;
    a->lo = lo;
    a->hi = hi;
    a->checksum = info.checksum;
    a->feature_names = read_feature_names(g, info.d);
    struct { unsigned col; const char *name; hid_t type; int width; void *buf; } c[] = {
        {TQ_COL_ID, "id", strt, 1, a->id},
        {TQ_COL_LATLON, "lat", H5T_NATIVE_DOUBLE, 1, a->lat},
        {TQ_COL_LATLON, "lon", H5T_NATIVE_DOUBLE, 1, a->lon},
        {TQ_COL_WORKLOAD, "workload", H5T_NATIVE_FLOAT, 1, a->workload},
        {TQ_COL_VALUE, "value", H5T_NATIVE_FLOAT, 1, a->value},
        {TQ_COL_PREV, "prev_territory", H5T_NATIVE_INT32, 1, a->prev_territory},
        {TQ_COL_LOCKED, "locked", H5T_NATIVE_UINT8, 1, a->locked},
        {TQ_COL_FEATURES, "features", H5T_NATIVE_FLOAT, info.d, a->features},
        {TQ_COL_LABEL, "label", H5T_NATIVE_INT8, 1, a->label},
        {TQ_COL_SCORE, "score", H5T_NATIVE_FLOAT, 1, a->score},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        if (!(cols & c[i].col)) continue;
        if (read_rows(g, c[i].name, c[i].type, lo, hi, c[i].width, c[i].buf, H5P_DEFAULT) != TQ_OK) {
            tq_err_set(err, TQ_EIO, "%s: cannot read /accounts/%s rows %lld..%lld", path,
                       c[i].name, (long long)lo, (long long)hi);
            status = TQ_EIO;
            goto done;
        }
    }
    status = TQ_OK;
done:
    if (strt >= 0) H5Tclose(strt);
    if (g >= 0) H5Gclose(g);
    if (f >= 0) H5Fclose(f);
    if (status != TQ_OK) tq_accounts_free(a);
    return status;
}

int tq_accounts_read(const char *path, const tq_comm *comm, unsigned cols, tq_accounts *a,
                     tq_err *err)
{
    int status = read_accounts(path, comm, cols, 0, -1, a, err);
    /* Every rank must learn of a failure on any rank, or the others would wait forever
     * in the stage's next collective. A rank other than 0 prints its own reason (only
     * rank 0 prints errors otherwise). */
    int ok = status == TQ_OK;
    if (tq_comm_size(comm) > 1) {
        tq_comm_all(comm, &ok);
        if (status != TQ_OK && tq_comm_rank(comm) != 0)
            fprintf(stderr, "tqplan: error (rank %d): %s\n", tq_comm_rank(comm), err->msg);
        if (!ok && status == TQ_OK) {
            tq_accounts_free(a);
            status = TQ_EIO;
            tq_err_set(err, status, "%s: another rank could not read its rows (see its message)",
                       path);
        }
    }
    return status;
}

int tq_accounts_read_range(const char *path, unsigned cols, int64_t lo, int64_t hi,
                           tq_accounts *a, tq_err *err)
{
    return read_accounts(path, NULL, cols, lo, hi, a, err);
}

int tq_accounts_first_bad(const tq_comm *comm, const tq_accounts *a, int64_t bad, int col,
                          double val, int64_t *row, int *col_out, double *val_out)
{
    /* the rank holding the lowest row tells everyone which column and value */
    double first = bad >= 0 ? (double)(a->lo + bad) : INFINITY, cv[2] = {col, val};
    int found = tq_comm_first_row(comm, &first, cv, 2);
    if (found < 0) return TQ_EMPI;
    if (!found) return 0;
    *row = (int64_t)first;
    *col_out = (int)cv[0];
    *val_out = cv[1];
    return 1;
}

int tq_accounts_check(const char *path, const tq_accounts *a, int k, const tq_comm *comm,
                      tq_err *err)
{
    enum { LAT = 1, LON, WORKLOAD, VALUE, PREV, LOCKED, SCORE, LABEL, FEATURE };  /* + j */
    int64_t nl = a->hi - a->lo, bad = -1;
    int col = 0;
    double val = 0;
    for (int64_t i = 0; i < nl && bad < 0; i++) {
        int32_t prev = a->prev_territory ? a->prev_territory[i] : -1;
        if (a->lat && (!isfinite(a->lat[i]) || fabs(a->lat[i]) > 90))
            bad = i, col = LAT, val = a->lat[i];
        else if (a->lon && (!isfinite(a->lon[i]) || fabs(a->lon[i]) > 180))
            bad = i, col = LON, val = a->lon[i];
        else if (a->workload && !(a->workload[i] >= 0 && isfinite(a->workload[i])))
            bad = i, col = WORKLOAD, val = a->workload[i];
        else if (a->value && !(a->value[i] >= 0 && isfinite(a->value[i])))
            bad = i, col = VALUE, val = a->value[i];
        else if (prev < -1 || (k > 0 && prev >= k))
            bad = i, col = PREV, val = prev;
        else if (a->locked && a->prev_territory && a->locked[i] && prev < 0)
            bad = i, col = LOCKED, val = a->locked[i];
        else if (a->score && !(a->score[i] >= 0 && isfinite(a->score[i])))
            bad = i, col = SCORE, val = a->score[i];
        else if (a->label && (a->label[i] < -1 || a->label[i] > 1))
            bad = i, col = LABEL, val = a->label[i];
        for (int j = 0; bad < 0 && a->features && j < a->d; j++)
            if (!isfinite(a->features[i * a->d + j]))
                bad = i, col = FEATURE + j, val = a->features[i * a->d + j];
    }
    int64_t first;
    int c;
    int found = tq_accounts_first_bad(comm, a, bad, col, val, &first, &c, &val);
    if (found < 0) {
        tq_err_set(err, TQ_EMPI, "MPI error while checking %s", path);
        return TQ_EMPI;
    }
    if (!found) return TQ_OK;
    if (c >= FEATURE) {
        tq_err_set(err, TQ_EINVAL, "%s: /accounts row %lld, feature column %d: value %g is not "
                   "finite", path, (long long)first + 1, c - FEATURE + 1, val);
        return TQ_EINVAL;
    }
    static const char *const name[] = {"", "lat", "lon", "workload", "value", "prev_territory",
                                       "locked", "score", "label"};
    static const char *const want[] = {"", "a latitude in [-90, 90]", "a longitude in [-180, 180]",
                                       "finite and >= 0", "finite and >= 0",
                                       "-1 or a territory index",
                                       "allowed: locked needs a prev_territory", "finite and >= 0",
                                       "1, 0 or -1"};
    char range[48] = "";
    if (c == PREV && k > 0) snprintf(range, sizeof range, " (0 .. %d)", k - 1);
    tq_err_set(err, TQ_EINVAL, "%s: /accounts row %lld, column %s: value %g is not %s%s", path,
               (long long)first + 1, name[c], val, want[c], range);
    return TQ_EINVAL;
}

int tq_labels_check(const char *path, const char *name, const tq_accounts *a,
                    const int32_t *label, int k, const tq_comm *comm, tq_err *err)
{
    int64_t bad = -1, first;
    for (int64_t i = 0; i < a->hi - a->lo && bad < 0; i++)
        if (label[i] < 0 || (k > 0 && label[i] >= k)) bad = i;
    int c;
    double val = 0;
    int found = tq_accounts_first_bad(comm, a, bad, 0, bad >= 0 ? label[bad] : 0, &first, &c, &val);
    if (found < 0) {
        tq_err_set(err, TQ_EMPI, "MPI error while checking %s", path);
        return TQ_EMPI;
    }
    if (!found) return TQ_OK;
    char range[48] = "";
    if (k > 0) snprintf(range, sizeof range, " (0 .. %d)", k - 1);
    tq_err_set(err, TQ_EINVAL, "%s: %s row %lld: value %g is not a %s index%s", path, name,
               (long long)first + 1, val, strstr(name, "cluster") ? "cluster" : "territory", range);
    return TQ_EINVAL;
}

int tq_territories_read(const char *path, tq_territories *t, tq_err *err)
{
    hid_t f = open_dataset_file(path, NULL, H5F_ACC_RDONLY, err), g = H5I_INVALID_HID;
    hid_t strt = H5I_INVALID_HID;
    int status = TQ_EIO;
    memset(t, 0, sizeof *t);
    if (f < 0) return err->status;
    if (H5Lexists(f, "territories", H5P_DEFAULT) <= 0) {
        status = TQ_OK;   /* none: k = 0; callers that need territories say so */
        goto done;
    }
    g = H5Gopen2(f, "territories", H5P_DEFAULT);
    int64_t k = H5Lexists(g, "id", H5P_DEFAULT) > 0 ? dataset_rows(g, "id", NULL) : -1;
    if (k < 0) {
        tq_err_set(err, TQ_EINVAL, "%s: /territories/id is missing", path);
        status = TQ_EINVAL;
        goto done;
    }
    static const char *const tcol[] = {"id", "home_lat", "home_lon", "capacity"};
    for (int i = 0; i < 4; i++) {
        char buf[96];
        const char *why = column_problem(g, tcol[i], k, "/territories/id", 1, i == 0, buf,
                                         sizeof buf);
        if (why) {
            tq_err_set(err, TQ_EINVAL, "%s: /territories/%s %s; not as tqplan writes it: "
                       "import the territories CSV again", path, tcol[i], why);
            status = TQ_EINVAL;
            goto done;
        }
    }
    hid_t d = H5Dopen2(g, "id", H5P_DEFAULT), ty = H5Dget_type(d);
    t->id_len = (int)H5Tget_size(ty) + 1;
    H5Tclose(ty);
    H5Dclose(d);
    strt = make_string_type(t->id_len);
    t->k = (int)k;
    size_t kk = (size_t)(k > 0 ? k : 1);
    t->id = calloc(kk, (size_t)t->id_len);
    t->home_lat = malloc(kk * sizeof(double));
    t->home_lon = malloc(kk * sizeof(double));
    t->capacity = malloc(kk * sizeof(double));
    if (!t->id || !t->home_lat || !t->home_lon || !t->capacity) {
        status = TQ_ENOMEM;
        tq_err_set(err, status, "out of memory reading %s", path);
        goto done;
    }
    if (read_rows(g, "id", strt, 0, k, 1, t->id, H5P_DEFAULT) != TQ_OK ||
        read_rows(g, "home_lat", H5T_NATIVE_DOUBLE, 0, k, 1, t->home_lat, H5P_DEFAULT) != TQ_OK ||
        read_rows(g, "home_lon", H5T_NATIVE_DOUBLE, 0, k, 1, t->home_lon, H5P_DEFAULT) != TQ_OK ||
        read_rows(g, "capacity", H5T_NATIVE_DOUBLE, 0, k, 1, t->capacity, H5P_DEFAULT) != TQ_OK) {
        tq_err_set(err, TQ_EIO, "%s: cannot read /territories", path);
        goto done;
    }
    t->has_home = k > 0;
    for (int64_t i = 0; i < k; i++) {
        double la = t->home_lat[i], lo = t->home_lon[i], cp = t->capacity[i];
        const char *col = NULL;
        double v = 0;
        /* as import writes them: a base is both coordinates or neither (NaN) */
        if (!(cp > 0) || !isfinite(cp)) col = "capacity", v = cp;
        else if (isnan(la) != isnan(lo)) col = isnan(la) ? "home_lat" : "home_lon", v = NAN;
        else if (!isnan(la) && !(fabs(la) <= 90)) col = "home_lat", v = la;
        else if (!isnan(lo) && !(fabs(lo) <= 180)) col = "home_lon", v = lo;
        if (col && isnan(v) && strcmp(col, "capacity"))
            tq_err_set(err, TQ_EINVAL, "%s: /territories row %lld: home_lat %g, home_lon %g (a "
                       "home base is both coordinates or neither)", path, (long long)i + 1, la, lo);
        else if (col)
            tq_err_set(err, TQ_EINVAL, "%s: /territories row %lld, column %s: value %g is not %s",
                       path, (long long)i + 1, col, v,
                       !strcmp(col, "capacity") ? "> 0"
                       : !strcmp(col, "home_lat") ? "a latitude in [-90, 90]"
                                                  : "a longitude in [-180, 180]");
        if (col) {
            status = TQ_EINVAL;
            goto done;
        }
        if (isnan(la) || isnan(lo)) t->has_home = 0;
    }
    status = TQ_OK;
done:
    if (strt >= 0) H5Tclose(strt);
    if (g >= 0) H5Gclose(g);
    H5Fclose(f);
    if (status != TQ_OK) tq_territories_free(t);
    return status;
}

int tq_account_id(const char *path, int64_t row, char *buf, size_t len)
{
    if (len == 0) return TQ_EINVAL;
    buf[0] = '\0';
    tq_err err;
    hid_t f = open_dataset_file(path, NULL, H5F_ACC_RDONLY, &err), g = H5I_INVALID_HID;
    hid_t strt = H5I_INVALID_HID;
    char *one = NULL;
    int status = TQ_EIO;
    if (f < 0) return err.status;
    g = H5Gopen2(f, "accounts", H5P_DEFAULT);
    if (g < 0) goto done;
    int64_t n = dataset_rows(g, "id", NULL);
    if (row < 0 || row >= n) goto done;
    hid_t d = H5Dopen2(g, "id", H5P_DEFAULT), ty = H5Dget_type(d);
    int il = (int)H5Tget_size(ty) + 1;
    H5Tclose(ty);
    H5Dclose(d);
    strt = make_string_type(il);
    one = calloc(1, (size_t)il);
    if (!one) {
        status = TQ_ENOMEM;
        goto done;
    }
    status = read_rows(g, "id", strt, row, row + 1, 1, one, H5P_DEFAULT);
    if (status == TQ_OK) snprintf(buf, len, "%s", one);
done:
    free(one);
    if (strt >= 0) H5Tclose(strt);
    if (g >= 0) H5Gclose(g);
    H5Fclose(f);
    return status;
}

void tq_territories_free(tq_territories *t)
{
    if (!t) return;
    free(t->id);
    free(t->home_lat);
    free(t->home_lon);
    free(t->capacity);
    memset(t, 0, sizeof *t);
}

/* ---- writing a new dataset file ----------------------------------------------------------- */
enum { W_ID, W_LAT, W_LON, W_WORK, W_VALUE, W_PREV, W_LOCKED, W_FEAT, W_LABEL, W_NCOL };

struct tq_writer {
    char *path, *tmp;
    hid_t f, g, strt;
    hid_t d[W_NCOL];
    int dims_d, id_len;
    int64_t rows;
    hasher h[W_NCOL];
    char *feature_names;   /* comma-joined */
    int has_territories;
    int ids_later;         /* created with id_len 0: ids come by tq_writer_append_ids */
    int64_t id_rows;       /* ids appended so far (ids_later) */
};

static char *temp_name(const char *path)
{
    size_t n = strlen(path) + 32;
    char *t = malloc(n);
    if (t) snprintf(t, n, "%s.tmp.%ld", path, (long)getpid());
    return t;
}

tq_writer *tq_writer_create(const char *path, int d, int id_len, char *const *feature_names,
                            tq_err *err)
{
    if (!*path) {
        tq_err_set(err, TQ_EINVAL, "the output file name (-o) is empty");
        return NULL;
    }
    tq_writer *w = calloc(1, sizeof *w);
    int version = TQ_SCHEMA_VERSION;
    quiet_hdf5();
    if (!w) goto nomem;
    w->f = w->g = w->strt = H5I_INVALID_HID;
    for (int i = 0; i < W_NCOL; i++) w->d[i] = H5I_INVALID_HID;
    w->dims_d = d;
    w->ids_later = id_len <= 0;
    w->id_len = w->ids_later ? 0 : id_len < 2 ? 2 : id_len;
    w->path = strdup(path);
    w->tmp = temp_name(path);
    if (!w->path || !w->tmp) goto nomem;
    if (d > 0 && feature_names) {
        size_t len = 1;
        for (int j = 0; j < d; j++) len += strlen(feature_names[j]) + 1;
        w->feature_names = calloc(len, 1);
        if (!w->feature_names) goto nomem;
        for (int j = 0; j < d; j++) {
            if (j) strcat(w->feature_names, ",");
            strcat(w->feature_names, feature_names[j]);
        }
    }
    w->f = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->f < 0) {
        tq_err_set(err, TQ_EIO, "%s: cannot create file (%s)", w->tmp, strerror(errno));
        goto fail;
    }
    attr_write(w->f, "schema_version", H5T_NATIVE_INT, &version);
    attr_write_str(w->f, "format", "tqplan dataset");
    attr_write_str(w->f, "tqplan_version", TQ_VERSION);
    w->g = create_group(w->f, "accounts");
    /* stored strings are id_len-1 bytes (NUL-terminated unless full) */
    if (!w->ids_later) {
        w->strt = make_file_string_type(w->id_len - 1);
        w->d[W_ID] = create_ext(w->g, "id", w->strt, 1, 1);
    }
    w->d[W_LAT] = create_ext(w->g, "lat", H5T_IEEE_F64LE, 1, 1);
    w->d[W_LON] = create_ext(w->g, "lon", H5T_IEEE_F64LE, 1, 1);
    w->d[W_WORK] = create_ext(w->g, "workload", H5T_IEEE_F32LE, 1, 1);
    w->d[W_VALUE] = create_ext(w->g, "value", H5T_IEEE_F32LE, 1, 1);
    w->d[W_PREV] = create_ext(w->g, "prev_territory", H5T_STD_I32LE, 1, 1);
    w->d[W_LOCKED] = create_ext(w->g, "locked", H5T_STD_U8LE, 1, 1);
    /* features stay uncompressed: float mantissas barely compress (measured: deflate
     * saved 11% of the file and doubled generate's time at 2M x 16) */
    w->d[W_FEAT] = d > 0 ? create_ext(w->g, "features", H5T_IEEE_F32LE, d, 0) : 0;
    w->d[W_LABEL] = create_ext(w->g, "label", H5T_STD_I8LE, 1, 1);
    for (int i = w->ids_later ? W_ID + 1 : 0; i < W_NCOL; i++) {
        if (w->d[i] < 0 || w->g < 0) {
            tq_err_set(err, TQ_EIO, "%s: cannot create /accounts datasets", w->tmp);
            goto fail;
        }
    }
    return w;
nomem:
    tq_err_set(err, TQ_ENOMEM, "out of memory creating %s", path);
fail:
    tq_writer_close(w, 0, NULL);
    return NULL;
}

int tq_writer_append(tq_writer *w, const tq_accounts *b, tq_err *err)
{
    int64_t rows = b->hi - b->lo;
    int d = w->dims_d, status = TQ_OK;
    char *ids = NULL;
    /* ids come with id_len bytes per row (NUL-terminated); the file type holds id_len-1 */
    if (!w->ids_later && b->id_len != w->id_len) {
        ids = calloc((size_t)(rows > 0 ? rows : 1), (size_t)w->id_len);
        if (!ids) {
            tq_err_set(err, TQ_ENOMEM, "out of memory writing %s", w->path);
            return TQ_ENOMEM;
        }
        for (int64_t i = 0; i < rows; i++)
            snprintf(ids + i * w->id_len, (size_t)w->id_len, "%s", b->id + i * b->id_len);
    }
    hid_t memstr = make_string_type(w->ids_later ? 2 : w->id_len);
    const void *idbuf = ids ? ids : b->id;
    struct { int col; hid_t type; const void *buf; size_t sz; int width; } c[] = {
        {W_ID, memstr, idbuf, (size_t)w->id_len, 1},
        {W_LAT, H5T_NATIVE_DOUBLE, b->lat, 8, 1},
        {W_LON, H5T_NATIVE_DOUBLE, b->lon, 8, 1},
        {W_WORK, H5T_NATIVE_FLOAT, b->workload, 4, 1},
        {W_VALUE, H5T_NATIVE_FLOAT, b->value, 4, 1},
        {W_PREV, H5T_NATIVE_INT32, b->prev_territory, 4, 1},
        {W_LOCKED, H5T_NATIVE_UINT8, b->locked, 1, 1},
        {W_FEAT, H5T_NATIVE_FLOAT, b->features, 4, d},
        {W_LABEL, H5T_NATIVE_INT8, b->label, 1, 1},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        if (c[i].col == W_FEAT && d == 0) continue;
        if (c[i].col == W_ID && w->ids_later) continue;
        if (!c[i].buf) {
            tq_err_set(err, TQ_EINTERNAL, "writer: column %d missing in batch", c[i].col);
            status = TQ_EINTERNAL;
            break;
        }
        if (append_rows(w->d[c[i].col], c[i].type, w->rows, rows, c[i].width, c[i].buf) != TQ_OK) {
            tq_err_set(err, TQ_EIO, "%s: write failed at row %lld (disk full?)", w->tmp,
                       (long long)w->rows);
            status = TQ_EIO;
            break;
        }
        hash_bytes(&w->h[c[i].col], c[i].buf, (size_t)rows * c[i].sz * (size_t)c[i].width);
    }
    H5Tclose(memstr);
    free(ids);
    if (status == TQ_OK) w->rows += rows;
    return status;
}

int tq_writer_append_ids(tq_writer *w, const char *ids, int64_t rows, int id_len,
                         tq_err *err)
{
    int status = TQ_OK;
    if (!w->ids_later || (w->id_len && id_len != w->id_len) || id_len < 2) {
        tq_err_set(err, TQ_EINTERNAL, "writer: ids appended to a writer created with id_len "
                   "%d, or with a changing id_len %d", w->id_len, id_len);
        return TQ_EINTERNAL;
    }
    if (!w->id_len) {   /* first call: the dataset of id_len-1 byte strings */
        w->id_len = id_len;
        w->strt = make_file_string_type(id_len - 1);
        w->d[W_ID] = create_ext(w->g, "id", w->strt, 1, 1);
        if (w->d[W_ID] < 0) {
            tq_err_set(err, TQ_EIO, "%s: cannot create /accounts/id", w->tmp);
            return TQ_EIO;
        }
    }
    hid_t memstr = make_string_type(id_len);
    if (append_rows(w->d[W_ID], memstr, w->id_rows, rows, 1, ids) != TQ_OK) {
        tq_err_set(err, TQ_EIO, "%s: write failed at id %lld (disk full?)", w->tmp,
                   (long long)w->id_rows);
        status = TQ_EIO;
    } else {
        hash_bytes(&w->h[W_ID], ids, (size_t)rows * (size_t)id_len);
        w->id_rows += rows;
    }
    H5Tclose(memstr);
    return status;
}

int tq_writer_territories(tq_writer *w, const tq_territories *t, tq_err *err)
{
    int status = TQ_EIO;
    hid_t g = create_group(w->f, "territories");
    hid_t ft = make_file_string_type(t->id_len > 1 ? t->id_len - 1 : 1), mt = make_string_type(t->id_len);
    if (g >= 0 &&
        write_full(g, "id", ft, mt, t->k, 1, t->id) == TQ_OK &&
        write_full(g, "home_lat", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, t->k, 1, t->home_lat) == TQ_OK &&
        write_full(g, "home_lon", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, t->k, 1, t->home_lon) == TQ_OK &&
        write_full(g, "capacity", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, t->k, 1, t->capacity) == TQ_OK)
        status = TQ_OK;
    else
        tq_err_set(err, TQ_EIO, "%s: cannot write /territories", w->tmp);
    H5Tclose(ft);
    H5Tclose(mt);
    if (g >= 0) H5Gclose(g);
    if (status == TQ_OK) w->has_territories = 1;
    return status;
}

int tq_writer_rewrite_features(tq_writer *w, void (*fn)(void *ctx, float *x, int64_t rows, int d),
                               void *ctx, tq_err *err)
{
    const int d = w->dims_d;
    const int64_t chunk = CHUNK_ROWS;
    int status = TQ_OK;
    if (d <= 0) return TQ_OK;
    float *buf = malloc((size_t)chunk * (size_t)d * sizeof *buf);
    if (!buf) {
        tq_err_set(err, TQ_ENOMEM, "out of memory rewriting the features of %s", w->path);
        return TQ_ENOMEM;
    }
    memset(&w->h[W_FEAT], 0, sizeof w->h[W_FEAT]);
    hid_t fs = H5Dget_space(w->d[W_FEAT]);
    for (int64_t at = 0; at < w->rows && status == TQ_OK; at += chunk) {
        int64_t rows = w->rows - at < chunk ? w->rows - at : chunk;
        hsize_t start[2] = {(hsize_t)at, 0}, count[2] = {(hsize_t)rows, (hsize_t)d};
        hid_t ms = H5Screate_simple(2, count, NULL);
        status = TQ_EIO;
        if (fs >= 0 && ms >= 0 &&
            H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
            H5Dread(w->d[W_FEAT], H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, buf) >= 0) {
            fn(ctx, buf, rows, d);
            if (H5Dwrite(w->d[W_FEAT], H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, buf) >= 0) {
                hash_bytes(&w->h[W_FEAT], buf, (size_t)rows * (size_t)d * sizeof *buf);
                status = TQ_OK;
            }
        }
        if (ms >= 0) H5Sclose(ms);
        if (status)
            tq_err_set(err, TQ_EIO, "%s: cannot rewrite features at row %lld (disk full?)",
                       w->tmp, (long long)at);
    }
    if (fs >= 0) H5Sclose(fs);
    free(buf);
    return status;
}

int tq_writer_attr_str(tq_writer *w, const char *name, const char *v)
{
    return attr_write_str(w->g, name, v);
}

int tq_writer_attr_f64v(tq_writer *w, const char *name, const double *v, int n)
{
    hsize_t dims = (hsize_t)n;
    int status = TQ_EIO;
    hid_t sp = H5Screate_simple(1, &dims, NULL);
    hid_t a = H5Acreate2(w->g, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, v) >= 0) status = TQ_OK;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return status;
}

int tq_writer_close(tq_writer *w, int commit, tq_err *err)
{
    int status = TQ_OK;
    if (!w) return TQ_OK;
    if (commit && w->ids_later && w->id_rows != w->rows) {
        tq_err_set(err, TQ_EINTERNAL, "writer: %lld ids for %lld rows", (long long)w->id_rows,
                   (long long)w->rows);
        status = TQ_EINTERNAL;
        commit = 0;
    }
    if (commit) {
        uint64_t sum = 0x7171;
        for (int i = 0; i < W_NCOL; i++) sum = mix_word(sum, hash_final(&w->h[i]));
        long long n = w->rows;
        if (attr_write(w->g, "n", H5T_NATIVE_LLONG, &n) != TQ_OK ||
            attr_write(w->g, "d", H5T_NATIVE_INT, &w->dims_d) != TQ_OK ||
            attr_write(w->g, "checksum", H5T_NATIVE_UINT64, &sum) != TQ_OK ||
            (w->feature_names && attr_write_str(w->g, "feature_names", w->feature_names) != TQ_OK)) {
            tq_err_set(err, TQ_EIO, "%s: cannot write attributes", w->tmp);
            status = TQ_EIO;
        }
    }
    for (int i = 0; i < W_NCOL; i++)
        if (w->d[i] > 0) H5Dclose(w->d[i]);
    if (w->strt >= 0) H5Tclose(w->strt);
    if (w->g >= 0) H5Gclose(w->g);
    if (w->f >= 0 && H5Fclose(w->f) < 0 && commit && status == TQ_OK) {
        tq_err_set(err, TQ_EIO, "%s: close failed (disk full?)", w->tmp);
        status = TQ_EIO;
    }
    if (commit && status == TQ_OK && rename(w->tmp, w->path) != 0) {
        tq_err_set(err, TQ_EIO, "cannot rename %s to %s: %s", w->tmp, w->path, strerror(errno));
        status = TQ_EIO;
    }
    if ((!commit || status != TQ_OK) && w->tmp) unlink(w->tmp);
    free(w->path);
    free(w->tmp);
    free(w->feature_names);
    free(w);
    return status;
}

/* ---- result groups ---------------------------------------------------------------------- */
struct tq_result {
    const tq_comm *comm;
    char *path, *name, *tmpname;
    hid_t f, g;        /* rank 0 only */
    int status;        /* first failure, reported at commit */
    uint64_t checksum;
};

tq_result *tq_result_begin(const char *path, const char *name, const tq_comm *comm, tq_err *err)
{
    tq_result *r = calloc(1, sizeof *r);
    tq_info info;
    int ok = 1;
    if (!r) {
        tq_err_set(err, TQ_ENOMEM, "out of memory");
        return NULL;
    }
    r->comm = comm;
    r->f = r->g = H5I_INVALID_HID;
    r->path = strdup(path);
    r->name = strdup(name);
    r->tmpname = malloc(strlen(name) + 8);
    if (r->tmpname) sprintf(r->tmpname, "%s.tmp", name);
    tq_comm_barrier(comm);  /* every rank has closed the file before rank 0 writes it */
    if (tq_comm_rank(comm) == 0) {
        if (tq_data_info(path, &info, err) != TQ_OK) {
            ok = 0;
        } else {
            r->checksum = info.checksum;
            r->f = open_dataset_file(path, NULL, H5F_ACC_RDWR, err);
            if (r->f < 0) ok = 0;
        }
        if (ok && H5Lexists(r->f, r->tmpname, H5P_DEFAULT) > 0)
            H5Ldelete(r->f, r->tmpname, H5P_DEFAULT);  /* left over by a killed run */
        if (ok) r->g = create_group(r->f, r->tmpname);
        if (ok && r->g < 0) {
            tq_err_set(err, TQ_EIO, "%s: cannot create group /%s", path, r->tmpname);
            ok = 0;
        }
    }
    tq_comm_all(comm, &ok);
    if (!ok) {
        if (tq_comm_rank(comm) != 0) tq_err_set(err, TQ_EIO, "%s: rank 0 could not open it", path);
        tq_result_abort(r);
        return NULL;
    }
    return r;
}

/* Gathers nlocal*width items of `size` bytes to rank 0 and writes them there. */
static int result_rows(tq_result *r, const char *name, hid_t ft, hid_t mt, size_t size,
                       const void *v, int64_t nlocal, int width)
{
    int64_t n = nlocal;
    void *all = NULL;
    int status = TQ_OK;
    if (tq_comm_sum_i64(r->comm, &n, 1) != TQ_OK) return r->status = TQ_EMPI;
    if (tq_comm_rank(r->comm) == 0) {
        all = malloc((size_t)(n > 0 ? n : 1) * size * (size_t)width);
        if (!all) status = TQ_ENOMEM;
    }
    /* every rank must take part in the gather, even after a local failure */
    int gs = tq_comm_gatherv(r->comm, v, nlocal, (int64_t)size * width, all, 0);
    if (status == TQ_OK) status = gs;
    if (status == TQ_OK && tq_comm_rank(r->comm) == 0)
        status = write_full(r->g, name, ft, mt, n, width, all);
    free(all);
    if (status != TQ_OK && r->status == TQ_OK) r->status = status;
    return status;
}

int tq_result_rows_f64(tq_result *r, const char *name, const double *v, int64_t nlocal, int width)
{
    return result_rows(r, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 8, v, nlocal, width);
}
int tq_result_rows_f32(tq_result *r, const char *name, const float *v, int64_t nlocal, int width)
{
    return result_rows(r, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, v, nlocal, width);
}
int tq_result_rows_i32(tq_result *r, const char *name, const int32_t *v, int64_t nlocal, int width)
{
    return result_rows(r, name, H5T_STD_I32LE, H5T_NATIVE_INT32, 4, v, nlocal, width);
}
int tq_result_rows_u8(tq_result *r, const char *name, const uint8_t *v, int64_t nlocal, int width)
{
    return result_rows(r, name, H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, v, nlocal, width);
}

static int result_small(tq_result *r, const char *name, hid_t ft, hid_t mt, const void *v,
                        int64_t rows, int width)
{
    if (tq_comm_rank(r->comm) != 0) return TQ_OK;
    int status = write_full(r->g, name, ft, mt, rows, width, v);
    if (status != TQ_OK && r->status == TQ_OK) r->status = status;
    return status;
}
int tq_result_small_f64(tq_result *r, const char *name, const double *v, int64_t rows, int width)
{
    return result_small(r, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, v, rows, width);
}
int tq_result_small_i64(tq_result *r, const char *name, const int64_t *v, int64_t rows, int width)
{
    return result_small(r, name, H5T_STD_I64LE, H5T_NATIVE_INT64, v, rows, width);
}

static int result_attr(tq_result *r, const char *name, hid_t type, const void *v)
{
    if (tq_comm_rank(r->comm) != 0) return TQ_OK;
    int status = attr_write(r->g, name, type, v);
    if (status != TQ_OK && r->status == TQ_OK) r->status = status;
    return status;
}
int tq_result_attr_f64(tq_result *r, const char *name, double v)
{
    return result_attr(r, name, H5T_NATIVE_DOUBLE, &v);
}
int tq_result_attr_i64(tq_result *r, const char *name, int64_t v)
{
    return result_attr(r, name, H5T_NATIVE_INT64, &v);
}
int tq_result_attr_str(tq_result *r, const char *name, const char *v)
{
    if (tq_comm_rank(r->comm) != 0) return TQ_OK;
    int status = attr_write_str(r->g, name, v ? v : "");
    if (status != TQ_OK && r->status == TQ_OK) r->status = status;
    return status;
}

static void iso_time(time_t t, char *buf, size_t n)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int tq_result_commit(tq_result *r, const char *command, const char *params_json, uint64_t seed,
                     time_t started, tq_err *err)
{
    int status = TQ_OK;
    if (!r) return TQ_EINVAL;
    if (tq_comm_rank(r->comm) == 0) {
        char t0[32], t1[32], sum[24];
        iso_time(started, t0, sizeof t0);
        iso_time(time(NULL), t1, sizeof t1);
        snprintf(sum, sizeof sum, "%016llx", (unsigned long long)r->checksum);
        unsigned long long s = seed;
        int threads = tq_threads(), ranks = tq_comm_size(r->comm);
        attr_write_str(r->g, "tqplan_version", TQ_VERSION);
        attr_write_str(r->g, "command", command ? command : "");
        attr_write_str(r->g, "parameters", params_json ? params_json : "{}");
        attr_write(r->g, "seed", H5T_NATIVE_ULLONG, &s);
        attr_write_str(r->g, "input_file", r->path);
        attr_write_str(r->g, "input_checksum", sum);
        attr_write_str(r->g, "started", t0);
        attr_write_str(r->g, "finished", t1);
        attr_write(r->g, "threads", H5T_NATIVE_INT, &threads);
        if (attr_write(r->g, "ranks", H5T_NATIVE_INT, &ranks) != TQ_OK && r->status == TQ_OK)
            r->status = TQ_EIO;
        status = r->status;
        H5Gclose(r->g);
        r->g = H5I_INVALID_HID;
        if (status == TQ_OK) {
            if (H5Lexists(r->f, r->name, H5P_DEFAULT) > 0 &&
                H5Ldelete(r->f, r->name, H5P_DEFAULT) < 0)
                status = TQ_EIO;
            else if (H5Lmove(r->f, r->tmpname, r->f, r->name, H5P_DEFAULT, H5P_DEFAULT) < 0)
                status = TQ_EIO;
        }
        if (H5Fclose(r->f) < 0 && status == TQ_OK) status = TQ_EIO;
        r->f = H5I_INVALID_HID;
        if (status != TQ_OK)
            tq_err_set(err, status, "%s: writing /%s failed (%s)", r->path, r->name,
                       tq_strstatus(status));
    }
    int ok = status == TQ_OK;
    tq_comm_all(r->comm, &ok);
    if (!ok && status == TQ_OK) {
        status = TQ_EIO;
        tq_err_set(err, status, "%s: writing /%s failed on rank 0", r->path, r->name);
    }
    if (status != TQ_OK) {
        tq_result_abort(r);
        return status;
    }
    free(r->path);
    free(r->name);
    free(r->tmpname);
    free(r);
    return TQ_OK;
}

void tq_result_abort(tq_result *r)
{
    if (!r) return;
    if (r->g >= 0) H5Gclose(r->g);
    if (r->f < 0 && tq_comm_rank(r->comm) == 0 && r->path && r->tmpname) {
        /* reopen to drop the temporary group (commit failed after closing) */
        tq_err e;
        r->f = open_dataset_file(r->path, NULL, H5F_ACC_RDWR, &e);
    }
    if (r->f >= 0) {
        if (r->tmpname && H5Lexists(r->f, r->tmpname, H5P_DEFAULT) > 0)
            H5Ldelete(r->f, r->tmpname, H5P_DEFAULT);
        H5Fclose(r->f);
    }
    free(r->path);
    free(r->name);
    free(r->tmpname);
    free(r);
}

int tq_accounts_write_f32(const char *path, const tq_comm *comm, const char *name,
                          const float *v, int64_t nlocal, tq_err *err)
{
    int64_t n = nlocal;
    float *all = NULL;
    int status = TQ_OK;
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID;
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    /* a collective: every rank has closed the file before rank 0 writes it */
    if (tq_comm_sum_i64(comm, &n, 1) != TQ_OK) return TQ_EMPI;
    if (tq_comm_rank(comm) == 0) {
        all = malloc((size_t)(n > 0 ? n : 1) * sizeof *all);
        if (!all) status = TQ_ENOMEM;
    }
    int gs = tq_comm_gatherv(comm, v, nlocal, sizeof(float), all, 0);
    if (status == TQ_OK) status = gs;
    if (status == TQ_OK && tq_comm_rank(comm) == 0) {
        f = open_dataset_file(path, NULL, H5F_ACC_RDWR, err);
        if (f < 0) {
            status = err->status;
            goto done;
        }
        g = H5Gopen2(f, "accounts", H5P_DEFAULT);
        status = TQ_EIO;
        if (g >= 0 && write_full(g, tmp, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, n, 1, all) == TQ_OK &&
            (H5Lexists(g, name, H5P_DEFAULT) <= 0 || H5Ldelete(g, name, H5P_DEFAULT) >= 0) &&
            H5Lmove(g, tmp, g, name, H5P_DEFAULT, H5P_DEFAULT) >= 0)
            status = TQ_OK;
        else
            tq_err_set(err, TQ_EIO, "%s: cannot write /accounts/%s", path, name);
    }
done:
    if (g >= 0) H5Gclose(g);
    if (f >= 0 && H5Fclose(f) < 0 && status == TQ_OK) status = TQ_EIO;
    free(all);
    int ok = status == TQ_OK;
    tq_comm_all(comm, &ok);
    if (!ok && status == TQ_OK) {
        status = TQ_EIO;
        tq_err_set(err, status, "%s: writing /accounts/%s failed on rank 0", path, name);
    }
    return status;
}

int tq_result_read_f64(const char *path, const char *dataset, double **v, int64_t *rows,
                       int *width, tq_err *err)
{
    hid_t f = open_dataset_file(path, NULL, H5F_ACC_RDONLY, err);
    int status = TQ_EINVAL, w = 1;
    *v = NULL;
    if (f < 0) return err->status;
    if (H5Lexists(f, dataset, H5P_DEFAULT) <= 0) {
        tq_err_set(err, TQ_EINVAL, "%s: no dataset %s", path, dataset);
        goto done;
    }
    int64_t n = dataset_rows(f, dataset, &w);
    *v = malloc((size_t)(n > 0 ? n : 1) * (size_t)w * sizeof(double));
    if (!*v) {
        status = TQ_ENOMEM;
        tq_err_set(err, status, "out of memory");
        goto done;
    }
    status = read_rows(f, dataset, H5T_NATIVE_DOUBLE, 0, n, w, *v, H5P_DEFAULT);
    if (status != TQ_OK) {
        tq_err_set(err, status, "%s: cannot read %s", path, dataset);
        free(*v);
        *v = NULL;
        goto done;
    }
    if (rows) *rows = n;
    if (width) *width = w;
done:
    H5Fclose(f);
    return status;
}

int tq_result_read_rows_i32(const char *path, const tq_comm *comm, const char *dataset,
                            int32_t **v, int64_t *nlocal, tq_err *err)
{
    hid_t f = open_dataset_file(path, comm, H5F_ACC_RDONLY, err);
    int status = TQ_EINVAL;
    *v = NULL;
    if (f < 0) return err->status;
    if (H5Lexists(f, dataset, H5P_DEFAULT) <= 0) {  /* dataset given as "group/name" */
        tq_err_set(err, TQ_EINVAL, "%s: no dataset %s", path, dataset);
        goto done;
    }
    tq_blocks b;
    int64_t lo, hi;
    tq_blocks_init(&b, dataset_rows(f, dataset, NULL));
    tq_blocks_of_rank(&b, tq_comm_rank(comm), tq_comm_size(comm), NULL, NULL, &lo, &hi);
    *v = malloc((size_t)(hi - lo > 0 ? hi - lo : 1) * sizeof(int32_t));
    if (!*v) {
        status = TQ_ENOMEM;
        tq_err_set(err, status, "out of memory");
        goto done;
    }
    status = read_rows(f, dataset, H5T_NATIVE_INT32, lo, hi, 1, *v, H5P_DEFAULT);
    if (status != TQ_OK) {
        tq_err_set(err, status, "%s: cannot read %s", path, dataset);
        free(*v);
        *v = NULL;
        goto done;
    }
    *nlocal = hi - lo;
done:
    H5Fclose(f);
    return status;
}

/* The object `object` ("/" or a path) of the dataset file at path, opened read-only:
 * its id (close it, then *f), or a negative id when the file or the object is not there
 * (*f is then closed already). */
static hid_t open_object(const char *path, const char *object, hid_t *f)
{
    tq_err err;
    hid_t o = H5I_INVALID_HID;
    *f = open_dataset_file(path, NULL, H5F_ACC_RDONLY, &err);
    if (*f < 0) return H5I_INVALID_HID;
    if (H5Lexists(*f, object, H5P_DEFAULT) > 0 || !strcmp(object, "/"))
        o = H5Oopen(*f, object, H5P_DEFAULT);
    if (o < 0) H5Fclose(*f);
    return o;
}

char *tq_data_attr_str(const char *path, const char *object, const char *name)
{
    hid_t f, o = open_object(path, object, &f);
    if (o < 0) return NULL;
    char *out = attr_read_str(o, name);
    H5Oclose(o);
    H5Fclose(f);
    return out;
}

int tq_data_attr_f64v(const char *path, const char *object, const char *name, double **v,
                      int *n)
{
    int status = TQ_EIO;
    *v = NULL;
    *n = 0;
    hid_t f, o = open_object(path, object, &f);
    if (o < 0) return TQ_EIO;
    if (H5Aexists(o, name) > 0) {
        hid_t a = H5Aopen(o, name, H5P_DEFAULT), sp = a >= 0 ? H5Aget_space(a) : -1;
        hssize_t m = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
        if (m >= 0 && m < (1 << 24)) {
            *v = malloc((size_t)(m ? m : 1) * sizeof **v);
            if (*v && H5Aread(a, H5T_NATIVE_DOUBLE, *v) >= 0) {
                *n = (int)m;
                status = TQ_OK;
            } else {
                free(*v);
                *v = NULL;
            }
        }
        if (sp >= 0) H5Sclose(sp);
        if (a >= 0) H5Aclose(a);
    }
    H5Oclose(o);
    H5Fclose(f);
    return status;
}

const char *tq_attr_record(const char *records, const char *name)
{
    size_t nl = strlen(name);
    for (const char *r = records; r && *r;) {
        size_t rl = strcspn(r, "\x1e");
        if (rl > nl && !strncmp(r, name, nl) && r[nl] == '\x1f') return r + nl + 1;
        r += rl + (r[rl] != 0);
    }
    return NULL;
}

double tq_data_attr_f64(const char *path, const char *object, const char *name)
{
    double v = NAN;
    hid_t f, o = open_object(path, object, &f);
    if (o < 0) return NAN;
    if (attr_read(o, name, H5T_NATIVE_DOUBLE, &v) != TQ_OK) v = NAN;
    H5Oclose(o);
    H5Fclose(f);
    return v;
}
