// grpo_loss_binding.cpp: thin PyTorch binding for the fused GRPO loss kernels (kernels/grpo_loss.cu).
// Checks shapes, dtypes and devices, allocates outputs, fills a GRPOLossArgs with raw pointers and strides,
// and calls the host launchers. No math here: that lives in kernels/grpo_loss_math.h.
//
// Built on first use by nanor1/loss.py (torch.utils.cpp_extension.load, ~70 s, cached), or by hand:
//     python -c "import nanor1.loss as L; print(L.fused_available(), L.fused_status())"
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/extension.h>

#include <tuple>

#include "grpo_loss_math.h"

namespace {

void check_vector(const torch::Tensor& t, const torch::Tensor& logits, torch::ScalarType dtype, const char* name) {
    TORCH_CHECK(t.device() == logits.device(), name, " must be on the same device as logits");
    TORCH_CHECK(t.scalar_type() == dtype, name, " has dtype ", t.scalar_type(), ", expected ", dtype);
    TORCH_CHECK(t.dim() == 1 && t.size(0) == logits.size(0), name, " must have shape (N,) with N = logits.size(0)");
    TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

int dtype_code(const torch::Tensor& logits) {
    switch (logits.scalar_type()) {
        case torch::kFloat32: return GRPO_FP32;
        case torch::kBFloat16: return GRPO_BF16;
        case torch::kFloat16: return GRPO_FP16;
        default: TORCH_CHECK(false, "logits must be fp32, bf16 or fp16, got ", logits.scalar_type());
    }
    return -1;
}

// The kernels read rows through row_stride but need each row's elements contiguous (stride(1) == 1).
torch::Tensor rows_with_unit_stride(const torch::Tensor& logits) {
    TORCH_CHECK(logits.is_cuda(), "logits must be a CUDA tensor");
    TORCH_CHECK(logits.dim() == 2, "logits must be (N, V)");
    return logits.stride(1) == 1 ? logits : logits.contiguous();
}

GRPOLossArgs make_args(const torch::Tensor& logits, const torch::Tensor& targets, const torch::Tensor& mask,
                       double eps_low, double eps_high, double beta, double temperature, double entropy_coef) {
    check_vector(targets, logits, torch::kInt64, "targets");
    check_vector(mask, logits, torch::kBool, "mask");
    TORCH_CHECK(temperature > 0, "temperature must be > 0");
    GRPOLossArgs a = {};
    a.logits = logits.data_ptr();
    a.row_stride = logits.stride(0);
    a.dtype = dtype_code(logits);
    a.N = logits.size(0);
    a.V = logits.size(1);
    a.targets = targets.data_ptr<int64_t>();
    a.mask = mask.data_ptr<bool>();
    a.params = GRPOParams{(float)eps_low, (float)eps_high, (float)beta, (float)temperature, (float)entropy_coef};
    return a;
}

void check_launch(int err, const char* what) {
    TORCH_CHECK(err == 0, what, " launch failed: ", cudaGetErrorString((cudaError_t)err));
}

using ForwardOut = std::vector<torch::Tensor>;

// forward, optionally with the gradient written in the same kernel (weights given).
ForwardOut forward_impl(torch::Tensor logits, torch::Tensor targets, torch::Tensor advantages, torch::Tensor old_logp,
                        c10::optional<torch::Tensor> ref_logp, torch::Tensor mask,
                        c10::optional<torch::Tensor> weights, double eps_low, double eps_high, double beta,
                        double temperature, double entropy_coef) {
    logits = rows_with_unit_stride(logits);
    const c10::cuda::CUDAGuard guard(logits.device());
    GRPOLossArgs a = make_args(logits, targets, mask, eps_low, eps_high, beta, temperature, entropy_coef);
    check_vector(advantages, logits, torch::kFloat32, "advantages");
    check_vector(old_logp, logits, torch::kFloat32, "old_logp");
    a.advantages = advantages.data_ptr<float>();
    a.old_logp = old_logp.data_ptr<float>();
    if (ref_logp.has_value()) {
        check_vector(*ref_logp, logits, torch::kFloat32, "ref_logp");
        a.ref_logp = ref_logp->data_ptr<float>();
    }
    auto f32 = logits.options().dtype(torch::kFloat32);
    int64_t N = a.N;
    torch::Tensor loss = torch::empty({N}, f32), logp = torch::empty({N}, f32), kl = torch::empty({N}, f32),
                  entropy = torch::empty({N}, f32), lse = torch::empty({N}, f32), coef = torch::empty({N}, f32),
                  clipped = torch::empty({N}, logits.options().dtype(torch::kBool));
    a.loss = loss.data_ptr<float>(); a.logp = logp.data_ptr<float>(); a.kl = kl.data_ptr<float>();
    a.entropy = entropy.data_ptr<float>(); a.lse = lse.data_ptr<float>(); a.coef = coef.data_ptr<float>();
    a.clipped = clipped.data_ptr<bool>();
    ForwardOut out = {loss, logp, kl, clipped, entropy, lse, coef};
    if (weights.has_value()) {
        check_vector(*weights, logits, torch::kFloat32, "weights");
        torch::Tensor grad = torch::empty({N, a.V}, logits.options());  // (N, V) contiguous, logits dtype
        a.grad_logits = grad.data_ptr();
        a.grad_loss = weights->data_ptr<float>();
        out.push_back(grad);
    }
    check_launch(grpo_loss_forward(a, c10::cuda::getCurrentCUDAStream().stream()), "grpo_loss_forward");
    return out;
}

ForwardOut forward(torch::Tensor logits, torch::Tensor targets, torch::Tensor advantages, torch::Tensor old_logp,
                   c10::optional<torch::Tensor> ref_logp, torch::Tensor mask, double eps_low, double eps_high,
                   double beta, double temperature, double entropy_coef) {
    return forward_impl(logits, targets, advantages, old_logp, ref_logp, mask, c10::nullopt, eps_low, eps_high, beta,
                        temperature, entropy_coef);
}

ForwardOut forward_with_grad(torch::Tensor logits, torch::Tensor targets, torch::Tensor advantages,
                             torch::Tensor old_logp, c10::optional<torch::Tensor> ref_logp, torch::Tensor mask,
                             torch::Tensor weights, double eps_low, double eps_high, double beta, double temperature,
                             double entropy_coef) {
    return forward_impl(logits, targets, advantages, old_logp, ref_logp, mask, weights, eps_low, eps_high, beta,
                        temperature, entropy_coef);
}

// backward: dlogits (N, V) in the logits dtype, from the incoming per-token gradient and the saved lse/entropy/coef.
torch::Tensor backward(torch::Tensor logits, torch::Tensor targets, torch::Tensor grad_loss, torch::Tensor mask,
                       torch::Tensor lse, torch::Tensor entropy, torch::Tensor coef, double eps_low, double eps_high,
                       double beta, double temperature, double entropy_coef) {
    logits = rows_with_unit_stride(logits);
    const c10::cuda::CUDAGuard guard(logits.device());
    GRPOLossArgs a = make_args(logits, targets, mask, eps_low, eps_high, beta, temperature, entropy_coef);
    check_vector(grad_loss, logits, torch::kFloat32, "grad_loss");
    check_vector(lse, logits, torch::kFloat32, "lse");
    check_vector(entropy, logits, torch::kFloat32, "entropy");
    check_vector(coef, logits, torch::kFloat32, "coef");
    torch::Tensor grad = torch::empty({a.N, a.V}, logits.options());
    a.grad_logits = grad.data_ptr();
    a.grad_loss = grad_loss.data_ptr<float>();
    a.lse = lse.data_ptr<float>();
    a.entropy = entropy.data_ptr<float>();
    a.coef = coef.data_ptr<float>();
    check_launch(grpo_loss_backward(a, c10::cuda::getCurrentCUDAStream().stream()), "grpo_loss_backward");
    return grad;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.doc() = "nanor1 fused GRPO token loss (kernels/grpo_loss.cu)";
    m.def("forward", &forward, "loss, logp, kl, clipped, entropy, lse, coef");
    m.def("forward_with_grad", &forward_with_grad, "forward + (N, V) gradient of sum(weights * loss) in one kernel");
    m.def("backward", &backward, "dlogits (N, V)");
}
