// grpo_loss.cu: fused GRPO token loss, forward and backward CUDA kernels (no torch headers).
//
// Compile alone (checks the kernels, register use and spills):
//     nvcc -c -arch=sm_90 -Xptxas -v kernels/grpo_loss.cu -o /tmp/grpo_loss.o
// Used through nanor1/loss.py, which JIT-builds it with kernels/grpo_loss_binding.cpp on first use.
//
// Design (recipe §8): the eager loss materialises several (N, V) fp32 tensors; here nothing of size (N, V)
// exists except the logits and their gradient. One thread block owns one token row.
//   forward   pass 1: read the row once, online softmax -> lse, entropy (kernels/grpo_loss_math.h);
//                     then the per-token GRPO term, clipped flag, coef = dloss/dlogp (a few scalars per row).
//   backward  pass 2: read the row again, write dlogits = g * (coef*(onehot - p) + entropy term) / T.
//   = 3 passes over (N, V) memory: read, read, write.
// Variant "grad-in-forward" (args.grad_logits set in the forward): when the per-token weights g are known
// before the forward (the trainer's aggregation weights), the same block writes the gradient right after
// its reduction. The second read of the row then mostly hits L2 (the row was just read), so DRAM sees
// ~2 passes: read + write. The backward then has nothing left to do but hand the buffer over.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "grpo_loss_math.h"

constexpr int kThreads = 256;  // threads per row; 8 warps
constexpr int kWarps = kThreads / 32;

// ---- dtype conversion: all math is fp32, whatever the logits dtype ----
__device__ inline float to_float(float x) { return x; }
__device__ inline float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ inline float to_float(__half x) { return __half2float(x); }
template <typename T> __device__ inline T from_float(float x);
template <> __device__ inline float from_float<float>(float x) { return x; }
template <> __device__ inline __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16(x); }
template <> __device__ inline __half from_float<__half>(float x) { return __float2half(x); }

// 16 bytes of elements: one vectorised load or store (8 bf16/fp16 or 4 fp32). Used when the row start is
// 16-byte aligned; the tail of the row that does not fill a pack is read element by element.
template <typename T>
struct alignas(16) Pack {
    static constexpr int n = 16 / sizeof(T);
    T v[n];
};

// ---- block reduction of the online-softmax state: warp shuffles, then one warp over the warp results ----
__device__ inline OnlineSoftmax warp_reduce(OnlineSoftmax st) {
    for (int offset = 16; offset > 0; offset >>= 1) {
        OnlineSoftmax other{__shfl_xor_sync(0xffffffffu, st.m, offset), __shfl_xor_sync(0xffffffffu, st.s, offset),
                            __shfl_xor_sync(0xffffffffu, st.u, offset)};
        st = online_softmax_merge(st, other);
    }
    return st;  // every lane holds the merged state
}

__device__ inline OnlineSoftmax block_reduce(OnlineSoftmax st) {
    __shared__ OnlineSoftmax warp_states[kWarps];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    st = warp_reduce(st);
    if (lane == 0) warp_states[warp] = st;
    __syncthreads();
    if (warp == 0) {
        st = lane < kWarps ? warp_states[lane] : online_softmax_init();
        st = warp_reduce(st);
        if (lane == 0) warp_states[0] = st;
    }
    __syncthreads();
    return warp_states[0];
}

// ---- pass over one row: online softmax (the forward's only read of the row) ----
template <typename T>
__device__ OnlineSoftmax row_online_softmax(const T* x, int64_t V, float inv_temperature, bool vec) {
    OnlineSoftmax st = online_softmax_init();
    int64_t n_packs = vec ? V / Pack<T>::n : 0;
    const Pack<T>* packs = reinterpret_cast<const Pack<T>*>(x);
    for (int64_t k = threadIdx.x; k < n_packs; k += kThreads) {
        Pack<T> pk = packs[k];
#pragma unroll
        for (int i = 0; i < Pack<T>::n; i++) online_softmax_update(st, to_float(pk.v[i]) * inv_temperature);
    }
    for (int64_t j = n_packs * Pack<T>::n + threadIdx.x; j < V; j += kThreads)
        online_softmax_update(st, to_float(x[j]) * inv_temperature);
    return block_reduce(st);
}

// ---- pass over one row: write the gradient (the backward's read + write) ----
template <typename T>
__device__ void row_write_grad(const T* x, T* dx, int64_t V, int64_t target, float lse, float entropy, float coef,
                               float scale, const GRPOParams& p, float inv_temperature, bool vec) {
    int64_t n_packs = vec ? V / Pack<T>::n : 0;
    const Pack<T>* packs = reinterpret_cast<const Pack<T>*>(x);
    Pack<T>* dpacks = reinterpret_cast<Pack<T>*>(dx);
    for (int64_t k = threadIdx.x; k < n_packs; k += kThreads) {
        Pack<T> pk = packs[k], out;
#pragma unroll
        for (int i = 0; i < Pack<T>::n; i++) {
            int64_t j = k * Pack<T>::n + i;
            float z = to_float(pk.v[i]) * inv_temperature;
            out.v[i] = from_float<T>(grpo_grad_element(z, j == target, lse, entropy, coef, scale, p.entropy_coef));
        }
        dpacks[k] = out;
    }
    for (int64_t j = n_packs * Pack<T>::n + threadIdx.x; j < V; j += kThreads) {
        float z = to_float(x[j]) * inv_temperature;
        dx[j] = from_float<T>(grpo_grad_element(z, j == target, lse, entropy, coef, scale, p.entropy_coef));
    }
}

