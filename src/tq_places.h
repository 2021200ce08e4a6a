/* tq_places.h: the real geography table (inputs/places.csv) the generator samples from. */
#ifndef TQ_PLACES_H
#define TQ_PLACES_H

#include "tq_data.h"

typedef struct {
    int n;
    double *lat, *lon;   /* degrees */
    double *pop;         /* population, > 0 */
    double *cum;         /* cumulative population, cum[n-1] = total */
} tq_places;

/* Loads places of country `iso2` ("all" or NULL for every country) from `path` (NULL:
 * $TQ_PLACES, then <exe>/../inputs/places.csv, then the source tree's inputs/). */
int tq_places_load(const char *path, const char *iso2, tq_places *p, tq_err *err);
void tq_places_free(tq_places *p);
/* Index of the place for a uniform u in [0,1): population-weighted. */
int tq_places_pick(const tq_places *p, double u);

#endif
