/* tq_out.h: text output files written atomically: PATH.tmp.PID, renamed onto PATH only
 * when complete and flushed; a failed or abandoned file leaves nothing behind. */
#ifndef TQ_OUT_H
#define TQ_OUT_H

#include <stdio.h>

#include "tq_data.h"

typedef struct {
    FILE *f;
    char *path, *tmp;
} tq_out;

int tq_out_open(tq_out *o, const char *path, tq_err *err);
/* Flush, fsync-free close, check for write errors, rename. Always releases o. */
int tq_out_commit(tq_out *o, tq_err *err);
/* Close and delete the temporary file. NULL-safe, idempotent. */
void tq_out_abort(tq_out *o);

#endif
