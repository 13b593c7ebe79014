// grpo_loss_math.h: the per-row math of the fused GRPO loss, as small inline functions.
//
// Shared by the CUDA kernels (kernels/grpo_loss.cu) and the CPU harness (kernels/cpu_harness.cpp), so the
// harness tests exactly the arithmetic one kernel row does. Plain C++: compiles with nvcc or with g++
// (the macro below turns __host__ __device__ into nothing when nvcc is not the compiler).
//
// The math (recipe §1), for one token row of logits x (V,), target t, temperature T:
//   z = x / T;   lse = log sum_j exp(z_j);   logp = z_t - lse;   p = softmax(z);   H = -sum_j p_j log p_j
//   rho = exp(logp - old_logp);   policy = -min(rho*A, clamp(rho, 1-eps_low, 1+eps_high)*A)
//   kl = exp(ref - logp) - (ref - logp) - 1                    (k3 estimator, >= 0)
//   loss = policy + beta*kl - entropy_coef*H
//   dloss/dz_j = coef*(onehot_j - p_j) + entropy_coef*p_j*(z_j - lse + H),   coef = dloss/dlogp
//   dloss/dx_j = g * dloss/dz_j / T                             (g = incoming gradient of this token's loss)
#pragma once
#include <math.h>
#include <stdint.h>

#if !defined(__CUDACC__) && !defined(__host__)  // plain g++ (cuda_runtime.h, if included, defines them already)
#define __host__
#define __device__
#endif
#define GRPO_HD __host__ __device__ inline

// ---------------------------------------------------------------------------------------------------------------
// Online softmax with entropy (one pass over the row; Milakov & Gimelshein 2018, extended by one accumulator).
// State over the elements seen so far, relative to their running max m:
//   s = sum exp(z - m)              (so lse = m + log s)
//   u = sum exp(z - m) * (z - m)    (so sum p*z = m + u/s, and H = lse - sum p*z = log s - u/s)
// Keeping u relative to m means nothing ever overflows, even with logits of +-1e4.
// Empty state: s == 0 (m == -inf). Elements equal to -inf are skipped: exp(-inf) = 0 contributes nothing,
// and skipping avoids 0 * (-inf) = NaN in u.
// ---------------------------------------------------------------------------------------------------------------
struct OnlineSoftmax {
    float m;  // running max
    float s;  // sum exp(z - m)
    float u;  // sum exp(z - m) * (z - m)
};

GRPO_HD OnlineSoftmax online_softmax_init() { return OnlineSoftmax{-INFINITY, 0.0f, 0.0f}; }

// Rescale a state to a new, larger-or-equal max: exp(z - m') = exp(z - m) * exp(m - m'), (z - m') = (z - m) + (m - m').
GRPO_HD OnlineSoftmax online_softmax_rescale(OnlineSoftmax a, float new_m) {
    if (a.s == 0.0f) return OnlineSoftmax{new_m, 0.0f, 0.0f};
    float d = a.m - new_m;  // <= 0
    float scale = expf(d);
    return OnlineSoftmax{new_m, a.s * scale, (a.u + d * a.s) * scale};
}

// Add one element z. The common case (z <= m) costs one exp.
GRPO_HD void online_softmax_update(OnlineSoftmax& st, float z) {
    if (z == -INFINITY) return;
    if (z > st.m) st = online_softmax_rescale(st, z);
    float d = z - st.m;  // <= 0
    float e = expf(d);
    st.s += e;
    st.u += e * d;
}

// Merge two partial states (used by the block reduction: warp shuffles, then shared memory).
GRPO_HD OnlineSoftmax online_softmax_merge(OnlineSoftmax a, OnlineSoftmax b) {
    if (a.s == 0.0f) return b;
    if (b.s == 0.0f) return a;
    float m = fmaxf(a.m, b.m);
    a = online_softmax_rescale(a, m);
    b = online_softmax_rescale(b, m);
    return OnlineSoftmax{m, a.s + b.s, a.u + b.u};
}

// log-sum-exp of the row (-inf for an all -inf row).
GRPO_HD float online_softmax_lse(OnlineSoftmax st) { return st.s == 0.0f ? -INFINITY : st.m + logf(st.s); }

// Entropy H = -sum p log p = log s - u/s (in nats).
GRPO_HD float online_softmax_entropy(OnlineSoftmax st) { return st.s == 0.0f ? 0.0f : logf(st.s) - st.u / st.s; }

// ---------------------------------------------------------------------------------------------------------------
// The GRPO per-token term (recipe §1, §2 clip-higher) and its derivative coef = dloss/dlogp.
// ---------------------------------------------------------------------------------------------------------------
struct GRPOParams {
    float eps_low, eps_high;  // clip range [1 - eps_low, 1 + eps_high] (DAPO clip-higher: eps_high > eps_low)
    float beta;               // k3 KL weight (used only when ref_logp is given)
    float temperature;        // logits are divided by this before the softmax (sampling temperature)
    float entropy_coef;       // loss -= entropy_coef * H
};

