/* Adam, AdamW, gradient clipping and learning-rate schedules. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "optim.h"
#include "rng.h"

static void test_adam_first_step_by_hand(void)
{
    /* At t = 1 the bias corrections make m_hat = g and v_hat = g^2, so the step is
     * lr g / (|g| + eps). */
    sl_adam a;
    CHECK(sl_adam_init(&a, 2, NULL) == 0);
    float p[2] = {0.5f, -2.0f}, g[2] = {0.3f, -4e-9f};
    sl_adam_step(&a, p, g, 0.01);
    CHECK(a.step == 1);
    CHECK_NEAR(p[0], 0.5 - 0.01 * 0.3 / (0.3 + 1e-8), 1e-7);
    /* A gradient below eps moves less than lr: 4e-9 / (4e-9 + 1e-8) of it. */
    CHECK_NEAR(p[1], -2.0 + 0.01 * 4e-9 / (4e-9 + 1e-8), 2e-7);
    CHECK_NEAR(a.m[0], 0.1 * 0.3, 1e-8);
    CHECK_NEAR(a.v[0], 0.001 * 0.3 * 0.3, 1e-10);
    sl_adam_free(&a);
}

static void test_adam_matches_torch(void)
{
    /* torch.optim.Adam / AdamW (float32), lr 0.01, betas (0.9, 0.999), eps 1e-8,
     * three steps with the gradients below; rows are after steps 1, 2, 3. */
    static const float grads[3][4] = {
        {0.3f, -0.2f, 1e-3f, 0}, {-0.1f, 0.4f, 2e-3f, 0}, {0.25f, 0.25f, -5e-4f, 0}};
    static const double want[3][3][4] = {
        {{0.49000000953674316, -1.2400000095367432, 1.9900001287460327, 0},
         {0.4859978258609772, -1.2436610460281372, 1.9803483486175537, 0},
         {0.4796077311038971, -1.2492494583129883, 1.9744622707366943, 0}},
        {{0.49000000953674316, -1.2400000095367432, 1.9900000095367432, 0}, /* Adam, wd 0.1 */
         {0.4844430387020111, -1.2397119998931885, 1.9800000190734863, 0},
         {0.4770393669605255, -1.2413105964660645, 1.9700065851211548, 0}},
        {{0.4895000159740448, -1.2387499809265137, 1.9880001544952393, 0}, /* AdamW, wd 0.1 */
         {0.4850083291530609, -1.2411723136901855, 1.9763604402542114, 0},
         {0.4781332314014435, -1.2455195188522339, 1.9684979915618896, 0}},
    };
    for (int c = 0; c < 3; c++) {
        sl_adam a;
        CHECK(sl_adam_init(&a, 4, NULL) == 0);
        a.kind = c == 2 ? SL_OPT_ADAMW : SL_OPT_ADAM;
        a.weight_decay = c == 0 ? 0 : 0.1;
        CHECK(sl_adam_check(&a, NULL) == 0);
        float p[4] = {0.5f, -1.25f, 2.0f, 0.0f};
        for (int s = 0; s < 3; s++) {
            sl_adam_step(&a, p, grads[s], 0.01);
            for (int i = 0; i < 4; i++)
                CHECK_NEAR(p[i], want[c][s][i], 3e-7);
        }
        sl_adam_free(&a);
    }
}

/* An objective: returns f(x) and writes its gradient into g. */
typedef double (*objective)(const float *x, float *g);

static double quadratic(const float *x, float *g)
{
    double f = 0;
    for (int i = 0; i < 10; i++) {
        double c = 0.1 * (i + 1) * (i + 1), t = 0.7 * i - 3;
        f += c * (x[i] - t) * (x[i] - t);
        g[i] = (float)(2 * c * (x[i] - t));
    }
    return f;
}

static double rosenbrock(const float *x, float *g)
{
    double a = 1 - x[0], b = x[1] - (double)x[0] * x[0];
    g[0] = (float)(-2 * a - 400 * x[0] * b);
    g[1] = (float)(200 * b);
    return a * a + 100 * b * b;
}

