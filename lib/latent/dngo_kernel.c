/*
 * One Adam step of DNGO's one-hidden-layer tanh network (lib/latent/predictors.py), in C.
 *
 * Bit-identical to the NumPy code path by construction: the matrix products
 * call the very BLAS routines NumPy's matmul calls for these shapes (NumPy's
 * own OpenBLAS, whose function pointers the loader passes in), every other
 * operation is one IEEE-754 operation in the order the NumPy expressions
 * evaluate it (compiled with -ffp-contract=off: no fused multiply-adds), the
 * sums follow NumPy's reduction order (pairwise for a contiguous vector,
 * row by row for the columns of a matrix), and the tanh stays NumPy's own
 * (the caller applies np.tanh between dngo_forward and dngo_step).
 * lib/latent/dngo_kernel.py checks this against the NumPy path when it loads.
 */
#include <math.h>
#include <stdint.h>

typedef void (*gemm_t)(int, int, int, int64_t, int64_t, int64_t, double, const double *, int64_t,
                       const double *, int64_t, double, double *, int64_t);
typedef void (*gemv_t)(int, int, int64_t, int64_t, double, const double *, int64_t, const double *, int64_t,
                       double, double *, int64_t);
typedef double (*dot_t)(int64_t, const double *, int64_t, const double *, int64_t);

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

typedef struct {
    gemm_t gemm;
    gemv_t gemv;
    dot_t dot;
    int64_t d, h;        /* inputs, hidden units; flat = [W1 (d, h), b1 (h), W2 (h, 1), b2 (1)] */
    double *flat, *grad, *moment, *square;
    const double *x, *y; /* the epoch's rows in batch order: x (n, d), y (n) */
    double *z;           /* (batch, h): pre-activations, made tanh in place by the caller */
    double *out, *delta, *delta1;
} dngo_ctx;

/* NumPy's pairwise sum of n contiguous doubles (numpy/_core/src/umath/loops_utils.h.src), n <= 128. */
static double pairwise_sum(const double *a, int64_t n) {
    if (n < 8) {
        double res = 0.;
        for (int64_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    double r[8];
    int64_t i;
    for (i = 0; i < 8; i++) r[i] = a[i];
    for (i = 8; i < n - (n % 8); i += 8)
        for (int j = 0; j < 8; j++) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[i];
    return res;
}

/* z = x[i : i + m] @ W1 + b1 */
void dngo_forward(dngo_ctx *c, int64_t i, int64_t m) {
    const int64_t d = c->d, h = c->h;
    const double *x = c->x + i * d, *w1 = c->flat, *b1 = c->flat + d * h;
    if (m == 1)
        c->gemv(ROW_MAJOR, TRANS, d, h, 1.0, w1, h, x, 1, 0.0, c->z, 1);
    else
        c->gemm(ROW_MAJOR, NO_TRANS, NO_TRANS, m, h, d, 1.0, x, d, w1, h, 0.0, c->z, h);
    for (int64_t r = 0; r < m; r++)
        for (int64_t k = 0; k < h; k++) c->z[r * h + k] = c->z[r * h + k] + b1[k];
}

/* Gradients of the batch (z holds its tanh activations), then Adam with
 * step_scale = lr / (1 - 0.9^t) and correction2 = 1 - 0.999^t. */
void dngo_step(dngo_ctx *c, int64_t i, int64_t m, double step_scale, double correction2) {
    const int64_t d = c->d, h = c->h, size = d * h + h + h + 1;
    const double *x = c->x + i * d, *y = c->y + i, *a = c->z;
    const double *w2 = c->flat + d * h + h, *b2 = w2 + h;
    double *gw1 = c->grad, *gb1 = gw1 + d * h, *gw2 = gb1 + h, *gb2 = gw2 + h;
    double *out = c->out, *delta = c->delta, *delta1 = c->delta1;

    if (m == 1)
        out[0] = c->dot(h, a, 1, w2, 1);
    else
        c->gemv(ROW_MAJOR, NO_TRANS, m, h, 1.0, a, h, w2, 1, 0.0, out, 1);
    for (int64_t r = 0; r < m; r++) {
        double o = out[r] + b2[0];
        double diff = o - y[r];
        double twice = 2.0 * diff;
        delta[r] = twice / (double)m;
    }
    c->gemv(ROW_MAJOR, TRANS, m, h, 1.0, a, h, delta, 1, 0.0, gw2, 1);
    gb2[0] = 0.0 + pairwise_sum(delta, m);
    for (int64_t r = 0; r < m; r++)
        for (int64_t k = 0; k < h; k++) {
            double act = a[r * h + k];
            double square = act * act;
            double slope = 1.0 - square;
            double back = delta[r] * w2[k];
            delta1[r * h + k] = back * slope;
        }
    c->gemm(ROW_MAJOR, TRANS, NO_TRANS, d, h, m, 1.0, x, d, delta1, h, 0.0, gw1, h);
    for (int64_t k = 0; k < h; k++) gb1[k] = delta1[k];
    for (int64_t r = 1; r < m; r++)
        for (int64_t k = 0; k < h; k++) gb1[k] = gb1[k] + delta1[r * h + k];

    double *flat = c->flat, *grad = c->grad, *moment = c->moment, *sq = c->square;
    for (int64_t k = 0; k < size; k++) {
        double g = grad[k];
        double mo = moment[k] * 0.9;
        double s = g * 0.1;
        mo = mo + s;
        moment[k] = mo;
        double v = sq[k] * 0.999;
        double s2 = g * 0.001;
        s2 = s2 * g;
        v = v + s2;
        sq[k] = v;
        double den = v / correction2;
        den = sqrt(den);
        den = den + 1e-8;
        double u = mo * step_scale;
        u = u / den;
        flat[k] = flat[k] - u;
    }
}
