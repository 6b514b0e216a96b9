// The local AR's whole block decoding for Qwen3 models in one call: a torch extension (built by fast_ar.py with
// torch.utils.cpp_extension, registered as the custom classes torch.classes.codila_ar.Qwen3Block and .Sampling).
//
// The same math as transformers' Qwen3 forward, on weights prepared by fast_ar.py (RMSNorm weights folded into the
// following projection, q/k norms per head with 1/sqrt(head_dim) folded into the query's, a rotary table with the
// rotate-half sign in its sine), without the ~80 tensor ops per token whose dispatch costs a CPU more than a small
// AR's arithmetic. Single-threaded.
//
// Every sum runs in one fixed order whatever the number of rows computed together (see "Matrix products" and
// lane_sum): a row's result does not depend on the batch it is decoded in.

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/custom_class.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace {

// The vector width of the machine the extension is built for (-march): 16 floats with AVX-512, 8 with AVX, 4
// otherwise. Wider vectors than the hardware's would be split by the compiler, sometimes into scalar code.
#if defined(__AVX512F__)
#define LANES 16
#elif defined(__AVX__)
#define LANES 8
#else
#define LANES 4
#endif
typedef float lanes_t __attribute__((vector_size(LANES * sizeof(float))));

inline lanes_t load(const float *p) {
    lanes_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

inline float lane_sum(lanes_t v) {  // halves added lane by lane until one is left: one fixed order
    float a[LANES];
    std::memcpy(a, &v, sizeof a);
    for (int width = LANES / 2; width >= 1; width /= 2)
        for (int i = 0; i < width; i++) a[i] += a[i + width];
    return a[0];
}

float dot(const float *x, const float *w, int n) {
    lanes_t acc = {0};
    int k = 0;
    for (; k + LANES <= n; k += LANES) acc += load(x + k) * load(w + k);
    float tail = 0.0f;
    for (; k < n; k++) tail += x[k] * w[k];
    return lane_sum(acc) + tail;
}

// Matrix products. A weight (out, in) is packed (`Packed`) into panels of PANEL output columns: (out padded to a
// multiple of PANEL) / PANEL panels, each (in, PANEL) row-major, the padding zero. Each output is summed over
// k = 0..in-1 in order, one multiply-add per term, in a lane of its own: tiling rows and columns saves loads and
// never changes a result. A tile keeps TILE_ROWS x 2 vectors of sums in registers (8 of AVX2's 16).
constexpr int PANEL = 2 * LANES;
constexpr int TILE_ROWS = 4;

struct Packed {
    int out = 0, in = 0;
    std::vector<float> data;

    explicit Packed(const at::Tensor &weight) : out(weight.size(0)), in(weight.size(1)) {
        int panels = (out + PANEL - 1) / PANEL;
        data.assign((size_t)panels * in * PANEL, 0.0f);
        auto w = weight.accessor<float, 2>();
        for (int j = 0; j < out; j++)
            for (int k = 0; k < in; k++) data[((size_t)(j / PANEL) * in + k) * PANEL + j % PANEL] = w[j][k];
    }
};

template <int M>
inline void tile(int in, const float *x, const float *panel, float *y, int y_stride, int columns, bool accumulate) {
    lanes_t acc[M][2];
    for (int i = 0; i < M; i++) acc[i][0] = acc[i][1] = (lanes_t){0};
    for (int k = 0; k < in; k++) {
        lanes_t w0 = load(panel + (size_t)k * PANEL), w1 = load(panel + (size_t)k * PANEL + LANES);
        for (int i = 0; i < M; i++) {
            lanes_t xi = (lanes_t){0} + x[(size_t)i * in + k];
            acc[i][0] += xi * w0;
            acc[i][1] += xi * w1;
        }
    }
    for (int i = 0; i < M; i++) {
        float sums[PANEL];
        std::memcpy(sums, acc[i], sizeof sums);
        float *target = y + (size_t)i * y_stride;
        for (int c = 0; c < columns; c++) target[c] = accumulate ? target[c] + sums[c] : sums[c];
    }
}

// y (rows, out) = x (rows, in) @ W.T, or y += it.
void linear(int rows, const float *x, const Packed &w, float *y, bool accumulate) {
    for (int j = 0; j < w.out; j += PANEL) {
        const float *panel = w.data.data() + (size_t)j * w.in;
        int columns = std::min(w.out - j, PANEL);
        for (int r = 0; r < rows; r += TILE_ROWS) {
            const float *xr = x + (size_t)r * w.in;
            float *yr = y + (size_t)r * w.out + j;
            switch (std::min(rows - r, TILE_ROWS)) {  // constant row counts: the tile's loops unroll
                case 1: tile<1>(w.in, xr, panel, yr, w.out, columns, accumulate); break;
                case 2: tile<2>(w.in, xr, panel, yr, w.out, columns, accumulate); break;
                case 3: tile<3>(w.in, xr, panel, yr, w.out, columns, accumulate); break;
                default: tile<4>(w.in, xr, panel, yr, w.out, columns, accumulate); break;
            }
        }
    }
}

// x / sqrt(mean(x^2) + eps), times `weight` when given.
void rms_scale(const float *x, int n, float eps, const float *weight, float *out) {
    float scale = 1.0f / std::sqrt(dot(x, x, n) / (float)n + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * scale * (weight ? weight[i] : 1.0f);
}

int argmax(const float *values, int n) {  // the first of equal maxima, as torch's argmax
    int best = 0;
    for (int i = 1; i < n; i++)
        if (values[i] > values[best]) best = i;
    return best;
}

// Entropy (nats) of softmax(logits), `best` its largest; -inf logits (banned tokens) count zero.
float entropy(const float *logits, int n, int best) {
    float top = logits[best], total = 0.0f, weighted = 0.0f;
    for (int i = 0; i < n; i++)
        if (std::isfinite(logits[i])) {
            float e = std::exp(logits[i] - top);
            total += e;
            weighted += e * (logits[i] - top);
        }
    return std::log(total) - weighted / total;
}

struct Ranked {
    float probability;
    int index;
};

bool more_likely_first(const Ranked &x, const Ranked &y) {
    return x.probability != y.probability ? x.probability > y.probability : x.index < y.index;
}

// codila.sampling.sample_top_p for one row: argmax at temperature 0; else the most likely token when it
// holds top_p alone, otherwise the token of the nucleus (the fewest most likely tokens holding top_p) where its
// renormalised cumulative distribution in token-id order passes `uniform`. Only tokens of probability >= (1 - top_p)
// / n are ranked (the others hold less than 1 - top_p together, so the nucleus lies among them), and only the first
// 16, 256 or all of those are sorted: the fewest that hold top_p. scratch, ranked: n entries.
int sample(const float *logits, int n, int best, float temperature, float top_p, float uniform, float *scratch, Ranked *ranked) {
    if (temperature <= 0.0f) return best;
    float top = logits[best] / temperature, total = 0.0f;
    for (int i = 0; i < n; i++) total += scratch[i] = std::exp(logits[i] / temperature - top);
    if (1.0f / total >= top_p) return best;  // the most likely token's probability, exp(0) / total
    float floor = (1.0f - top_p) / n * total;
    int count = 0;
    for (int i = 0; i < n; i++)
        if (scratch[i] > 0.0f && scratch[i] >= floor) ranked[count++] = Ranked{scratch[i] / total, i};
    int sorted = 0;
    for (int head : {16, 256, count}) {
        sorted = std::min(head, count);
        std::partial_sort(ranked, ranked + sorted, ranked + count, more_likely_first);
        double mass = 0.0;
        for (int i = 0; i < sorted; i++) mass += ranked[i].probability;
        if (mass >= top_p || sorted == count) break;
    }
    // the nucleus's probabilities in id order (scratch, 0 elsewhere), summed as torch's cumsum does (in double, each
    // partial sum stored as a float)
    std::fill(scratch, scratch + n, 0.0f);
    double cumulative = 0.0;
    for (int i = 0; i < sorted; i++) {
        cumulative += ranked[i].probability;
        if (!((float)cumulative - ranked[i].probability < top_p)) break;  // out of the nucleus, and every later one
        scratch[ranked[i].index] = ranked[i].probability;
    }
    cumulative = 0.0;
    for (int i = 0; i < n; i++) cumulative += scratch[i];
    float target = uniform * (float)cumulative;
    cumulative = 0.0;
    int last = 0;
    for (int i = 0; i < n; i++) {
        if (scratch[i] == 0.0f) continue;
        cumulative += scratch[i];
        last = i;
        if ((float)cumulative > target) return i;
    }
    return last;  // rounding put the target at the total: the nucleus's last token
}

struct Layer {
    Packed qkv;             // ((heads + 2 kv_heads) head_dim, hidden), input norm folded in
    std::vector<float> qk_norm;  // (heads + kv_heads, head_dim)
    Packed output;          // (hidden, heads head_dim)
    Packed gate_up;         // (2 inter, hidden), post-attention norm folded in
    Packed down;            // (hidden, inter)
};

std::vector<float> floats(const at::Tensor &t) {
    return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
}

void check_matrix(const at::Tensor &t, const char *name, int64_t rows, int64_t columns) {
    TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous(), name,
                " must be a contiguous float32 CPU tensor, got ", t.scalar_type(), " on ", t.device());
    TORCH_CHECK(t.dim() == 2 && t.size(0) == rows && t.size(1) == columns, name, " must be (", rows, ", ", columns,
                "), got ", t.sizes());
}

}  // namespace

// How to sample each token: temperature (0 = argmax), top_p (nucleus mass), with_entropy (also return the entropy
// of each untempered next-token distribution).
struct Sampling : torch::CustomClassHolder {
    double temperature, top_p;
    bool with_entropy;
    Sampling(double temperature, double top_p, bool with_entropy)
        : temperature(temperature), top_p(top_p), with_entropy(with_entropy) {
        TORCH_CHECK(top_p > 0.0 && top_p <= 1.0, "top_p must be in (0, 1], got ", top_p);
    }
};

// One Qwen3 model's prepared weights (copied and packed at construction) and its block decoder.
struct Qwen3Block : torch::CustomClassHolder {
    int heads, kv_heads, head_dim, hidden, inter, vocab, capacity;
    float eps;
    std::vector<Layer> layers;
    Packed lm_head;  // (vocab, hidden), the final norm folded in
    std::vector<float> cos, signed_sin;  // (capacity, head_dim)

    // weights: per layer qkv, qk_norm, output, gate_up, down (see Layer); lm_head (vocab, hidden); cos, signed_sin
    // (capacity, head_dim): the rotary table.
    Qwen3Block(std::vector<at::Tensor> weights, at::Tensor lm_head_weight, at::Tensor cos_table, at::Tensor sin_table,
               int64_t heads_, int64_t kv_heads_, double eps_)
        : heads(heads_), kv_heads(kv_heads_), head_dim(cos_table.dim() == 2 ? cos_table.size(1) : 0),
          hidden(lm_head_weight.dim() == 2 ? lm_head_weight.size(1) : 0), inter(0),
          vocab(lm_head_weight.dim() == 2 ? lm_head_weight.size(0) : 0), capacity(cos_table.dim() == 2 ? cos_table.size(0) : 0),
          eps((float)eps_), lm_head((check_matrix(lm_head_weight, "lm_head", vocab, hidden), lm_head_weight)) {
        TORCH_CHECK(heads > 0 && kv_heads > 0 && heads % kv_heads == 0, "heads (", heads, ") must be a multiple of kv_heads (",
                    kv_heads, ")");
        TORCH_CHECK(!weights.empty() && weights.size() % 5 == 0, "weights: five tensors per layer, got ", weights.size());
        check_matrix(cos_table, "cos", capacity, head_dim);
        check_matrix(sin_table, "signed_sin", capacity, head_dim);
        TORCH_CHECK(head_dim % 2 == 0, "head_dim must be even, got ", head_dim);
        inter = weights[3].dim() == 2 ? weights[3].size(0) / 2 : 0;
        for (size_t i = 0; i < weights.size(); i += 5) {
            check_matrix(weights[i], "qkv", (heads + 2 * kv_heads) * head_dim, hidden);
            check_matrix(weights[i + 1], "qk_norm", heads + kv_heads, head_dim);
            check_matrix(weights[i + 2], "output", hidden, heads * head_dim);
            check_matrix(weights[i + 3], "gate_up", 2 * inter, hidden);
            check_matrix(weights[i + 4], "down", hidden, inter);
            layers.push_back(Layer{Packed(weights[i]), floats(weights[i + 1]), Packed(weights[i + 2]), Packed(weights[i + 3]),
                                   Packed(weights[i + 4])});
        }
        cos = floats(cos_table);
        signed_sin = floats(sin_table);
    }

    // Logits (n, vocab) of the last of `inputs` (n, t, hidden), at positions past..past+t-1 after the cached ones.
    // cache (layers, 2, n, kv_heads, capacity, head_dim): keys and values, positions < past filled; this call fills
    // past..past+t-1.
    void forward(int n, int t, int past, float *cache, const float *inputs, float *logits, std::vector<float> &memory) const {
        int rows = n * t, qkv_width = (heads + 2 * kv_heads) * head_dim, group = heads / kv_heads;
        memory.resize((size_t)rows * (2 * hidden + qkv_width + heads * head_dim + 3 * inter) + capacity + head_dim);
        float *h = memory.data(), *x = h + (size_t)rows * hidden, *qkv = x + (size_t)rows * hidden;
        float *attended = qkv + (size_t)rows * qkv_width, *gate_up = attended + (size_t)rows * heads * head_dim;
        float *act = gate_up + (size_t)rows * 2 * inter, *scores = act + (size_t)rows * inter, *normed = scores + capacity;
        std::memcpy(h, inputs, (size_t)rows * hidden * sizeof(float));
        size_t kv_block = (size_t)kv_heads * capacity * head_dim;  // one row's keys (or values) of one layer
        int half = head_dim / 2;

        for (size_t index = 0; index < layers.size(); index++) {
            const Layer &w = layers[index];
            bool last = index + 1 == layers.size();  // past its keys and values, only each row's last position matters
            float *keys = cache + index * 2 * n * kv_block, *values = keys + (size_t)n * kv_block;
            for (int r = 0; r < rows; r++) rms_scale(h + (size_t)r * hidden, hidden, eps, nullptr, x + (size_t)r * hidden);
            linear(rows, x, w.qkv, qkv, false);
            for (int r = 0; r < rows; r++) {  // q/k norms and rotation; keys and values into the cache
                int b = r / t, position = past + r % t;
                float *row = qkv + (size_t)r * qkv_width;
                const float *c = cos.data() + (size_t)position * head_dim, *s = signed_sin.data() + (size_t)position * head_dim;
                for (int head = 0; head < heads + kv_heads; head++) {
                    float *v = row + head * head_dim;
                    rms_scale(v, head_dim, eps, w.qk_norm.data() + head * head_dim, normed);
                    for (int i = 0; i < head_dim; i++) v[i] = normed[i] * c[i] + normed[(i + half) % head_dim] * s[i];
                }
                for (int g = 0; g < kv_heads; g++) {
                    size_t slot = b * kv_block + ((size_t)g * capacity + position) * head_dim;
                    std::memcpy(keys + slot, row + (heads + g) * head_dim, head_dim * sizeof(float));
                    std::memcpy(values + slot, row + (heads + kv_heads + g) * head_dim, head_dim * sizeof(float));
                }
            }
            if (last) {  // keep the last position of each row: rows becomes n
                for (int b = 0; b < n; b++) {
                    std::memmove(h + (size_t)b * hidden, h + ((size_t)b * t + t - 1) * hidden, hidden * sizeof(float));
                    std::memmove(qkv + (size_t)b * qkv_width, qkv + ((size_t)b * t + t - 1) * qkv_width, qkv_width * sizeof(float));
                }
                rows = n;
            }
            for (int r = 0; r < rows; r++) {  // causal attention over the cache (queries are pre-scaled)
                int b = last ? r : r / t, position = last ? past + t - 1 : past + r % t;
                for (int head = 0; head < heads; head++) {
                    const float *query = qkv + (size_t)r * qkv_width + head * head_dim;
                    const float *head_keys = keys + b * kv_block + (size_t)(head / group) * capacity * head_dim;
                    const float *head_values = values + b * kv_block + (size_t)(head / group) * capacity * head_dim;
                    float top = -std::numeric_limits<float>::infinity(), total = 0.0f;
                    for (int s = 0; s <= position; s++) {
                        scores[s] = dot(query, head_keys + (size_t)s * head_dim, head_dim);
                        top = std::max(top, scores[s]);
                    }
                    for (int s = 0; s <= position; s++) total += scores[s] = std::exp(scores[s] - top);
                    float *out = attended + ((size_t)r * heads + head) * head_dim;
                    std::memset(out, 0, head_dim * sizeof(float));
                    for (int s = 0; s <= position; s++) {
                        float p = scores[s] / total;
                        for (int i = 0; i < head_dim; i++) out[i] += p * head_values[(size_t)s * head_dim + i];
                    }
                }
            }
            linear(rows, attended, w.output, h, true);
            for (int r = 0; r < rows; r++) rms_scale(h + (size_t)r * hidden, hidden, eps, nullptr, x + (size_t)r * hidden);
            linear(rows, x, w.gate_up, gate_up, false);
            for (int r = 0; r < rows; r++)
                for (int i = 0; i < inter; i++) {
                    float gate = gate_up[(size_t)r * 2 * inter + i], up = gate_up[(size_t)r * 2 * inter + inter + i];
                    act[(size_t)r * inter + i] = gate / (1.0f + std::exp(-gate)) * up;
                }
            linear(rows, act, w.down, h, true);
        }
        for (int b = 0; b < n; b++) rms_scale(h + (size_t)b * hidden, hidden, eps, nullptr, x + (size_t)b * hidden);
        linear(n, x, lm_head, logits, false);
    }

    // The whole block: prefill `inputs` (n, t, hidden), then `block` = uniforms.size(1) tokens per row, each sampled
    // (sample(), one uniform number per row and token) from the logits plus `bias` (vocab: -inf where a token is never
    // generated; or (n, block, vocab): one per row and token), replaced by `forced` (n, block; -1 = free) where given,
    // and fed back through `embedding` (vocab, hidden). Returns tokens (n, block) int64 and entropies (n, block; NaN
    // unless sampling.with_entropy).
    std::tuple<at::Tensor, at::Tensor> decode(const at::Tensor &inputs, const at::Tensor &embedding, const at::Tensor &bias,
                                              const std::optional<at::Tensor> &forced, const at::Tensor &uniforms,
                                              const c10::intrusive_ptr<Sampling> &sampling) const {
        TORCH_CHECK(inputs.dim() == 3 && inputs.size(2) == hidden && inputs.size(1) >= 1, "inputs must be (n, t >= 1, ", hidden,
                    "), got ", inputs.sizes());
        TORCH_CHECK(inputs.device().is_cpu() && inputs.scalar_type() == at::kFloat && inputs.is_contiguous(),
                    "inputs must be a contiguous float32 CPU tensor, got ", inputs.scalar_type(), " on ", inputs.device());
        int n = inputs.size(0), t = inputs.size(1);
        check_matrix(embedding, "embedding", vocab, hidden);
        TORCH_CHECK(uniforms.dim() == 2 && uniforms.size(0) == n && uniforms.size(1) >= 1, "uniforms must be (", n,
                    ", block >= 1), got ", uniforms.sizes());
        check_matrix(uniforms, "uniforms", n, uniforms.size(1));
        int block = uniforms.size(1);
        bool per_token = bias.dim() == 3;  // (n, block, vocab): one bias per row and token (the residual marginal path)
        TORCH_CHECK(((bias.dim() == 1 && bias.size(0) == vocab) ||
                     (per_token && bias.size(0) == n && bias.size(1) == block && bias.size(2) == vocab)) &&
                        bias.scalar_type() == at::kFloat && bias.is_contiguous(),
                    "bias must be a contiguous float32 (", vocab, ") or (", n, ", ", block, ", ", vocab, ") tensor, got ",
                    bias.scalar_type(), " ", bias.sizes());
        TORCH_CHECK(t + block - 1 <= capacity, "the AR's positions end at ", capacity, " (max_position_embeddings); a block needs ",
                    t + block - 1);
        const int64_t *forced_ids = nullptr;
        if (forced.has_value() && forced->defined()) {
            TORCH_CHECK(forced->scalar_type() == at::kLong && forced->is_contiguous() && forced->dim() == 2 && forced->size(0) == n &&
                            forced->size(1) == block,
                        "forced must be a contiguous int64 (", n, ", ", block, ") tensor, got ", forced->scalar_type(), " ",
                        forced->sizes());
            forced_ids = forced->data_ptr<int64_t>();
            for (int64_t i = 0; i < forced->numel(); i++)
                TORCH_CHECK(forced_ids[i] < vocab, "forced token ", forced_ids[i], " is outside the vocabulary of ", vocab);
        }
        at::Tensor tokens = at::empty({n, block}, at::kLong), entropies = at::empty({n, block}, at::kFloat);
        int64_t *token_out = tokens.data_ptr<int64_t>();
        float *entropy_out = entropies.data_ptr<float>();
        std::fill(entropy_out, entropy_out + (size_t)n * block, std::numeric_limits<float>::quiet_NaN());
        if (n == 0) return {tokens, entropies};

        std::vector<float> cache((size_t)layers.size() * 2 * n * kv_heads * capacity * head_dim), logits((size_t)n * vocab);
        std::vector<float> probs(vocab), next((size_t)n * hidden), memory;
        std::vector<Ranked> ranked(vocab);
        const float *bias_values = bias.data_ptr<float>(), *table = embedding.data_ptr<float>(), *u = uniforms.data_ptr<float>();
        float temperature = sampling->temperature, top_p = sampling->top_p;
        forward(n, t, 0, cache.data(), inputs.data_ptr<float>(), logits.data(), memory);
        for (int j = 0; j < block; j++) {
            for (int b = 0; b < n; b++) {
                float *row = logits.data() + (size_t)b * vocab;
                size_t at = (size_t)b * block + j;
                const float *row_bias = per_token ? bias_values + at * vocab : bias_values;
                for (int v = 0; v < vocab; v++) row[v] += row_bias[v];
                int best = argmax(row, vocab);
                if (sampling->with_entropy) entropy_out[at] = entropy(row, vocab, best);
                int64_t token = sample(row, vocab, best, temperature, top_p, u[at], probs.data(), ranked.data());
                token_out[at] = forced_ids && forced_ids[at] >= 0 ? forced_ids[at] : token;
                std::memcpy(next.data() + (size_t)b * hidden, table + (size_t)token_out[at] * hidden, hidden * sizeof(float));
            }
            if (j + 1 < block) forward(n, 1, t + j, cache.data(), next.data(), logits.data(), memory);
        }
        return {tokens, entropies};
    }
};

TORCH_LIBRARY(codila_ar, m) {
    m.class_<Sampling>("Sampling").def(torch::init<double, double, bool>());
    m.class_<Qwen3Block>("Qwen3Block")
        .def(torch::init<std::vector<at::Tensor>, at::Tensor, at::Tensor, at::Tensor, int64_t, int64_t, double>())
        .def("decode", &Qwen3Block::decode)
        .def("lanes", [](const c10::intrusive_ptr<Qwen3Block> &) -> int64_t { return LANES; });
}