/* Runs `steps` Adam steps on fn from x, with learning rates from s. */
static void minimise(objective fn, float *x, size_t n, const sl_lr_schedule *s, int steps)
{
    sl_adam a;
    float g[10];
    CHECK(sl_adam_init(&a, n, NULL) == 0);
    for (int k = 0; k < steps; k++) {
        fn(x, g);
        sl_adam_step(&a, x, g, sl_lr_at(s, k));
    }
    sl_adam_free(&a);
}

static void test_converges(void)
{
    float x[10] = {0};
    sl_lr_schedule s = {SL_LR_COSINE, 0.05, 1e-4, 10, 3000};
    float g[10];
    double f0 = quadratic(x, g);
    minimise(quadratic, x, 10, &s, 3000);
    for (int i = 0; i < 10; i++)
        CHECK_NEAR(x[i], 0.7 * i - 3, 1e-3);
    CHECK(quadratic(x, g) < 1e-6 * f0);

    float r[2] = {-1.5f, 2.0f};
    s = (sl_lr_schedule){SL_LR_COSINE, 0.02, 1e-5, 100, 20000};
    minimise(rosenbrock, r, 2, &s, 20000);
    CHECK_NEAR(r[0], 1.0, 1e-3);
    CHECK_NEAR(r[1], 1.0, 2e-3);
    CHECK(rosenbrock(r, g) < 1e-6);
}

static void test_adamw_decay_is_decoupled(void)
{
    /* A parameter whose gradient is always 0 has m = v = 0, so AdamW moves it by
     * the decay alone: p <- p - lr wd p, exactly, at every step. */
    sl_adam a;
    CHECK(sl_adam_init(&a, 3, NULL) == 0);
    a.kind = SL_OPT_ADAMW;
    a.weight_decay = 0.05;
    float p[3] = {1.5f, -0.75f, 0.3f}, g[3] = {0, 0, 0};
    for (int k = 0; k < 5; k++) {
        double lr = 0.01 * (k + 1);
        float want[3];
        for (int i = 0; i < 3; i++)
            want[i] = (float)(p[i] - lr * 0.05 * p[i]);
        sl_adam_step(&a, p, g, lr);
        for (int i = 0; i < 3; i++)
            CHECK(p[i] == want[i]);
    }
    /* Adam's L2 decay goes through the moments instead: the first step of a
     * zero-gradient parameter is lr sign(p), whatever wd is. */
    sl_adam b;
    CHECK(sl_adam_init(&b, 1, NULL) == 0);
    b.weight_decay = 0.05;
    float q = 1.5f, zero = 0;
    sl_adam_step(&b, &q, &zero, 0.01);
    CHECK_NEAR(q, 1.49, 1e-6);
    /* A slice applied with decay off keeps its value under AdamW. */
    float r = 2.0f;
    sl_adam_tick(&a);
    sl_adam_apply(&a, 2, 1, &r, &zero, 0.01, 0);
    CHECK(r == 2.0f);
    sl_adam_free(&a);
    sl_adam_free(&b);
}

static void test_slices_equal_flat(void)
{
    /* Applying an update to [0, 3) and [3, 7) separately is the flat update. */
    sl_adam a, b;
    CHECK(sl_adam_init(&a, 7, NULL) == 0 && sl_adam_init(&b, 7, NULL) == 0);
    a.kind = b.kind = SL_OPT_ADAMW;
    a.weight_decay = b.weight_decay = 0.01;
    float p[7], q[7], g[7];
    for (int i = 0; i < 7; i++)
        p[i] = q[i] = (float)(0.3 * i - 1);
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < 7; i++)
            g[i] = (float)sin(i + 2.0 * k);
        sl_adam_step(&a, p, g, 1e-2);
        sl_adam_tick(&b);
        sl_adam_apply(&b, 0, 3, q, g, 1e-2, 1);
        sl_adam_apply(&b, 3, 4, q + 3, g + 3, 1e-2, 1);
    }
    CHECK(memcmp(p, q, sizeof p) == 0);
    CHECK(memcmp(a.m, b.m, 7 * sizeof(float)) == 0 && memcmp(a.v, b.v, 7 * sizeof(float)) == 0);
    sl_adam_free(&a);
    sl_adam_free(&b);
}