template <typename T>
__device__ void row_write_zeros(T* dx, int64_t V) {
    for (int64_t j = threadIdx.x; j < V; j += kThreads) dx[j] = from_float<T>(0.0f);
}

// ---- forward: one block per token row ----
template <typename T>
__global__ void __launch_bounds__(kThreads) grpo_loss_forward_kernel(GRPOLossArgs a, bool vec) {
    int64_t row = blockIdx.x;
    T* dx = a.grad_logits ? reinterpret_cast<T*>(a.grad_logits) + row * a.V : nullptr;
    bool active = a.mask == nullptr || a.mask[row];
    if (!active) {  // masked token: every output 0, gradient 0; the row is never read (may hold anything)
        if (threadIdx.x == 0) {
            a.loss[row] = 0.0f; a.logp[row] = 0.0f; a.kl[row] = 0.0f; a.clipped[row] = false;
            a.entropy[row] = 0.0f; a.lse[row] = 0.0f; a.coef[row] = 0.0f;
        }
        if (dx) row_write_zeros(dx, a.V);
        return;
    }
    const T* x = reinterpret_cast<const T*>(a.logits) + row * a.row_stride;
    float inv_temperature = 1.0f / a.params.temperature;

    OnlineSoftmax st = row_online_softmax(x, a.V, inv_temperature, vec);  // (V,) -> 3 scalars
    float lse = online_softmax_lse(st);
    float entropy = online_softmax_entropy(st);

    // Per-token scalars: every thread computes them (cheap, and the gradient pass needs coef); thread 0 writes.
    int64_t target = a.targets[row];
    bool target_ok = target >= 0 && target < a.V;  // out of range: NaN outputs rather than an illegal read
    float logp = target_ok ? to_float(x[target]) * inv_temperature - lse : NAN;
    float ref = a.ref_logp ? a.ref_logp[row] : 0.0f;
    GRPOTokenOut o = grpo_token_term(logp, entropy, a.advantages[row], a.old_logp[row], ref, a.ref_logp != nullptr,
                                     a.params);
    if (threadIdx.x == 0) {
        a.loss[row] = o.loss; a.logp[row] = logp; a.kl[row] = o.kl; a.clipped[row] = o.clipped;
        a.entropy[row] = entropy; a.lse[row] = lse; a.coef[row] = o.coef;
    }
    if (dx) {  // grad-in-forward variant: grad_loss holds the per-token weights, known in advance
        float scale = a.grad_loss[row] * inv_temperature;
        row_write_grad(x, dx, a.V, target, lse, entropy, o.coef, scale, a.params, inv_temperature, vec);
    }
}

// ---- backward: one block per token row; reads the row and the 3 saved scalars, writes the gradient ----
template <typename T>
__global__ void __launch_bounds__(kThreads) grpo_loss_backward_kernel(GRPOLossArgs a, bool vec) {
    int64_t row = blockIdx.x;
    T* dx = reinterpret_cast<T*>(a.grad_logits) + row * a.V;
    bool active = a.mask == nullptr || a.mask[row];
    float g = a.grad_loss[row];
    if (!active || g == 0.0f) {  // nothing flows back: skip the read, still write the zeros
        row_write_zeros(dx, a.V);
        return;
    }
    const T* x = reinterpret_cast<const T*>(a.logits) + row * a.row_stride;
    float inv_temperature = 1.0f / a.params.temperature;
    row_write_grad(x, dx, a.V, a.targets[row], a.lse[row], a.entropy[row], a.coef[row], g * inv_temperature,
                   a.params, inv_temperature, vec);
}

// ---- host launchers ----
static bool aligned16(const void* ptr, int64_t row_stride_bytes) {
    return reinterpret_cast<uintptr_t>(ptr) % 16 == 0 && row_stride_bytes % 16 == 0;
}

template <typename T>
static int launch(const GRPOLossArgs& a, cudaStream_t stream, bool backward) {
    if (a.N == 0) return 0;
    bool vec = aligned16(a.logits, a.row_stride * (int64_t)sizeof(T)) &&
               (a.grad_logits == nullptr || aligned16(a.grad_logits, a.V * (int64_t)sizeof(T)));
    dim3 grid((unsigned)a.N), block(kThreads);
    if (backward) grpo_loss_backward_kernel<T><<<grid, block, 0, stream>>>(a, vec);
    else grpo_loss_forward_kernel<T><<<grid, block, 0, stream>>>(a, vec);
    return (int)cudaGetLastError();
}

static int dispatch(const GRPOLossArgs& a, void* stream, bool backward) {
    cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    switch (a.dtype) {
        case GRPO_FP32: return launch<float>(a, s, backward);
        case GRPO_BF16: return launch<__nv_bfloat16>(a, s, backward);
        case GRPO_FP16: return launch<__half>(a, s, backward);
        default: return (int)cudaErrorInvalidValue;
    }
}

int grpo_loss_forward(const GRPOLossArgs& args, void* stream) { return dispatch(args, stream, false); }
int grpo_loss_backward(const GRPOLossArgs& args, void* stream) { return dispatch(args, stream, true); }
