/* Coral's multi-pose PoseNet decoder (libcoral posenet_decoder.cc), the same algorithm as
 * appliance/pose/decode.py (numpy), in plain C. Loaded with ctypes (appliance/pose/decode.py):
 * no Python headers, no JIT, no LLVM in the running process.
 *
 * Everything is in (y, x) grid cells: the caller scales by the stride. Tables are float32,
 * C-contiguous: heat (h, w, 17) logits, short (h, w, 34) and mid (h, w, 64) offsets in pixels.
 *
 * It gives the op's output exactly: the same float32 arithmetic in the same order (bilinear
 * sampling, clamping, sigmoid with expf, scores summed from the best keypoint down), and root
 * candidates taken in the order of libcoral's std::priority_queue, whose binary heap does not keep
 * tied scores (many, from quantised heatmaps) in push order: heap_push and heap_pop below make
 * libstdc++'s moves. Offsets are scaled by 1/stride after sampling rather than before (the op scales
 * the tables); for a power-of-two stride that is exact.
 */
/* No fused multiply-add: the op rounds every product. GCC contracts nothing in ISO C mode (-std=c99,
 * as pyproject builds it); clang needs telling. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define NK 17
#define NSTEPS 16
#define REFINE 5

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : (hi < v ? hi : v); }

/* Bilinear sample of channels c0 and c1 of a (h, w, k) table at (y, x), libcoral's
 * SampleTensorAtMultipleChannels expression for expression. */
static inline void bilinear2(const float *t, int h, int w, int k, float y, float x, int c0, int c1,
                             float *r0, float *r1) {
    float yp = clampf(y, 0.0f, h - 1.0f), xp = clampf(x, 0.0f, w - 1.0f);
    int y0 = (int)floorf(yp), y1 = (int)ceilf(yp), x0 = (int)floorf(xp), x1 = (int)ceilf(xp);
    float a = y - y0, b = x - x0;
    const float *tl = t + ((size_t)y0 * w + x0) * k, *tr = t + ((size_t)y0 * w + x1) * k;
    const float *bl = t + ((size_t)y1 * w + x0) * k, *br = t + ((size_t)y1 * w + x1) * k;
    *r0 = (1 - a) * ((1 - b) * tl[c0] + b * tr[c0]) + a * ((1 - b) * bl[c0] + b * br[c0]);
    if (r1) *r1 = (1 - a) * ((1 - b) * tl[c1] + b * tr[c1]) + a * ((1 - b) * bl[c1] + b * br[c1]);
}

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* The mean of 17 probabilities, summed in float from the largest down and skipping masked ones
 * (``skip`` may be NULL): the op's DecreasingArgSort, then its float sum (equal values may come in
 * any order: the sum is the same). */
static float mean_desc(const float *p, const unsigned char *skip) {
    int idx[NK];
    for (int k = 0; k < NK; k++) {
        int j = k;
        while (j > 0 && p[idx[j - 1]] < p[k]) { idx[j] = idx[j - 1]; j--; }
        idx[j] = k;
    }
    float total = 0.0f;
    for (int k = 0; k < NK; k++)
        if (!skip || !skip[idx[k]]) total += p[idx[k]];
    return total / NK;
}

typedef struct { float score; int index; } Ranked;

/* std::push_heap on heap[0..n] (the new item at n), max-heap by score only. */
static void heap_push(Ranked *heap, int n, Ranked v) {
    int hole = n, parent = (hole - 1) / 2;
    while (hole > 0 && heap[parent].score < v.score) {
        heap[hole] = heap[parent];
        hole = parent;
        parent = (hole - 1) / 2;
    }
    heap[hole] = v;
}

/* std::pop_heap on heap[0..n) and pop_back: returns the top; heap[0..n-1) stays a heap. The hole
 * left at the top goes down to a leaf along the larger child (the right one on a tie), then the
 * last item is pushed up from there (libstdc++ __adjust_heap). */
static Ranked heap_pop(Ranked *heap, int n) {
    Ranked top = heap[0], v = heap[n - 1];
    int len = n - 1, hole = 0, child = 0;
    if (len <= 0) return top;
    while (child < (len - 1) / 2) {
        child = 2 * (child + 1);
        if (heap[child].score < heap[child - 1].score) child--;
        heap[hole] = heap[child];
        hole = child;
    }
    if ((len & 1) == 0 && child == (len - 2) / 2) {
        child = 2 * (child + 1);
        heap[hole] = heap[child - 1];
        hole = child - 1;
    }
    heap_push(heap, hole, v);
    return top;
}

/* Descending score; equal scores keep their order (std::sort's insertion sort for up to 16). */
static int by_score_desc(const void *pa, const void *pb) {
    const Ranked *a = pa, *b = pb;
    if (a->score > b->score) return -1;
    if (a->score < b->score) return 1;
    return a->index - b->index;
}

/* Decode every person. steps: int64 (17, 16, 3) per root keypoint the directed edges in walk order
 * (source, target, mid-offset dy channel). thr_logit and score_threshold are float32 values (the
 * op's). Writes at most max_poses poses, best first, to out_pos (max_poses, 17, 2) cells,
 * out_probs (max_poses, 17), out_scores (max_poses); returns how many, or -1 when memory ran out. */
