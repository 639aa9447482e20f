/* Coral's multi-pose PoseNet decoder (libcoral posenet_decoder.cc), the same algorithm as
 * appliance/pose/decode.py (numpy), in plain C. Loaded with ctypes (appliance/pose/_decode_c.py):
 * no Python headers, no JIT, no LLVM in the running process.
 *
 * Everything is in (y, x) grid cells: the caller scales by the stride. Tables are float32,
 * C-contiguous: heat (h, w, 17) logits, short (h, w, 34) and mid (h, w, 64) offsets in pixels.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define NK 17
#define NSTEPS 16
#define REFINE 5

static inline double clampd(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Bilinear sample of channel c of a (h, w, k) table at (y, x), clamped to the grid. */
static inline double bilinear(const float *t, int h, int w, int k, double y, double x, int c) {
    y = clampd(y, 0.0, h - 1.0);
    x = clampd(x, 0.0, w - 1.0);
    int y0 = (int)floor(y), x0 = (int)floor(x);
    int y1 = y0 + 1 < h ? y0 + 1 : h - 1, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
    float a = (float)(y - y0), b = (float)(x - x0);
    float t00 = t[((size_t)y0 * w + x0) * k + c], t01 = t[((size_t)y0 * w + x1) * k + c];
    float t10 = t[((size_t)y1 * w + x0) * k + c], t11 = t[((size_t)y1 * w + x1) * k + c];
    float top = t00 + b * (t01 - t00);
    float bot = t10 + b * (t11 - t10);
    return (double)(top + a * (bot - top));
}

typedef struct { float score; int index; } Ranked;

/* Descending score; equal scores keep their order (a stable sort, as numpy's mergesort). */
static int by_score_desc(const void *pa, const void *pb) {
    const Ranked *a = pa, *b = pb;
    if (a->score > b->score) return -1;
    if (a->score < b->score) return 1;
    return a->index - b->index;
}

/* Decode every person. steps: int64 (17, 16, 3) per root keypoint the directed edges in walk order
 * (source, target, mid-offset dy channel). Writes at most max_poses poses, best first, to
 * out_pos (max_poses, 17, 2) cells, out_probs (max_poses, 17), out_scores (max_poses); returns how
 * many, or -1 when memory ran out. */
