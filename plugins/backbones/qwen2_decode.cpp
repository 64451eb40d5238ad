// One decode step of the Qwen2 decoder for a few rows, float32 on CPU: built and called by
// decode_kernel.py (see there for why). Every layer in one call; each weight matrix is the module's own
// [out, in] parameter, read row by row from front to back, the rows split between PyTorch's threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

// 16 floats as one vector (GCC/Clang vector extension: one AVX-512 register, two AVX ones, ...).
typedef float vec16 __attribute__((vector_size(64)));
typedef float vec8 __attribute__((vector_size(32)));
typedef float vec4 __attribute__((vector_size(16)));

inline vec16 load16(const float* p) {
  vec16 v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

// Horizontal sum by halving, so the additions are not one serial chain.
inline float sum16(vec16 v) {
  vec8 a, b;
  __builtin_memcpy(&a, &v, sizeof a);
  __builtin_memcpy(&b, reinterpret_cast<char*>(&v) + sizeof a, sizeof b);
  a += b;
  vec4 c, d;
  __builtin_memcpy(&c, &a, sizeof c);
  __builtin_memcpy(&d, reinterpret_cast<char*>(&a) + sizeof c, sizeof d);
  c += d;
  return (c[0] + c[1]) + (c[2] + c[3]);
}

// out[r] = w . x[r] for R input rows (`in` apart). The weight row is read once, front to back (one
// sequential stream, which the hardware prefetches best; interleaving rows measured slower), into
// 2 * R independent vector accumulators.
template <int R>
inline void dots(const float* __restrict w, const float* __restrict x, int64_t in, float* out) {
  vec16 even[R] = {}, odd[R] = {};
  int64_t i = 0;
  for (; i + 32 <= in; i += 32) {
    const vec16 w0 = load16(w + i), w1 = load16(w + i + 16);
    for (int r = 0; r < R; ++r) {
      even[r] += w0 * load16(x + r * in + i);
      odd[r] += w1 * load16(x + r * in + i + 16);
    }
  }
  for (; i + 16 <= in; i += 16) {
    const vec16 w0 = load16(w + i);
    for (int r = 0; r < R; ++r) even[r] += w0 * load16(x + r * in + i);
  }
  for (int r = 0; r < R; ++r) {
    float s = sum16(even[r] + odd[r]);
    for (int64_t t = i; t < in; ++t) s += w[t] * x[r * in + t];
    out[r] = s;
  }
}

inline float dot(const float* a, const float* b, int64_t n) {
  float s;
  dots<1>(a, b, n, &s);
  return s;
}

// Weight rows [begin, end) against R input rows: y[r, o] (+)= x[r] . w[o] + bias[o].
template <int R>
void matvec_block(const float* x, int64_t in, const float* w, const float* bias, int64_t begin, int64_t end,
                  float* y, int64_t ldy, bool accumulate) {
  float v[R];
  for (int64_t o = begin; o < end; ++o) {
    dots<R>(w + o * in, x, in, v);
    for (int r = 0; r < R; ++r) {
      const float value = v[r] + (bias ? bias[o] : 0.f);
      float& dst = y[r * ldy + o];
      dst = accumulate ? dst + value : value;
    }
  }
}

// y[b, o] (+)= x[b] . w[o] + bias[o] for x [rows, in], w [out, in]; y's rows are `ldy` apart.
// Threads split the output rows; input rows go up to four at a time.
void matvec(const float* x, int64_t rows, int64_t in, const float* w, const float* bias, int64_t out, float* y,
            int64_t ldy, bool accumulate) {
  at::parallel_for(0, out, 64, [&](int64_t begin, int64_t end) {
    for (int64_t b = 0; b < rows; b += 4) {
      const float* xb = x + b * in;
      float* yb = y + b * ldy;
      switch (std::min<int64_t>(4, rows - b)) {
        case 4: matvec_block<4>(xb, in, w, bias, begin, end, yb, ldy, accumulate); break;
        case 3: matvec_block<3>(xb, in, w, bias, begin, end, yb, ldy, accumulate); break;
        case 2: matvec_block<2>(xb, in, w, bias, begin, end, yb, ldy, accumulate); break;
        default: matvec_block<1>(xb, in, w, bias, begin, end, yb, ldy, accumulate);
      }
    }
  });
}

// RMSNorm row by row: y = x / sqrt(mean(x^2) + eps) * scale.
void rms_norm(const float* x, int64_t rows, int64_t width, const float* scale, float eps, float* y) {
  for (int64_t b = 0; b < rows; ++b) {
    const float* xb = x + b * width;
    float squares = 0;
    for (int64_t i = 0; i < width; ++i) squares += xb[i] * xb[i];
    const float r = 1.f / std::sqrt(squares / width + eps);
    for (int64_t i = 0; i < width; ++i) y[b * width + i] = xb[i] * r * scale[i];
  }
}

// Rotary embedding of one head vector in place, pairs (i, i + Dh/2), with InferenceWeights.rotary's
// cos and sin (the first half of sin negated): v = v * cos + roll(v, Dh/2) * sin.
inline void rotate(float* v, const float* cos, const float* sin, int64_t half) {
  for (int64_t i = 0; i < half; ++i) {
    const float a = v[i], b = v[i + half];
    v[i] = a * cos[i] + b * sin[i];
    v[i + half] = b * cos[i + half] + a * sin[i + half];
  }
}

void check_matrix(const at::Tensor& t, int64_t rows, int64_t cols, const char* what, int64_t layer) {
  TORCH_CHECK(t.dim() == 2 && t.size(0) == rows && t.size(1) == cols && t.is_contiguous(), "decode_step: layer ",
              layer, " ", what, " must be a contiguous [", rows, ", ", cols, "] matrix, got ", t.sizes());
}

const float* bias_or_null(const at::Tensor& t, int64_t width, const char* what, int64_t layer) {
  if (t.numel() == 0) return nullptr;
  TORCH_CHECK(t.dim() == 1 && t.size(0) == width && t.is_contiguous(), "decode_step: layer ", layer, " ", what,
              " must have ", width, " values, got ", t.sizes());
  return t.data_ptr<float>();
}

constexpr int64_t kPerLayer = 12;

}  // namespace