static void test_clipping(void)
{
    float g[2] = {3, 4};
    CHECK_NEAR(sl_grad_clip_norm(g, 2, 1.0), 5.0, 1e-12);
    CHECK_NEAR(g[0], 0.6, 1e-7);
    CHECK_NEAR(g[1], 0.8, 1e-7);
    CHECK_NEAR(sl_grad_clip_norm(g, 2, 10.0), 1.0, 1e-7);
    CHECK(g[0] == 0.6f && g[1] == 0.8f);
    /* Several arrays: the norm is global and every part is scaled alike. */
    float u[3] = {1, 2, 2}, w[1] = {4};
    double norm = sqrt(sl_grad_sum_squares(u, 3) + sl_grad_sum_squares(w, 1));
    CHECK_NEAR(norm, sqrt(25.0), 1e-12);
    double f = sl_grad_clip_factor(norm, 2.5);
    sl_grad_scale(u, 3, f);
    sl_grad_scale(w, 1, f);
    CHECK_NEAR(u[1], 1.0, 1e-7);
    CHECK_NEAR(w[0], 2.0, 1e-7);
    /* A NaN in the gradient is reported and nothing is scaled. */
    float bad[2] = {NAN, 1};
    CHECK(isnan(sl_grad_clip_norm(bad, 2, 1.0)));
    CHECK(bad[1] == 1);
    float big[2] = {3e38f, 3e38f};
    CHECK_NEAR(sl_grad_clip_norm(big, 2, 1.0), 3e38 * sqrt(2.0), 1e31);
    CHECK_NEAR(big[0], sqrt(0.5), 1e-7);
}

static void test_schedule(void)
{
    sl_lr_schedule c = {SL_LR_CONSTANT, 1e-3, 0, 10, 0};
    CHECK(sl_lr_check(&c, NULL) == 0);
    CHECK_NEAR(sl_lr_at(&c, 0), 1e-4, 1e-18);
    CHECK_NEAR(sl_lr_at(&c, 4), 5e-4, 1e-18);
    CHECK_NEAR(sl_lr_at(&c, 9), 1e-3, 1e-18);
    CHECK(sl_lr_at(&c, 10) == 1e-3 && sl_lr_at(&c, 1000000) == 1e-3);
    sl_lr_schedule s = {SL_LR_COSINE, 1e-3, 1e-5, 100, 1100};
    CHECK(sl_lr_check(&s, NULL) == 0);
    CHECK_NEAR(sl_lr_at(&s, 49), 5e-4, 1e-18);
    CHECK_NEAR(sl_lr_at(&s, 100), 1e-3, 1e-18);
    CHECK_NEAR(sl_lr_at(&s, 350), 1e-5 + (1e-3 - 1e-5) * (1 + sqrt(0.5)) / 2, 1e-17);
    CHECK_NEAR(sl_lr_at(&s, 600), (1e-3 + 1e-5) / 2, 1e-17);
    CHECK_NEAR(sl_lr_at(&s, 1099), 1e-5 + (1e-3 - 1e-5) * (1 + cos(M_PI * 999 / 1000)) / 2, 1e-18);
    CHECK(sl_lr_at(&s, 1100) == 1e-5 && sl_lr_at(&s, 99999) == 1e-5);
    int monotone = 1;
    for (int64_t k = 100; k < 1200; k++)
        monotone &= sl_lr_at(&s, k + 1) <= sl_lr_at(&s, k);
    CHECK(monotone);
    sl_lr_schedule nowarm = {SL_LR_COSINE, 2e-3, 0, 0, 10};
    CHECK(sl_lr_at(&nowarm, 0) == 2e-3);
    CHECK_NEAR(sl_lr_at(&nowarm, 5), 1e-3, 1e-18);

    sl_err err;
    sl_lr_schedule bad = {SL_LR_COSINE, 1e-3, 2e-3, 0, 10};
    CHECK(sl_lr_check(&bad, &err) == -1 && strstr(err.msg, "floor"));
    bad = (sl_lr_schedule){SL_LR_COSINE, 1e-3, 0, 10, 10};
    CHECK(sl_lr_check(&bad, &err) == -1 && strstr(err.msg, "total"));
    bad = (sl_lr_schedule){SL_LR_CONSTANT, 0, 0, 0, 0};
    CHECK(sl_lr_check(&bad, &err) == -1);
    sl_lr_kind k;
    CHECK(sl_lr_kind_parse("cosine", &k) == 0 && k == SL_LR_COSINE);
    CHECK(sl_lr_kind_parse(sl_lr_name(SL_LR_CONSTANT), &k) == 0 && k == SL_LR_CONSTANT);
    CHECK(sl_lr_kind_parse("linear", &k) == -1);
}