int posenet_decode(const float *heat, const float *shortoff, const float *mid, int h, int w,
                   double inv_stride_d, double thr_logit_d, double score_threshold_d, double r2_d,
                   int max_poses, const int64_t *steps, float *out_pos, float *out_probs,
                   float *out_scores) {
    if (max_poses <= 0 || h <= 0 || w <= 0) return 0;
    const float inv_stride = (float)inv_stride_d, thr_logit = (float)thr_logit_d;
    const float score_threshold = (float)score_threshold_d, r2 = (float)r2_d;
    const float hmax = h - 1.0f, wmax = w - 1.0f;
    size_t cells = (size_t)h * w * NK;
    Ranked *heap = malloc(cells * sizeof(Ranked));
    float *pos = malloc((size_t)max_poses * NK * 2 * sizeof(float));
    float *probs = malloc((size_t)max_poses * NK * sizeof(float));
    float *inst = malloc((size_t)max_poses * sizeof(float));
    Ranked *order = malloc((size_t)max_poses * sizeof(Ranked));
    float *rescored = malloc((size_t)max_poses * sizeof(float));
    if (!heap || !pos || !probs || !inst || !order || !rescored) {
        free(heap); free(pos); free(probs); free(inst); free(order); free(rescored);
        return -1;
    }
    /* 1. Root candidates, pushed in scan order (y, x, keypoint): logit >= threshold and no strictly
     * greater 3x3 neighbour. */
    int n = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < NK; k++) {
                float v = heat[((size_t)y * w + x) * NK + k];
                if (!(v >= thr_logit)) continue;
                int is_max = 1;
                for (int yy = y > 0 ? y - 1 : 0; yy < (y + 2 < h ? y + 2 : h) && is_max; yy++)
                    for (int xx = x > 0 ? x - 1 : 0; xx < (x + 2 < w ? x + 2 : w); xx++)
                        if (heat[((size_t)yy * w + xx) * NK + k] > v) { is_max = 0; break; }
                if (is_max) {
                    Ranked r = {v, (int)(((size_t)y * w + x) * NK + k)};
                    heap_push(heap, n++, r);
                }
            }

    /* 2. and 3. Roots best first, skipped near an accepted pose's same keypoint; a pose per root. */
    int count = 0;
    float cur[NK][2];
    while (n > 0 && count < max_poses) {
        Ranked top = heap_pop(heap, n--);
        int idx = top.index, k = idx % NK, cell = idx / NK, y = cell / w, x = cell % w;
        size_t at = (size_t)cell * 2 * NK;
        float ry = clampf(y + shortoff[at + k] * inv_stride, 0.0f, hmax);
        float rx = clampf(x + shortoff[at + NK + k] * inv_stride, 0.0f, wmax);
        int suppressed = 0;
        for (int a = 0; a < count && !suppressed; a++) {
            float dy = pos[(a * NK + k) * 2] - ry, dx = pos[(a * NK + k) * 2 + 1] - rx;
            suppressed = dy * dy + dx * dx <= r2;
        }
        if (suppressed) continue;
        cur[k][0] = ry;
        cur[k][1] = rx;
        for (int s = 0; s < NSTEPS; s++) {
            const int64_t *st = steps + ((size_t)k * NSTEPS + s) * 3;
            int src = (int)st[0], tgt = (int)st[1], ch = (int)st[2];
            float py = cur[src][0], px = cur[src][1], dy, dx;
            bilinear2(mid, h, w, 64, py, px, ch, ch + 16, &dy, &dx);
            py = clampf(py + dy * inv_stride, 0.0f, hmax);
            px = clampf(px + dx * inv_stride, 0.0f, wmax);
            for (int r = 0; r < REFINE; r++) {
                bilinear2(shortoff, h, w, 2 * NK, py, px, tgt, tgt + NK, &dy, &dx);
                py = clampf(py + dy * inv_stride, 0.0f, hmax);
                px = clampf(px + dx * inv_stride, 0.0f, wmax);
            }
            cur[tgt][0] = py;
            cur[tgt][1] = px;
        }
        float *p = probs + (size_t)count * NK;
        for (int kk = 0; kk < NK; kk++) {
            float logit;
            bilinear2(heat, h, w, NK, cur[kk][0], cur[kk][1], kk, kk, &logit, NULL);
            p[kk] = sigmoidf(logit);
        }
        float score = mean_desc(p, NULL);
        if (score >= score_threshold) {
            for (int kk = 0; kk < NK; kk++) {
                pos[(count * NK + kk) * 2] = cur[kk][0];
                pos[(count * NK + kk) * 2 + 1] = cur[kk][1];
            }
            inst[count++] = score;
        }
    }

    /* 4. Soft keypoint NMS: rescore without keypoints a better pose already claims. */
    for (int i = 0; i < count; i++) { order[i].score = inst[i]; order[i].index = i; }
    qsort(order, count, sizeof(Ranked), by_score_desc);
    for (int ii = 0; ii < count; ii++) {
        int i = order[ii].index;
        unsigned char occluded[NK] = {0};
        for (int k = 0; k < NK; k++)
            for (int jj = 0; jj < ii && !occluded[k]; jj++) {
                int j = order[jj].index;
                float dy = pos[(j * NK + k) * 2] - pos[(i * NK + k) * 2];
                float dx = pos[(j * NK + k) * 2 + 1] - pos[(i * NK + k) * 2 + 1];
                occluded[k] = dy * dy + dx * dx <= r2;
            }
        rescored[i] = mean_desc(probs + (size_t)i * NK, occluded);
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
    free(heap); free(pos); free(probs); free(inst); free(order); free(rescored);
    return out;
}
