/* The local AR's whole block decoding for Qwen3 models in one call (built and loaded by qwen3_kernel.py, called by
   qwen3_step.py).

   The same math as qwen3_step.py's tensor ops (weights prepared there: RMSNorm weights folded into the following
   projection, q/k norms per head with 1/sqrt(head_dim) folded into the query's, a rotary table with the rotate-half
   sign in its sine), without the ~80 tensor ops per token whose dispatch costs a CPU more than a small AR's
   arithmetic. Single-threaded.

   Every sum runs in one fixed order whatever the number of rows computed together (see "Matrix products" and
   lane_sum): a row's result does not depend on the batch it is decoded in. */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LANES 16  // lane_sum's shuffles spell out 16 lanes
typedef float lanes_t __attribute__((vector_size(LANES * sizeof(float))));

static lanes_t load(const float *p) {
    lanes_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

typedef float half_t __attribute__((vector_size(LANES / 2 * sizeof(float))));
typedef float quarter_t __attribute__((vector_size(LANES / 4 * sizeof(float))));

static float lane_sum(lanes_t v) {  // halves added lane by lane, then quarters, then (0 + 2) + (1 + 3): one fixed order
    half_t half = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    quarter_t quarter = __builtin_shufflevector(half, half, 0, 1, 2, 3) + __builtin_shufflevector(half, half, 4, 5, 6, 7);
    return (quarter[0] + quarter[2]) + (quarter[1] + quarter[3]);
}

static float dot(const float *x, const float *w, int n) {
    lanes_t acc = {0};
    int k = 0;
    for (; k + LANES <= n; k += LANES) acc += load(x + k) * load(w + k);
    float tail = 0.0f;
    for (; k < n; k++) tail += x[k] * w[k];
    return lane_sum(acc) + tail;
}

/* Matrix products. A weight (out, in) is packed by the caller (qwen3_step.pack_weight) into panels of PANEL output
   columns: (out padded to a multiple of PANEL) / PANEL panels, each (in, PANEL) row-major, the padding zero. Each
   output is summed over k = 0..in-1 in order, one fused multiply-add per term, in a lane of its own: tiling rows and
   columns saves loads and never changes a result. */
#define PANEL (2 * LANES)
#define TILE_ROWS 4

int codila_panel_width(void) { return PANEL; }

static inline __attribute__((always_inline)) void tile(int m, int in, const float *x, const float *panel, float *y, int y_stride,
                                                       int columns, int accumulate) {
    lanes_t acc[TILE_ROWS][2] = {{{0}}};
    for (int k = 0; k < in; k++) {
        lanes_t w0 = load(panel + (size_t)k * PANEL), w1 = load(panel + (size_t)k * PANEL + LANES);
        for (int i = 0; i < m; i++) {
            lanes_t xi = (lanes_t){0} + x[(size_t)i * in + k];
            acc[i][0] += xi * w0;
            acc[i][1] += xi * w1;
        }
    }
    for (int i = 0; i < m; i++) {
        float sums[PANEL];
        memcpy(sums, acc[i], sizeof sums);
        float *target = y + (size_t)i * y_stride;
        for (int c = 0; c < columns; c++) target[c] = accumulate ? target[c] + sums[c] : sums[c];
    }
}

/* y (rows, out) = x (rows, in) @ W.T with W packed, or y += it. */
static void linear(int rows, int in, int out, const float *x, const float *packed, float *y, int accumulate) {
    for (int j = 0; j < out; j += PANEL) {
        const float *panel = packed + (size_t)j * in;  // panel j / PANEL starts after j / PANEL panels of in * PANEL floats
        int columns = out - j < PANEL ? out - j : PANEL;
        for (int r = 0; r < rows; r += TILE_ROWS) {
            const float *xr = x + (size_t)r * in;
            float *yr = y + (size_t)r * out + j;
            switch (rows - r < TILE_ROWS ? rows - r : TILE_ROWS) {  // constant row counts: the tile's loops unroll
                case 1: tile(1, in, xr, panel, yr, out, columns, accumulate); break;
                case 2: tile(2, in, xr, panel, yr, out, columns, accumulate); break;
                case 3: tile(3, in, xr, panel, yr, out, columns, accumulate); break;
                default: tile(4, in, xr, panel, yr, out, columns, accumulate); break;
            }
        }
    }
}

/* x / sqrt(mean(x^2) + eps), times `weight` when given. */
static void rms_scale(const float *x, int n, float eps, const float *weight, float *out) {
    float scale = 1.0f / sqrtf(dot(x, x, n) / (float)n + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * scale * (weight ? weight[i] : 1.0f);
}

/* Norm and rotate one head vector in place at `position`: v * cos + roll(v, hd / 2) * signed_sin. */
static void norm_rotate(float *v, int head_dim, float eps, const float *norm, const float *cos, const float *signed_sin) {
    float normed[head_dim];
    rms_scale(v, head_dim, eps, norm, normed);
    int half = head_dim / 2;
    for (int i = 0; i < head_dim; i++) v[i] = normed[i] * cos[i] + normed[(i + half) % head_dim] * signed_sin[i];
}

enum { N, T, CAPACITY, HIDDEN, HEADS, KV_HEADS, HEAD_DIM, INTERMEDIATE, LAYERS, VOCAB, BLOCK, DIMS };
enum { QKV, QK_NORM, OUTPUT, GATE_UP, DOWN, PER_LAYER };

/* Scratch floats forward() needs for t new positions per row. */
static size_t scratch_floats(const int *dims, int t) {
    int qkv_width = (dims[HEADS] + 2 * dims[KV_HEADS]) * dims[HEAD_DIM];
    return (size_t)dims[N] * t * (2 * dims[HIDDEN] + qkv_width + dims[HEADS] * dims[HEAD_DIM] + 3 * dims[INTERMEDIATE])
           + dims[CAPACITY];
}

/* Logits (n, vocab) of the last of `inputs` (n, t, hidden), at positions past..past+t-1 after the cached ones.
   cache (layers, 2, n, kv_heads, capacity, head_dim): keys and values, positions < past filled; this call fills
   past..past+t-1. weights: per layer qkv, qk_norm (heads + kv_heads, head_dim), output, gate_up, down; then the
   lm_head (vocab, hidden), the final norm folded in; every matrix packed (see "Matrix products"). cos, signed_sin
   (capacity, head_dim). memory: at least scratch_floats(dims, t) floats. */
static void forward(const int *dims, int t, int past, float eps, const float *cos, const float *signed_sin,
                    const float *const *weights, float *cache, const float *inputs, float *logits, float *memory) {
    int n = dims[N], capacity = dims[CAPACITY], hidden = dims[HIDDEN];
    int heads = dims[HEADS], kv_heads = dims[KV_HEADS], head_dim = dims[HEAD_DIM], inter = dims[INTERMEDIATE];
    int rows = n * t, qkv_width = (heads + 2 * kv_heads) * head_dim, group = heads / kv_heads;
    float *h = memory, *x = h + (size_t)rows * hidden, *qkv = x + (size_t)rows * hidden;
    float *attended = qkv + (size_t)rows * qkv_width, *gate_up = attended + (size_t)rows * heads * head_dim;
    float *act = gate_up + (size_t)rows * 2 * inter, *scores = act + (size_t)rows * inter;
    memcpy(h, inputs, (size_t)rows * hidden * sizeof(float));
    size_t kv_block = (size_t)kv_heads * capacity * head_dim;  // one row's keys (or values) of one layer

    for (int layer = 0; layer < dims[LAYERS]; layer++) {
        const float *const *w = weights + layer * PER_LAYER;
        int last = layer == dims[LAYERS] - 1;  // past its keys and values, only each row's last position matters
        float *keys = cache + (size_t)layer * 2 * n * kv_block, *values = keys + (size_t)n * kv_block;
        for (int r = 0; r < rows; r++) rms_scale(h + (size_t)r * hidden, hidden, eps, NULL, x + (size_t)r * hidden);
        linear(rows, hidden, qkv_width, x, w[QKV], qkv, 0);
        for (int r = 0; r < rows; r++) {  // q/k norms and rotation; keys and values into the cache
            int b = r / t, position = past + r % t;
            float *row = qkv + (size_t)r * qkv_width;
            for (int head = 0; head < heads + kv_heads; head++)
                norm_rotate(row + head * head_dim, head_dim, eps, w[QK_NORM] + head * head_dim,
                            cos + (size_t)position * head_dim, signed_sin + (size_t)position * head_dim);
            for (int g = 0; g < kv_heads; g++) {
                size_t slot = b * kv_block + ((size_t)g * capacity + position) * head_dim;
                memcpy(keys + slot, row + (heads + g) * head_dim, head_dim * sizeof(float));
                memcpy(values + slot, row + (heads + kv_heads + g) * head_dim, head_dim * sizeof(float));
            }
        }
        if (last) {  // keep the last position of each row: rows becomes n
            for (int b = 0; b < n; b++) {
                memmove(h + (size_t)b * hidden, h + ((size_t)b * t + t - 1) * hidden, hidden * sizeof(float));
                memmove(qkv + (size_t)b * qkv_width, qkv + ((size_t)b * t + t - 1) * qkv_width, qkv_width * sizeof(float));
            }
            rows = n;
        }
        for (int r = 0; r < rows; r++) {  // causal attention over the cache (queries are pre-scaled)
            int b = last ? r : r / t, position = last ? past + t - 1 : past + r % t;
            for (int head = 0; head < heads; head++) {
                const float *query = qkv + (size_t)r * qkv_width + head * head_dim;
                const float *head_keys = keys + b * kv_block + (size_t)(head / group) * capacity * head_dim;
                const float *head_values = values + b * kv_block + (size_t)(head / group) * capacity * head_dim;
                float top = -INFINITY, total = 0.0f;
                for (int s = 0; s <= position; s++) {
                    scores[s] = dot(query, head_keys + (size_t)s * head_dim, head_dim);
                    top = scores[s] > top ? scores[s] : top;
                }
                for (int s = 0; s <= position; s++) total += scores[s] = expf(scores[s] - top);
                float *out = attended + ((size_t)r * heads + head) * head_dim;
                memset(out, 0, head_dim * sizeof(float));
                for (int s = 0; s <= position; s++) {
                    float p = scores[s] / total;
                    for (int i = 0; i < head_dim; i++) out[i] += p * head_values[(size_t)s * head_dim + i];
                }
            }
        }
        linear(rows, heads * head_dim, hidden, attended, w[OUTPUT], h, 1);
        for (int r = 0; r < rows; r++) rms_scale(h + (size_t)r * hidden, hidden, eps, NULL, x + (size_t)r * hidden);
        linear(rows, hidden, 2 * inter, x, w[GATE_UP], gate_up, 0);
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < inter; i++) {
                float gate = gate_up[(size_t)r * 2 * inter + i], up = gate_up[(size_t)r * 2 * inter + inter + i];
                act[(size_t)r * inter + i] = gate / (1.0f + expf(-gate)) * up;
            }
        linear(rows, inter, hidden, act, w[DOWN], h, 1);
    }
    for (int b = 0; b < n; b++) rms_scale(h + (size_t)b * hidden, hidden, eps, NULL, x + (size_t)b * hidden);
    linear(n, hidden, dims[VOCAB], x, weights[dims[LAYERS] * PER_LAYER], logits, 0);
}

static int argmax(const float *values, int n) {  // the first of equal maxima, as torch's max
    int best = 0;
    for (int i = 1; i < n; i++)
        if (values[i] > values[best]) best = i;
    return best;
}

/* Entropy (nats) of softmax(logits), `best` its largest; -inf logits (banned tokens) count zero. */
static float entropy(const float *logits, int n, int best) {
    float top = logits[best], total = 0.0f, weighted = 0.0f;
    for (int i = 0; i < n; i++)
        if (isfinite(logits[i])) {
            float e = expf(logits[i] - top);
            total += e;
            weighted += e * (logits[i] - top);
        }
    return logf(total) - weighted / total;
}

typedef struct {
    float probability;
    int index;
    float cumulative;
} ranked_t;

static int more_likely_first(const void *a, const void *b) {
    const ranked_t *x = a, *y = b;
    if (x->probability != y->probability) return x->probability < y->probability ? 1 : -1;
    return x->index - y->index;
}

/* codila.sampling.sample_top_p for one row: argmax at temperature 0; else the most likely token when it
   holds top_p alone, otherwise the token of the nucleus (the fewest most likely tokens holding top_p) where its
   renormalised cumulative distribution reaches `uniform`; `best` is the largest logit. Only tokens of probability >= (1 - top_p) / n are ranked:
   the others hold less than 1 - top_p together, so the nucleus lies among the first. scratch, ranked: n entries. */
static int sample(const float *logits, int n, int best, float temperature, float top_p, float uniform, float *scratch,
                  ranked_t *ranked) {
    if (temperature <= 0.0f) return best;
    float top = logits[best] / temperature, total = 0.0f;
    for (int i = 0; i < n; i++) total += scratch[i] = expf(logits[i] / temperature - top);
    if (1.0f / total >= top_p) return best;  // the most likely token's probability, exp(0) / total
    float floor = (1.0f - top_p) / n * total;
    int count = 0;
    for (int i = 0; i < n; i++)
        if (scratch[i] > 0.0f && scratch[i] >= floor) ranked[count++] = (ranked_t){scratch[i] / total, i, 0.0f};
    qsort(ranked, count, sizeof(ranked_t), more_likely_first);
    double cumulative = 0.0;
    int kept = 0;
    for (int i = 0; i < count; i++) {
        cumulative += ranked[i].probability;
        ranked[i].cumulative = (float)cumulative;
        kept += ranked[i].cumulative - ranked[i].probability < top_p;
    }
    float target = uniform * ranked[kept - 1].cumulative;
    int choice = 0;
    for (int i = 0; i < count; i++) choice += ranked[i].cumulative < target;
    return ranked[choice < kept - 1 ? choice : kept - 1].index;
}

/* The local AR's whole block: prefill `inputs` (n, dims[T], hidden), then dims[BLOCK] tokens per row, each sampled
   (sample(), with uniforms (n, block) drawn by the caller) from the logits plus `bias` (vocab: -inf where a token is
   never generated), replaced by forced (n, block; -1 = free; NULL = none) where given, and fed back through
   `embedding` (vocab, hidden). tokens (n, block); entropies (n, block) of the untempered next-token distribution
   when with_entropy. Returns 0, or -1 when memory ran out. */
int codila_qwen3_decode_block(const int *dims, float eps, const float *cos, const float *signed_sin,
                              const float *const *weights, const float *embedding, const float *bias, const float *inputs,
                              const long long *forced, const float *uniforms, float temperature, float top_p, int with_entropy,
                              long long *tokens, float *entropies) {
    int n = dims[N], vocab = dims[VOCAB], hidden = dims[HIDDEN], block = dims[BLOCK];
    if (n == 0) return 0;  // nothing to decode (and malloc(0) may return NULL)
    size_t cache_floats = (size_t)dims[LAYERS] * 2 * n * dims[KV_HEADS] * dims[CAPACITY] * dims[HEAD_DIM];
    float *cache = malloc(cache_floats * sizeof(float)), *logits = malloc((size_t)n * vocab * sizeof(float));
    float *probs = malloc((size_t)vocab * sizeof(float)), *next = malloc((size_t)n * hidden * sizeof(float));
    float *scratch = malloc(scratch_floats(dims, dims[T]) * sizeof(float));  // the prefill's; a step needs less
    ranked_t *ranked = malloc((size_t)vocab * sizeof(ranked_t));
    int status = cache && logits && probs && next && scratch && ranked ? 0 : -1;
    if (status == 0) forward(dims, dims[T], 0, eps, cos, signed_sin, weights, cache, inputs, logits, scratch);
    for (int j = 0; j < block && status == 0; j++) {
        for (int b = 0; b < n; b++) {
            float *row = logits + (size_t)b * vocab;
            for (int v = 0; v < vocab; v++) row[v] += bias[v];
            size_t at = (size_t)b * block + j;
            int best = argmax(row, vocab);
            if (with_entropy) entropies[at] = entropy(row, vocab, best);
            int token = sample(row, vocab, best, temperature, top_p, uniforms[at], probs, ranked);
            tokens[at] = forced && forced[at] >= 0 ? forced[at] : token;
            memcpy(next + (size_t)b * hidden, embedding + (size_t)tokens[at] * hidden, hidden * sizeof(float));
        }
        if (j + 1 < block) forward(dims, 1, dims[T] + j, eps, cos, signed_sin, weights, cache, next, logits, scratch);
    }
    free(scratch);
    free(cache);
    free(logits);
    free(probs);
    free(next);
    free(ranked);
    return status;
}