static void test_check(void)
{
    sl_adam a;
    sl_err err;
    CHECK(sl_adam_init(&a, 1, NULL) == 0);
    a.beta2 = 1.0;
    CHECK(sl_adam_check(&a, &err) == -1 && strstr(err.msg, "beta2"));
    a.beta2 = 0.999;
    a.eps = 0;
    CHECK(sl_adam_check(&a, &err) == -1 && strstr(err.msg, "eps"));
    a.eps = 1e-8;
    a.weight_decay = -1;
    CHECK(sl_adam_check(&a, &err) == -1 && strstr(err.msg, "decay"));
    sl_adam_free(&a);
}

/* Deterministic noisy gradients of a quadratic, as a training loop would see. */
static void noisy_grad(const float *p, float *g, size_t n, int64_t step)
{
    sl_rng r;
    sl_rng_init(&r, 5, (uint64_t)step, 0);
    for (size_t i = 0; i < n; i++)
        g[i] = (float)(2 * (p[i] - 0.1 * (double)i) + 0.3 * sl_rng_normal(&r));
}

static void run(sl_adam *a, float *p, int steps, const sl_lr_schedule *s)
{
    float g[64];
    for (int k = 0; k < steps; k++) {
        noisy_grad(p, g, a->n, a->step);
        sl_grad_clip_norm(g, a->n, 5.0);
        sl_adam_step(a, p, g, sl_lr_at(s, a->step));
    }
}

static void test_checkpoint_continuation(void)
{
    enum { N = 64 };
    sl_lr_schedule s = {SL_LR_COSINE, 3e-2, 1e-4, 5, 200};
    sl_adam a, b;
    CHECK(sl_adam_init(&a, N, NULL) == 0);
    a.kind = SL_OPT_ADAMW;
    a.weight_decay = 0.01;
    float p[N], q[N];
    for (int i = 0; i < N; i++)
        p[i] = (float)cos(i);
    run(&a, p, 50, &s);
    /* Save parameters and optimizer state through a file, as a checkpoint would. */
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(fwrite(p, sizeof(float), N, f) == N && fwrite(a.m, sizeof(float), N, f) == N
          && fwrite(a.v, sizeof(float), N, f) == N && fwrite(&a.step, sizeof a.step, 1, f) == 1);
    run(&a, p, 100, &s);

    rewind(f);
    CHECK(sl_adam_init(&b, N, NULL) == 0);
    b.kind = SL_OPT_ADAMW;
    b.weight_decay = 0.01;
    CHECK(fread(q, sizeof(float), N, f) == N && fread(b.m, sizeof(float), N, f) == N
          && fread(b.v, sizeof(float), N, f) == N && fread(&b.step, sizeof b.step, 1, f) == 1);
    fclose(f);
    CHECK(b.step == 50);
    run(&b, q, 100, &s);
    CHECK(memcmp(p, q, sizeof p) == 0);
    CHECK(memcmp(a.m, b.m, sizeof p) == 0 && memcmp(a.v, b.v, sizeof p) == 0);
    CHECK(a.step == 150 && b.step == 150);
    sl_adam_free(&a);
    sl_adam_free(&b);
}

int main(void)
{
    RUN(test_adam_first_step_by_hand);
    RUN(test_adam_matches_torch);
    RUN(test_converges);
    RUN(test_adamw_decay_is_decoupled);
    RUN(test_slices_equal_flat);
    RUN(test_clipping);
    RUN(test_schedule);
    RUN(test_check);
    RUN(test_checkpoint_continuation);
    return check_report("test_optim");
}
