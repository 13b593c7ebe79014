// cpu_harness.cpp: runs the fused GRPO loss math (kernels/grpo_loss_math.h) on the CPU, row by row, exactly as
// one CUDA thread block of kernels/grpo_loss.cu does: 256 "threads" each fold their share of the row into an
// online-softmax state, the states are merged in the kernel's shuffle order (xor 16, 8, 4, 2, 1 within a warp,
// then over the 8 warp results), then the per-token GRPO term and the gradient of every element.
// No GPU needed; tests/test_kernel_cpu.py compares its output with the PyTorch reference in nanor1/loss.py.
//
//     g++ -O2 -std=c++17 -o /tmp/grpo_harness kernels/cpu_harness.cpp && /tmp/grpo_harness < rows.txt
//
// Input (text, whitespace separated; "inf"/"-inf" accepted):
//     eps_low eps_high beta temperature entropy_coef pack      (pack: elements per vector load, 0 = scalar loads)
//     then per row:  V target advantage old_logp ref_logp has_ref mask grad_loss   x_0 ... x_{V-1}
// Output per row: one line "loss logp kl clipped entropy coef", then one line with the V gradient values.
#include <cstdio>
#include <vector>

#include "grpo_loss_math.h"

constexpr int kThreads = 256, kWarps = kThreads / 32;

// Emulates warp_reduce: after each xor-shuffle step every lane holds merge(own, partner) (simultaneously).
static void warp_reduce(OnlineSoftmax* lanes) {
    for (int offset = 16; offset > 0; offset >>= 1) {
        OnlineSoftmax next[32];
        for (int lane = 0; lane < 32; lane++) next[lane] = online_softmax_merge(lanes[lane], lanes[lane ^ offset]);
        for (int lane = 0; lane < 32; lane++) lanes[lane] = next[lane];
    }
}

// Emulates row_online_softmax + block_reduce for one row of z = x / T.
static OnlineSoftmax row_online_softmax(const std::vector<float>& x, float inv_temperature, int pack) {
    int64_t V = (int64_t)x.size();
    std::vector<OnlineSoftmax> st(kThreads, online_softmax_init());
    int64_t n_packs = pack > 0 ? V / pack : 0;
    for (int t = 0; t < kThreads; t++) {
        for (int64_t k = t; k < n_packs; k += kThreads)
            for (int i = 0; i < pack; i++) online_softmax_update(st[t], x[k * pack + i] * inv_temperature);
        for (int64_t j = n_packs * pack + t; j < V; j += kThreads) online_softmax_update(st[t], x[j] * inv_temperature);
    }
    OnlineSoftmax warp_states[32];
    for (int w = 0; w < kWarps; w++) {
        warp_reduce(&st[w * 32]);
        warp_states[w] = st[w * 32];  // lane 0
    }
    for (int lane = kWarps; lane < 32; lane++) warp_states[lane] = online_softmax_init();
    warp_reduce(warp_states);
    return warp_states[0];
}

int main() {
    GRPOParams p;
    int pack;
    if (scanf("%f %f %f %f %f %d", &p.eps_low, &p.eps_high, &p.beta, &p.temperature, &p.entropy_coef, &pack) != 6) {
        fprintf(stderr, "bad header\n");
        return 1;
    }
    long long V, target;
    float adv, old_logp, ref_logp, grad_loss;
    int has_ref, mask;
    while (scanf("%lld %lld %f %f %f %d %d %f", &V, &target, &adv, &old_logp, &ref_logp, &has_ref, &mask,
                 &grad_loss) == 8) {
        std::vector<float> x(V);
        for (long long j = 0; j < V; j++)
            if (scanf("%f", &x[j]) != 1) { fprintf(stderr, "short row\n"); return 1; }
        if (!mask) {  // masked token: all outputs 0, gradient 0 (the kernel never reads the row)
            printf("0 0 0 0 0 0\n");
            for (long long j = 0; j < V; j++) printf(j ? " 0" : "0");
            printf("\n");
            continue;
        }
        float inv_temperature = 1.0f / p.temperature;
        OnlineSoftmax st = row_online_softmax(x, inv_temperature, pack);
        float lse = online_softmax_lse(st), entropy = online_softmax_entropy(st);
        float logp = x[target] * inv_temperature - lse;
        GRPOTokenOut o = grpo_token_term(logp, entropy, adv, old_logp, ref_logp, has_ref != 0, p);
        printf("%.9g %.9g %.9g %d %.9g %.9g\n", o.loss, logp, o.kl, o.clipped ? 1 : 0, entropy, o.coef);
        float scale = grad_loss * inv_temperature;
        for (long long j = 0; j < V; j++) {
            float z = x[j] * inv_temperature;
            printf(j ? " %.9g" : "%.9g", grpo_grad_element(z, j == target, lse, entropy, o.coef, scale, p.entropy_coef));
        }
        printf("\n");
    }
    return 0;
}