// x [B, D]: the embeddings of each row's next position. `weights`: per layer, in this order, the
// input norm scale, q, q bias, k, k bias, v, v bias, o, the post-attention norm scale, gate, up, down
// (an empty tensor for a missing bias). keys/values [L, B, Hkv, max_len, Dh]: the step writes
// position `past` and attends to positions 0..past where key_mask [B, past + 1] (bool) is true, and
// always to itself. cos/sin [B, Dh] as rotate() takes them. Returns the final-normed hidden [B, D].
at::Tensor decode_step(const at::Tensor& x_in, at::TensorList weights, const at::Tensor& final_norm,
                       at::Tensor keys, at::Tensor values, const at::Tensor& key_mask, const at::Tensor& cos,
                       const at::Tensor& sin, int64_t past, int64_t n_heads, double eps) {
  TORCH_CHECK(x_in.dim() == 2 && x_in.scalar_type() == at::kFloat && x_in.device().is_cpu(),
              "decode_step: x must be float32 [B, D] on the CPU");
  TORCH_CHECK(keys.dim() == 5 && keys.is_contiguous() && values.is_contiguous() && keys.sizes() == values.sizes() &&
                  keys.scalar_type() == at::kFloat && values.scalar_type() == at::kFloat,
              "decode_step: keys and values must be contiguous float32 [L, B, Hkv, max_len, Dh]");
  const int64_t B = x_in.size(0), D = x_in.size(1), L = keys.size(0), Hkv = keys.size(2), T = keys.size(3),
                Dh = keys.size(4);
  TORCH_CHECK(keys.size(1) == B, "decode_step: the cache holds ", keys.size(1), " rows, x has ", B);
  TORCH_CHECK(n_heads % Hkv == 0 && Dh % 2 == 0, "decode_step: bad head layout");
  TORCH_CHECK(static_cast<int64_t>(weights.size()) == kPerLayer * L, "decode_step: expected ", kPerLayer * L,
              " weight tensors for ", L, " layers, got ", weights.size());
  TORCH_CHECK(past >= 0 && past < T, "KV cache overflow: ", past + 1, " positions > max_len ", T);
  TORCH_CHECK(key_mask.scalar_type() == at::kBool && key_mask.is_contiguous() && key_mask.dim() == 2 &&
                  key_mask.size(0) == B && key_mask.size(1) == past + 1,
              "decode_step: key_mask must be a contiguous bool [", B, ", ", past + 1, "] tensor");
  TORCH_CHECK(cos.is_contiguous() && sin.is_contiguous() && cos.numel() == B * Dh && sin.numel() == B * Dh &&
                  cos.scalar_type() == at::kFloat && sin.scalar_type() == at::kFloat,
              "decode_step: cos and sin must be contiguous float32 [B, Dh]");
  const int64_t groups = n_heads / Hkv, half = Dh / 2, Q = n_heads * Dh, KV = Hkv * Dh, width = Q + 2 * KV;
  const int64_t F = weights[9].size(0);
  for (int64_t l = 0; l < L; ++l) {
    const at::Tensor* w = &weights[kPerLayer * l];
    for (int i : {0, 8}) TORCH_CHECK(w[i].numel() == D && w[i].is_contiguous(), "decode_step: layer ", l, " norm");
    check_matrix(w[1], Q, D, "q", l), check_matrix(w[3], KV, D, "k", l), check_matrix(w[5], KV, D, "v", l);
    check_matrix(w[7], D, Q, "o", l), check_matrix(w[9], F, D, "gate", l), check_matrix(w[10], F, D, "up", l);
    check_matrix(w[11], D, F, "down", l);
    for (int i = 0; i < kPerLayer; ++i)
      TORCH_CHECK(w[i].numel() == 0 || w[i].scalar_type() == at::kFloat, "decode_step: float32 weights only");
  }
  TORCH_CHECK(final_norm.numel() == D && final_norm.is_contiguous() && final_norm.scalar_type() == at::kFloat,
              "decode_step: final norm must have ", D, " float32 values");

  at::Tensor x = x_in.contiguous().clone();
  auto options = x.options();
  at::Tensor normed = at::empty({B, std::max(D, F)}, options), qkv = at::empty({B, width}, options),
             attended = at::empty({B, Q}, options), gate_up = at::empty({B, 2 * F}, options);
  float *xp = x.data_ptr<float>(), *hp = normed.data_ptr<float>(), *qkvp = qkv.data_ptr<float>(),
        *ap = attended.data_ptr<float>(), *gup = gate_up.data_ptr<float>();
  const float *cp = cos.data_ptr<float>(), *sp = sin.data_ptr<float>();
  const bool* mask = key_mask.data_ptr<bool>();
  const float eps_f = static_cast<float>(eps), scale = 1.f / std::sqrt(static_cast<float>(Dh));

  for (int64_t l = 0; l < L; ++l) {
    const at::Tensor* w = &weights[kPerLayer * l];
    float* layer_keys = keys.data_ptr<float>() + l * keys.stride(0);
    float* layer_values = values.data_ptr<float>() + l * values.stride(0);

    // Attention: q, k, v side by side in each row of qkv; rotate q and k; append k and v to the cache.
    rms_norm(xp, B, D, w[0].data_ptr<float>(), eps_f, hp);
    matvec(hp, B, D, w[1].data_ptr<float>(), bias_or_null(w[2], Q, "q bias", l), Q, qkvp, width, false);
    matvec(hp, B, D, w[3].data_ptr<float>(), bias_or_null(w[4], KV, "k bias", l), KV, qkvp + Q, width, false);
    matvec(hp, B, D, w[5].data_ptr<float>(), bias_or_null(w[6], KV, "v bias", l), KV, qkvp + Q + KV, width, false);
    for (int64_t b = 0; b < B; ++b) {
      float* row = qkvp + b * width;
      for (int64_t head = 0; head < n_heads + Hkv; ++head) rotate(row + head * Dh, cp + b * Dh, sp + b * Dh, half);
      for (int64_t g = 0; g < Hkv; ++g) {
        const int64_t slot = ((b * Hkv + g) * T + past) * Dh;
        std::copy_n(row + Q + g * Dh, Dh, layer_keys + slot);
        std::copy_n(row + Q + KV + g * Dh, Dh, layer_values + slot);
      }
    }
    // Query head h reads key/value head h / groups (grouped-query attention), one (row, head) per task.
    at::parallel_for(0, B * n_heads, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> weight(past + 1);
      for (int64_t task = begin; task < end; ++task) {
        const int64_t b = task / n_heads, head = task % n_heads, g = head / groups;
        const float* q = qkvp + b * width + head * Dh;
        const float* k = layer_keys + (b * Hkv + g) * T * Dh;
        const float* v = layer_values + (b * Hkv + g) * T * Dh;
        const bool* visible = mask + b * (past + 1);
        float top = -INFINITY;
        for (int64_t j = 0; j <= past; ++j) {
          weight[j] = (visible[j] || j == past) ? dot(q, k + j * Dh, Dh) * scale : -INFINITY;
          top = std::max(top, weight[j]);
        }
        float total = 0;
        for (int64_t j = 0; j <= past; ++j) total += (weight[j] = std::exp(weight[j] - top));
        float* out = ap + b * Q + head * Dh;
        std::fill_n(out, Dh, 0.f);
        for (int64_t j = 0; j <= past; ++j) {
          const float p = weight[j] / total;
          const float* vj = v + j * Dh;
          for (int64_t i = 0; i < Dh; ++i) out[i] += p * vj[i];
        }
      }
    });
    matvec(ap, B, Q, w[7].data_ptr<float>(), nullptr, D, xp, D, true);  // x += o(attended)

    // SwiGLU MLP: x += down(silu(gate(h)) * up(h)).
    rms_norm(xp, B, D, w[8].data_ptr<float>(), eps_f, hp);
    matvec(hp, B, D, w[9].data_ptr<float>(), nullptr, F, gup, 2 * F, false);
    matvec(hp, B, D, w[10].data_ptr<float>(), nullptr, F, gup + F, 2 * F, false);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < F; ++i) {
        const float g = gup[b * 2 * F + i];
        hp[b * F + i] = g / (1.f + std::exp(-g)) * gup[b * 2 * F + F + i];
      }
    matvec(hp, B, F, w[11].data_ptr<float>(), nullptr, D, xp, D, true);
  }
  at::Tensor out = at::empty({B, D}, options);
  rms_norm(xp, B, D, final_norm.data_ptr<float>(), eps_f, out.data_ptr<float>());
  return out;
}