struct GRPOTokenOut {
    float loss, kl, coef;
    bool clipped;
};

// rho must go through exp(logp - old_logp) even when rho == 1 (recipe §1: mu = 1 gives rho == 1, gradient != 0).
// The gradient of -min(rho*A, clamp(rho)*A) w.r.t. logp is -A*rho, except on the clipped branch, where the
// clamp is constant and the gradient is 0. That branch is taken exactly when
//   (A > 0 and rho > 1 + eps_high) or (A < 0 and rho < 1 - eps_low).
// A target of probability 0 (logit -inf) gives logp = -inf, rho = 0: the policy term stays finite; the k3 KL is
// +inf by definition, so loss is +inf only if beta > 0 (beta == 0 never adds 0 * inf = NaN).
GRPO_HD GRPOTokenOut grpo_token_term(float logp, float entropy, float adv, float old_logp, float ref_logp,
                                     bool has_ref, GRPOParams p) {
    GRPOTokenOut out;
    float rho = expf(logp - old_logp);
    float lo = 1.0f - p.eps_low, hi = 1.0f + p.eps_high;
    float rho_clamped = fminf(fmaxf(rho, lo), hi);
    float unclipped_obj = rho * adv, clipped_obj = rho_clamped * adv;
    float objective = unclipped_obj < clipped_obj ? unclipped_obj : clipped_obj;  // min(...)
    out.clipped = (adv > 0.0f && rho > hi) || (adv < 0.0f && rho < lo);
    out.loss = -objective;
    out.coef = out.clipped ? 0.0f : -adv * rho;
    out.kl = 0.0f;
    if (has_ref) {
        float d = ref_logp - logp;  // log(pi_ref / pi_theta)
        float ratio = expf(d);
        out.kl = d == INFINITY ? INFINITY : ratio - d - 1.0f;  // not inf - inf = NaN when logp = -inf
        if (p.beta != 0.0f) {
            out.loss += p.beta * out.kl;
            out.coef += p.beta * (1.0f - ratio);  // d kl / d logp = 1 - pi_ref/pi_theta
        }
    }
    out.loss -= p.entropy_coef * entropy;
    return out;
}

// d loss / d x_j for one element of the row, with z = x_j / T already computed.
// scale = g / T, where g is the incoming gradient of this token's loss (the trainer's per-token weight).
//   policy + KL part:  coef * (onehot - p_j)            (d logp / d z_j = onehot_j - p_j)
//   entropy part:      entropy_coef * p_j * (log p_j + H) (d(-entropy_coef*H)/d z_j; 0 when p_j == 0)
GRPO_HD float grpo_grad_element(float z, bool is_target, float lse, float entropy, float coef, float scale,
                                float entropy_coef) {
    float logp_j = z - lse;
    float p = expf(logp_j);  // 0 for z == -inf
    float d = coef * ((is_target ? 1.0f : 0.0f) - p);
    if (entropy_coef != 0.0f && p > 0.0f) d += entropy_coef * p * (logp_j + entropy);
    return scale * d;
}

// ---------------------------------------------------------------------------------------------------------------
// Host launcher interface (implemented in grpo_loss.cu, called by grpo_loss_binding.cpp). Raw pointers and
// strides only, so the .cu file needs no torch headers. dtype codes: 0 = fp32, 1 = bf16, 2 = fp16.
// ---------------------------------------------------------------------------------------------------------------
enum GRPODtype { GRPO_FP32 = 0, GRPO_BF16 = 1, GRPO_FP16 = 2 };

struct GRPOLossArgs {
    // inputs
    const void* logits;       // (N, V) rows at logits + row * row_stride elements; elements contiguous
    int64_t row_stride;       // in elements
    int dtype;                // GRPODtype of logits (and of grad_logits)
    int64_t N, V;
    const int64_t* targets;   // (N,)
    const float* advantages;  // (N,)
    const float* old_logp;    // (N,)
    const float* ref_logp;    // (N,) or nullptr (no KL)
    const bool* mask;         // (N,) or nullptr (all tokens count)
    GRPOParams params;
    // forward outputs, (N,) each; lse/entropy/coef are saved for the backward
    float* loss;
    float* logp;
    float* kl;
    bool* clipped;
    float* entropy;
    float* lse;
    float* coef;
    // gradient: written by grpo_loss_backward, or by grpo_loss_forward when non-null (grad-in-forward design)
    void* grad_logits;          // (N, V) contiguous, same dtype as logits
    const float* grad_loss;     // (N,) incoming gradient per token (backward), or the known weights (grad-in-forward)
};

// Returns 0 on success, else a cudaError_t code. stream is a cudaStream_t passed as void* (no CUDA headers here).
int grpo_loss_forward(const GRPOLossArgs& args, void* stream);
int grpo_loss_backward(const GRPOLossArgs& args, void* stream);