int posenet_decode(const float *heat, const float *shortoff, const float *mid, int h, int w,
                   double inv_stride, double thr_logit, double score_threshold, double r2,
                   int max_poses, const int64_t *steps, float *out_pos, float *out_probs,
                   float *out_scores) {
    if (max_poses <= 0 || h <= 0 || w <= 0) return 0;
    size_t cells = (size_t)h * w * NK;
    Ranked *cand = malloc(cells * sizeof(Ranked));
    float *pos = malloc((size_t)max_poses * NK * 2 * sizeof(float));
    float *probs = malloc((size_t)max_poses * NK * sizeof(float));
    float *inst = malloc((size_t)max_poses * sizeof(float));
    Ranked *order = malloc((size_t)max_poses * sizeof(Ranked));
    float *rescored = malloc((size_t)max_poses * sizeof(float));
    if (!cand || !pos || !probs || !inst || !order || !rescored) {
        free(cand); free(pos); free(probs); free(inst); free(order); free(rescored);
        return -1;
    }
    /* 1. Root candidates: logit >= threshold and no strictly greater 3x3 neighbour. */
    int n = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < NK; k++) {
                float v = heat[((size_t)y * w + x) * NK + k];
                if (v < thr_logit) continue;
                int is_max = 1;
                for (int yy = y > 0 ? y - 1 : 0; yy < (y + 2 < h ? y + 2 : h) && is_max; yy++)
                    for (int xx = x > 0 ? x - 1 : 0; xx < (x + 2 < w ? x + 2 : w); xx++)
                        if (heat[((size_t)yy * w + xx) * NK + k] > v) { is_max = 0; break; }
                if (is_max) { cand[n].score = v; cand[n].index = (int)(((size_t)y * w + x) * NK + k); n++; }
            }
    qsort(cand, n, sizeof(Ranked), by_score_desc);

    /* 2. and 3. Roots in order, skipped near an accepted pose's same keypoint; a pose per root. */
    int count = 0;
    float cur[NK][2];
    for (int oi = 0; oi < n && count < max_poses; oi++) {
        int idx = cand[oi].index, k = idx % NK, cell = idx / NK, y = cell / w, x = cell % w;
        size_t at = (size_t)cell * 2 * NK;
        double ry = clampd(y + shortoff[at + k] * inv_stride, 0.0, h - 1.0);
        double rx = clampd(x + shortoff[at + NK + k] * inv_stride, 0.0, w - 1.0);
        int suppressed = 0;
        for (int a = 0; a < count && !suppressed; a++) {
            double dy = pos[(a * NK + k) * 2] - ry, dx = pos[(a * NK + k) * 2 + 1] - rx;
            suppressed = dy * dy + dx * dx <= r2;
        }
        if (suppressed) continue;
        cur[k][0] = (float)ry;
        cur[k][1] = (float)rx;
        for (int s = 0; s < NSTEPS; s++) {
            const int64_t *st = steps + ((size_t)k * NSTEPS + s) * 3;
            int src = (int)st[0], tgt = (int)st[1], ch = (int)st[2];
            double py = cur[src][0], px = cur[src][1];
            double dy = bilinear(mid, h, w, 64, py, px, ch) * inv_stride;
            double dx = bilinear(mid, h, w, 64, py, px, ch + 16) * inv_stride;
            py = clampd(py + dy, 0.0, h - 1.0);
            px = clampd(px + dx, 0.0, w - 1.0);
            for (int r = 0; r < REFINE; r++) {
                dy = bilinear(shortoff, h, w, 2 * NK, py, px, tgt) * inv_stride;
                dx = bilinear(shortoff, h, w, 2 * NK, py, px, tgt + NK) * inv_stride;
                py = clampd(py + dy, 0.0, h - 1.0);
                px = clampd(px + dx, 0.0, w - 1.0);
            }
            cur[tgt][0] = (float)py;
            cur[tgt][1] = (float)px;
        }
        double total = 0.0;
        for (int kk = 0; kk < NK; kk++) {
            double p = 1.0 / (1.0 + exp(-bilinear(heat, h, w, NK, cur[kk][0], cur[kk][1], kk)));
            probs[count * NK + kk] = (float)p;
            total += p;
        }
        double score = total / NK;
        if (score >= score_threshold) {
            for (int kk = 0; kk < NK; kk++) {
                pos[(count * NK + kk) * 2] = cur[kk][0];
                pos[(count * NK + kk) * 2 + 1] = cur[kk][1];
            }
            inst[count++] = (float)score;
        }
    }

    /* 4. Soft keypoint NMS: rescore without keypoints a better pose already claims. */
    for (int i = 0; i < count; i++) { order[i].score = inst[i]; order[i].index = i; }
    qsort(order, count, sizeof(Ranked), by_score_desc);
    for (int ii = 0; ii < count; ii++) {
        int i = order[ii].index;
        float total = 0.0f;
        for (int k = 0; k < NK; k++) {
            int occluded = 0;
            for (int jj = 0; jj < ii && !occluded; jj++) {
                int j = order[jj].index;
                float dy = pos[(i * NK + k) * 2] - pos[(j * NK + k) * 2];
                float dx = pos[(i * NK + k) * 2 + 1] - pos[(j * NK + k) * 2 + 1];
                occluded = dy * dy + dx * dx <= r2;
            }
            if (!occluded) total += probs[i * NK + k];
        }
        rescored[i] = total / (float)NK;
    }
    for (int i = 0; i < count; i++) { order[i].score = rescored[i]; order[i].index = i; }
    qsort(order, count, sizeof(Ranked), by_score_desc);
    int out = 0;
    while (out < count && order[out].score >= score_threshold) {
        int i = order[out].index;
        for (int k = 0; k < NK; k++) {
            out_pos[(out * NK + k) * 2] = pos[(i * NK + k) * 2];
            out_pos[(out * NK + k) * 2 + 1] = pos[(i * NK + k) * 2 + 1];
            out_probs[out * NK + k] = probs[i * NK + k];
        }
        out_scores[out] = rescored[i];
        out++;
    }
    free(cand); free(pos); free(probs); free(inst); free(order); free(rescored);
    return out;
}
