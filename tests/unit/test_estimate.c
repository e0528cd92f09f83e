/* The estimate schema against the tasks: every coordinate of every factor
 * an encoder reports has its row, of the factor's family and transform (the
 * transform sl-calibrate measures coverage in), and the rows of a joint
 * factor are its coordinates in order.  Columns are unique. */
#include <string.h>

#include "check.h"
#include "estimate.h"

static int same_transform(sl_transform a, sl_transform b)
{
    return a.kind == b.kind && a.a == b.a && a.b == b.b;
}

static void test_rows_match_tasks(void)
{
    sl_err err;
    for (int k = 0; k < SL_N_TASKS; k++) {
        sl_task t;
        CHECK(sl_task_make(&t, (sl_task_kind)k, 2, 0, 4, 8, 4, 24, &err) == 0);
        /* The lens finder reports its first factor only; lens_u, lens_v
         * place the row (encode.c). */
        int n = k == SL_TASK_LENS_DETECT ? 1 : t.n_factors;
        for (int f = 0; f < n; f++) {
            const sl_family *fam = &t.factor[f].fam;
            for (int i = 0; i < fam->dim; i++) {
                const sl_estimate_param *p = sl_estimate_find(t.kind, t.factor[f].name, i);
                CHECK(p != NULL);
                if (!p) {
                    fprintf(stderr, "no row: %s coordinate %d\n", t.factor[f].name, i);
                    continue;
                }
                CHECK(p->family == fam->kind);
                CHECK(p->per_band == (strchr(t.factor[f].name, '[') != NULL));
                if (fam->kind != SL_FAM_BERNOULLI)
                    CHECK(same_transform(p->tr, fam->tr[fam->kind == SL_FAM_MVN ? i : 0]));
            }
            if (fam->kind == SL_FAM_MVN)
                CHECK(sl_estimate_dim(t.kind, t.factor[f].name) == fam->dim);
        }
    }
}

static void test_columns_unique(void)
{
    for (int i = 0; i < sl_estimate_n_params; i++) {
        const sl_estimate_param *p = &sl_estimate_params[i];
        CHECK(p->desc && p->desc[0]);
        CHECK(p->family == SL_FAM_BERNOULLI || p->truth != NULL);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(p->column, sl_estimate_params[j].column) != 0 ||
                  (p->family == SL_FAM_BERNOULLI) != (sl_estimate_params[j].family ==
                                                      SL_FAM_BERNOULLI));
    }
}

int main(void)
{
    RUN(test_rows_match_tasks);
    RUN(test_columns_unique);
    return check_report("test_estimate");
}