// logits [B, total width] = x [B, D] . w[lo:hi]^T for each (lo, hi) of `ranges` (flat: lo0, hi0, lo1, ...),
// side by side: the head's allowed rows, read in place.
at::Tensor head_rows(const at::Tensor& x_in, const at::Tensor& w, at::IntArrayRef ranges) {
  TORCH_CHECK(x_in.dim() == 2 && x_in.scalar_type() == at::kFloat && w.dim() == 2 && w.is_contiguous() &&
                  w.scalar_type() == at::kFloat && w.size(1) == x_in.size(1),
              "head_rows: x [B, D] and a contiguous head [V, D], float32");
  TORCH_CHECK(ranges.size() % 2 == 0, "head_rows: ranges come in (lo, hi) pairs");
  at::Tensor x = x_in.contiguous();
  const int64_t B = x.size(0), D = x.size(1), V = w.size(0);
  int64_t total = 0;
  for (size_t i = 0; i < ranges.size(); i += 2) {
    TORCH_CHECK(0 <= ranges[i] && ranges[i] <= ranges[i + 1] && ranges[i + 1] <= V, "head_rows: range (", ranges[i],
                ", ", ranges[i + 1], ") outside the head's ", V, " rows");
    total += ranges[i + 1] - ranges[i];
  }
  at::Tensor y = at::empty({B, total}, x.options());
  int64_t column = 0;
  for (size_t i = 0; i < ranges.size(); i += 2) {
    const int64_t rows = ranges[i + 1] - ranges[i];
    matvec(x.data_ptr<float>(), B, D, w.data_ptr<float>() + ranges[i] * D, nullptr, rows,
           y.data_ptr<float>() + column, total, false);
    column += rows;
  }
  return y;
}

TORCH_LIBRARY(laura_qwen2, m) {
  m.def("decode_step", &decode_step);
  m.def("head_rows", &head_rows);
}
