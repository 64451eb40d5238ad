// One decode step of the Qwen2 decoder for a few rows on CPU: built and called by decode_kernel.py (see
// there for why). Every layer in one call; each weight matrix is read row by row from front to back, the
// rows split between PyTorch's threads. Activations are float32; a weight matrix is float32 (the
// module's own parameter, in place), bfloat16, or int8 with one float32 scale per row (weight-only
// quantisation: a step reads half or a quarter of the bytes).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

// 16 floats as one vector (GCC/Clang vector extension: one AVX-512 register, two AVX ones, ...).
typedef float vec16 __attribute__((vector_size(64)));
typedef float vec8 __attribute__((vector_size(32)));
typedef float vec4 __attribute__((vector_size(16)));

typedef uint16_t vu16 __attribute__((vector_size(32)));
typedef uint32_t vu32 __attribute__((vector_size(64)));
typedef int8_t vi8 __attribute__((vector_size(16)));

inline vec16 load16(const float* p) {
  vec16 v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

// bfloat16 is the upper half of a float32: widen and shift. int8: widen and convert. With AVX-512 in
// two instructions each (the generic vector code compiles to a slow sequence).
#ifdef __AVX512F__
inline vec16 load16(const uint16_t* p) {
  const __m512i bits = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16);
  return reinterpret_cast<vec16>(_mm512_castsi512_ps(bits));
}

inline vec16 load16(const int8_t* p) {
  return reinterpret_cast<vec16>(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))));
}
#else
inline vec16 load16(const uint16_t* p) {
  vu16 h;
  __builtin_memcpy(&h, p, sizeof h);
  const vu32 bits = __builtin_convertvector(h, vu32) << 16;
  vec16 v;
  __builtin_memcpy(&v, &bits, sizeof v);
  return v;
}

inline vec16 load16(const int8_t* p) {
  vi8 c;
  __builtin_memcpy(&c, p, sizeof c);
  return __builtin_convertvector(c, vec16);
}
#endif

