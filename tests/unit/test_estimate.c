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

/* Every column sl-encode writes is described (FITS TCOMMn), each from its
 * own row of the schema. */
static void test_describe(void)
{
    static const char *const cases[][2] = {
        {"p_source", "probability that a source's centre is in the tile"},
        {"x", "column of the source's centre (posterior median)"},
        {"x_q05", "5% quantile of the column of the source's centre"},
        {"theta_e_q84", "84% quantile of the Einstein radius"},
        {"galaxy_flux_mean", "posterior mean of the flux of the source if it is a galaxy"},
        {"u_sigma", "standard deviation of the normal z behind the column of the source's centre"},
        {"src_disk_q_mu", "mean of the normal z behind the axis ratio of the disk of the lensed source"},
        {"lens", "1 when P(lens) > 0.5, else 0"},
    };
    char buf[200];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        CHECK(sl_estimate_describe(cases[i][0], buf, sizeof buf) == 1);
        CHECK(!strcmp(buf, cases[i][1]));
    }
    CHECK(sl_estimate_describe("no_such_column", buf, sizeof buf) == 0);
    /* Every column of every row, and its quantiles, mean and z-space columns. */
    static const char *const suffix[] = {"", "_q05", "_q95", "_mean"};
    for (int i = 0; i < sl_estimate_n_params; i++)
        for (int k = 0; k < 4; k++) {
            const sl_estimate_param *p = &sl_estimate_params[i];
            char name[80];
            snprintf(name, sizeof name, "%s%s%s", p->family == SL_FAM_BERNOULLI ? "p_" : "",
                     p->column, p->family == SL_FAM_BERNOULLI ? "" : suffix[k]);
            CHECK(sl_estimate_describe(name, buf, sizeof buf) == 1);
        }
}

int main(void)
{
    RUN(test_rows_match_tasks);
    RUN(test_columns_unique);
    RUN(test_describe);
    return check_report("test_estimate");
}
