#include "tq_out.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tq_out_open(tq_out *o, const char *path, tq_err *err)
{
    size_t n = strlen(path) + 32;
    memset(o, 0, sizeof *o);
    if (!*path) {
        tq_err_set(err, TQ_EINVAL, "an output file name is empty");
        return TQ_EINVAL;
    }
    o->path = strdup(path);
    o->tmp = malloc(n);
    if (!o->path || !o->tmp) {
        tq_out_abort(o);
        tq_err_set(err, TQ_ENOMEM, "out of memory");
        return TQ_ENOMEM;
    }
    snprintf(o->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    o->f = fopen(o->tmp, "w");
    if (!o->f) {
        tq_err_set(err, TQ_EIO, "%s: cannot create: %s", o->path, strerror(errno));
        tq_out_abort(o);
        return TQ_EIO;
    }
    return TQ_OK;
}

int tq_out_commit(tq_out *o, tq_err *err)
{
    int status = TQ_OK;
    if (!o->f) {
        tq_err_set(err, TQ_EINTERNAL, "output file not open");
        return TQ_EINTERNAL;
    }
    int bad = ferror(o->f);
    if (fclose(o->f) != 0 || bad) {
        tq_err_set(err, TQ_EIO, "%s: write failed (disk full?)", o->path);
        status = TQ_EIO;
    }
    o->f = NULL;
    if (status == TQ_OK && rename(o->tmp, o->path) != 0) {
        tq_err_set(err, TQ_EIO, "cannot rename %s to %s: %s", o->tmp, o->path, strerror(errno));
        status = TQ_EIO;
    }
    if (status != TQ_OK) unlink(o->tmp);
    free(o->path);
    free(o->tmp);
    o->path = o->tmp = NULL;
    return status;
}

void tq_out_abort(tq_out *o)
{
    if (!o) return;
    if (o->f) fclose(o->f);
    if (o->tmp) unlink(o->tmp);
    free(o->path);
    free(o->tmp);
    memset(o, 0, sizeof *o);
}