inline float to_float(float w) { return w; }
inline float to_float(int8_t w) { return static_cast<float>(w); }
inline float to_float(uint16_t w) {
  const uint32_t bits = static_cast<uint32_t>(w) << 16;
  float f;
  __builtin_memcpy(&f, &bits, sizeof f);
  return f;
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
template <int R, typename W>
inline void dots(const W* __restrict w, const float* __restrict x, int64_t in, float* out) {
  vec16 even[R] = {}, odd[R] = {};
  int64_t i = 0;
  for (; i + 32 <= in; i += 32) {
    __builtin_prefetch(w + in + i, 0, 2);  // the next row (see dots2)
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
    for (int64_t t = i; t < in; ++t) s += to_float(w[t]) * x[r * in + t];
    out[r] = s;
  }
}

// Two weight rows against R input rows at once: each input vector loaded serves two rows, so a step of
// many rows does half the loads per multiply-add (at eight rows the loads, not the arithmetic, bound it).
template <int R, typename W>
inline void dots2(const W* __restrict w0, const W* __restrict w1, const float* __restrict x, int64_t in,
                  float* out0, float* out1) {
  vec16 a[R] = {}, b[R] = {};
  int64_t i = 0;
  for (; i + 16 <= in; i += 16) {
    // With this much arithmetic per cache line the hardware prefetcher falls behind: fetch the next
    // pair of rows (w1 is w0's next row) while these are read.
    __builtin_prefetch(w0 + 2 * in + i, 0, 2);
    __builtin_prefetch(w1 + 2 * in + i, 0, 2);
    const vec16 u = load16(w0 + i), v = load16(w1 + i);
    for (int r = 0; r < R; ++r) {
      const vec16 xr = load16(x + r * in + i);
      a[r] += u * xr;
      b[r] += v * xr;
    }
  }
  for (int r = 0; r < R; ++r) {
    float s = sum16(a[r]), t = sum16(b[r]);
    for (int64_t k = i; k < in; ++k) {
      s += to_float(w0[k]) * x[r * in + k];
      t += to_float(w1[k]) * x[r * in + k];
    }
    out0[r] = s, out1[r] = t;
  }
}

inline float dot(const float* a, const float* b, int64_t n) {
  float s;
  dots<1>(a, b, n, &s);
  return s;
}

// A weight matrix [out, in] as the kernel reads it: float32, bfloat16 or int8 (with a scale per row).
struct Matrix {
  const void* data;
  at::ScalarType type;
  const float* scale;  // int8: row o is data[o] * scale[o]
  int64_t out, in;

  Matrix rows(int64_t lo) const {  // the matrix from row lo on
    const int64_t size = type == at::kFloat ? 4 : type == at::kBFloat16 ? 2 : 1;
    return {static_cast<const char*>(data) + lo * in * size, type, scale ? scale + lo : nullptr, out - lo, in};
  }
};

// Weight rows [begin, end) against R input rows: y[r, o] (+)= x[r] . w[o] * scale[o] + bias[o].
template <int R, typename W>
void matvec_block(const float* x, int64_t in, const W* w, const float* scale, const float* bias, int64_t begin,
                  int64_t end, float* y, int64_t ldy, bool accumulate) {
  float v[2][R];
  auto store = [&](int64_t o, const float* dot) {
    for (int r = 0; r < R; ++r) {
      const float value = (scale ? dot[r] * scale[o] : dot[r]) + (bias ? bias[o] : 0.f);
      float& dst = y[r * ldy + o];
      dst = accumulate ? dst + value : value;
    }
  };
  int64_t o = begin;
  if (R >= 4) {  // a few rows are bound by reading the weights: one weight row at a time streams best
    for (; o + 2 <= end; o += 2) {
      dots2<R>(w + o * in, w + (o + 1) * in, x, in, v[0], v[1]);
      store(o, v[0]), store(o + 1, v[1]);
    }
  }
  for (; o < end; ++o) {
    dots<R>(w + o * in, x, in, v[0]);
    store(o, v[0]);
  }
}

template <typename W>
void matvec_rows(const float* xb, int64_t rows, int64_t in, const W* w, const float* scale, const float* bias,
                 int64_t begin, int64_t end, float* yb, int64_t ldy, bool accumulate) {
  switch (rows) {
    case 8: matvec_block<8>(xb, in, w, scale, bias, begin, end, yb, ldy, accumulate); break;
    case 7: matvec_block<7>(xb, in, w, scale, bias, begin, end, yb, ldy, accumulate); break;
    case 6: matvec_block<6>(xb, in, w, scale, bias, begin, end, yb, ldy, accumulate); break;
    case 5: matvec_block<5>(xb, in, w, scale, bias, begin, end, yb, ldy, accumulate); break;
    case 4: matvec_block<4>(xb, in, w, scale, bias, begin, end, yb, ldy, accumulate); break;
    case 3: matvec_block<3>(xb, in, w, scale, bias, begin, end, yb, ldy, accumulate); break;
    case 2: matvec_block<2>(xb, in, w, scale, bias, begin, end, yb, ldy, accumulate); break;
    default: matvec_block<1>(xb, in, w, scale, bias, begin, end, yb, ldy, accumulate);
  }
}

// y[b, o] (+)= x[b] . w[o] + bias[o] for x [rows, in], w [out, in]; y's rows are `ldy` apart.
// Threads split the output rows; input rows go up to eight at a time, so each weight row is read once
// for all of them (a step of eight rows costs little more than one).
void matvec(const float* x, int64_t rows, const Matrix& w, const float* bias, float* y, int64_t ldy, bool accumulate) {
  const int64_t in = w.in;
  at::parallel_for(0, w.out, 64, [&](int64_t begin, int64_t end) {
    for (int64_t b = 0; b < rows; b += 8) {
      const float* xb = x + b * in;
      float* yb = y + b * ldy;
      const int64_t n = std::min<int64_t>(8, rows - b);
      if (w.type == at::kFloat)
        matvec_rows(xb, n, in, static_cast<const float*>(w.data), nullptr, bias, begin, end, yb, ldy, accumulate);
      else if (w.type == at::kBFloat16)
        matvec_rows(xb, n, in, static_cast<const uint16_t*>(w.data), nullptr, bias, begin, end, yb, ldy, accumulate);
      else
        matvec_rows(xb, n, in, static_cast<const int8_t*>(w.data), w.scale, bias, begin, end, yb, ldy, accumulate);
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

// A weight matrix and its scales (an empty tensor unless int8), checked.
Matrix matrix(const at::Tensor& t, const at::Tensor& scale, int64_t rows, int64_t cols, const char* what,
              int64_t layer) {
  TORCH_CHECK(t.dim() == 2 && t.size(0) == rows && t.size(1) == cols && t.is_contiguous(), "decode_step: layer ",
              layer, " ", what, " must be a contiguous [", rows, ", ", cols, "] matrix, got ", t.sizes());
  const at::ScalarType type = t.scalar_type();
  TORCH_CHECK(type == at::kFloat || type == at::kBFloat16 || type == at::kChar, "decode_step: layer ", layer, " ",
              what, ": float32, bfloat16 or int8 weights only");
  const bool scaled = type == at::kChar;
  TORCH_CHECK(scaled ? (scale.numel() == rows && scale.scalar_type() == at::kFloat && scale.is_contiguous())
                     : scale.numel() == 0,
              "decode_step: layer ", layer, " ", what, ": int8 weights need ", rows, " float32 scales, others none");
  return {t.data_ptr(), type, scaled ? scale.data_ptr<float>() : nullptr, rows, cols};
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
// (an empty tensor for a missing bias); `scales` beside them: each int8 matrix's row scales, else an
// empty tensor. keys/values [L, B, Hkv, max_len, Dh]: the step writes
// position `past` and attends to positions 0..past where key_mask [B, past + 1] (bool) is true, and
// always to itself. cos/sin [B, Dh] as rotate() takes them. Returns the final-normed hidden [B, D].
at::Tensor decode_step(const at::Tensor& x_in, at::TensorList weights, at::TensorList scales, const at::Tensor& final_norm,
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
  TORCH_CHECK(static_cast<int64_t>(weights.size()) == kPerLayer * L && scales.size() == weights.size(),
              "decode_step: expected ", kPerLayer * L, " weight and scale tensors for ", L, " layers, got ",
              weights.size(), " and ", scales.size());
  TORCH_CHECK(past >= 0 && past < T, "KV cache overflow: ", past + 1, " positions > max_len ", T);
  TORCH_CHECK(key_mask.scalar_type() == at::kBool && key_mask.is_contiguous() && key_mask.dim() == 2 &&
                  key_mask.size(0) == B && key_mask.size(1) == past + 1,
              "decode_step: key_mask must be a contiguous bool [", B, ", ", past + 1, "] tensor");
  TORCH_CHECK(cos.is_contiguous() && sin.is_contiguous() && cos.numel() == B * Dh && sin.numel() == B * Dh &&
                  cos.scalar_type() == at::kFloat && sin.scalar_type() == at::kFloat,
              "decode_step: cos and sin must be contiguous float32 [B, Dh]");
  const int64_t groups = n_heads / Hkv, half = Dh / 2, Q = n_heads * Dh, KV = Hkv * Dh, width = Q + 2 * KV;
  const int64_t F = weights[9].size(0);
  struct LayerMatrices { Matrix q, k, v, o, gate, up, down; };
  std::vector<LayerMatrices> matrices;
  for (int64_t l = 0; l < L; ++l) {
    const at::Tensor* w = &weights[kPerLayer * l];
    const at::Tensor* sc = &scales[kPerLayer * l];
    for (int i : {0, 2, 4, 6, 8})
      TORCH_CHECK(w[i].numel() == 0 || (w[i].scalar_type() == at::kFloat && w[i].is_contiguous()),
                  "decode_step: layer ", l, ": norm scales and biases must be contiguous float32");
    for (int i : {0, 8}) TORCH_CHECK(w[i].numel() == D, "decode_step: layer ", l, " norm");
    matrices.push_back({matrix(w[1], sc[1], Q, D, "q", l), matrix(w[3], sc[3], KV, D, "k", l),
                        matrix(w[5], sc[5], KV, D, "v", l), matrix(w[7], sc[7], D, Q, "o", l),
                        matrix(w[9], sc[9], F, D, "gate", l), matrix(w[10], sc[10], F, D, "up", l),
                        matrix(w[11], sc[11], D, F, "down", l)});
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
    const LayerMatrices& m = matrices[l];
    matvec(hp, B, m.q, bias_or_null(w[2], Q, "q bias", l), qkvp, width, false);
    matvec(hp, B, m.k, bias_or_null(w[4], KV, "k bias", l), qkvp + Q, width, false);
    matvec(hp, B, m.v, bias_or_null(w[6], KV, "v bias", l), qkvp + Q + KV, width, false);
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
    matvec(ap, B, m.o, nullptr, xp, D, true);  // x += o(attended)

    // SwiGLU MLP: x += down(silu(gate(h)) * up(h)).
    rms_norm(xp, B, D, w[8].data_ptr<float>(), eps_f, hp);
    matvec(hp, B, m.gate, nullptr, gup, 2 * F, false);
    matvec(hp, B, m.up, nullptr, gup + F, 2 * F, false);
    // Vectorised (glibc's vector expf, through omp simd) and split between the threads: at eight rows
    // a scalar exp per element cost a fifth of the step.
    at::parallel_for(0, B * F, 1024, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin / F; b <= (end - 1) / F; ++b) {
        const int64_t lo = std::max(begin, b * F) - b * F, hi = std::min(end, (b + 1) * F) - b * F;
        const float* gate = gup + b * 2 * F;
        const float* up = gate + F;
        float* h = hp + b * F;
#pragma omp simd
        for (int64_t i = lo; i < hi; ++i) h[i] = gate[i] / (1.f + std::exp(-gate[i])) * up[i];
      }
    });
    matvec(hp, B, m.down, nullptr, xp, D, true);
  }
  at::Tensor out = at::empty({B, D}, options);
  rms_norm(xp, B, D, final_norm.data_ptr<float>(), eps_f, out.data_ptr<float>());
  return out;
}

// logits [B, total width] = x [B, D] . w[lo:hi]^T for each (lo, hi) of `ranges` (flat: lo0, hi0, lo1, ...),
// side by side: the head's allowed rows, read in place. `scale`: the head's row scales if it is int8.
at::Tensor head_rows(const at::Tensor& x_in, const at::Tensor& w, const at::Tensor& scale, at::IntArrayRef ranges) {
  TORCH_CHECK(x_in.dim() == 2 && x_in.scalar_type() == at::kFloat && w.dim() == 2 && w.size(1) == x_in.size(1),
              "head_rows: x [B, D] float32 and a head [V, D]");
  TORCH_CHECK(ranges.size() % 2 == 0, "head_rows: ranges come in (lo, hi) pairs");
  at::Tensor x = x_in.contiguous();
  const int64_t B = x.size(0), D = x.size(1), V = w.size(0);
  const Matrix head = matrix(w, scale, V, D, "head", 0);
  int64_t total = 0;
  for (size_t i = 0; i < ranges.size(); i += 2) {
    TORCH_CHECK(0 <= ranges[i] && ranges[i] <= ranges[i + 1] && ranges[i + 1] <= V, "head_rows: range (", ranges[i],
                ", ", ranges[i + 1], ") outside the head's ", V, " rows");
    total += ranges[i + 1] - ranges[i];
  }
  at::Tensor y = at::empty({B, total}, x.options());
  int64_t column = 0;
  for (size_t i = 0; i < ranges.size(); i += 2) {
    Matrix part = head.rows(ranges[i]);
    part.out = ranges[i + 1] - ranges[i];
    matvec(x.data_ptr<float>(), B, part, nullptr, y.data_ptr<float>() + column, total, false);
    column += part.out;
  }
  return y;
}

TORCH_LIBRARY(laura_qwen2, m) {
  m.def("decode_step", &decode_step);
  m.def("head_rows", &head_rows);
}
