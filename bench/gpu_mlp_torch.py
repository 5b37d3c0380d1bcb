#!/usr/bin/env python3
"""gpu_mlp_torch.py - the PyTorch side of bench/gpu_mlp.sh: a training step on one GPU.

The same two models and step as bench/gpu_mlp.c, in torch.nn on 'cuda':
    mlp  Linear(784, 256), ReLU, Dropout(0.2), Linear(256, 128), ReLU,
         Dropout(0.2), Linear(128, 10) at batch 64 and 256;
    ffn  Linear(4096, 16384), GELU(approximate='tanh'), Linear(16384, 4096) at
         4096 tokens, cross-entropy over the 4096 outputs;
with F.cross_entropy and torch.optim.AdamW(lr 1e-3, weight_decay 1e-2 for the
weights, 0 for the biases; fused=False, foreach left to PyTorch's default,
which is the multi-tensor path on CUDA), on a fixed batch resident on the GPU.
A step is zero_grad(set_to_none=True), forward, loss, backward, opt.step().

Precision: f32 with TF32 off (torch.backends.cuda.matmul.allow_tf32 = False,
so the GEMMs are true f32 like axon's), or bf16 through
torch.autocast('cuda', dtype=torch.bfloat16) around the forward pass and the
loss (linear layers in bf16 with f32 parameters; note that autocast's linear
outputs are bf16 where axon's are f32).

Timing as the C side: W warm-up steps, then R repetitions of N steps (N so a
repetition lasts about --seconds), each from torch.cuda.synchronize() to
torch.cuda.synchronize(), host clock; the median (and fastest) time per step.
GEMM TFLOP/s counts 2MNK for the forward GEMM, the weight gradient and the
input gradient of every linear layer except the first (its input needs no
gradient), as bench/gpu_mlp.c does.

    gpu_mlp_torch.py [--model mlp|ffn] [--batch B] [--precision f32|bf16]
                     [--reps R] [--warmup W] [--seconds S] [--ffn-hidden H] [--fused]

Each configuration ends with one "RESULT key=value ..." line. Without a GPU
(torch.cuda.is_available() false) it says so and exits 0.
"""
import argparse
import platform
import statistics
import sys
import time

MODELS = {
    "mlp": {"dims": [784, 256, 128, 10], "act": "relu", "dropout": 0.2, "batches": [64, 256]},
    "ffn": {"dims": [4096, 16384, 4096], "act": "gelu", "dropout": 0.0, "batches": [4096]},
}


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=sorted(MODELS), default=None)
    p.add_argument("--batch", type=int, default=0)
    p.add_argument("--precision", choices=["f32", "bf16"], default=None)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--seconds", type=float, default=0.25)
    p.add_argument("--ffn-hidden", type=int, default=16384)
    p.add_argument("--fused", action="store_true", help="AdamW(fused=True) instead of the default")
    return p.parse_args()


args = parse()
try:
    import torch  # noqa: E402
    import torch.nn.functional as F  # noqa: E402
except ImportError:
    print(f"gpu_mlp_torch: no PyTorch for {sys.executable}; nothing to measure")
    sys.exit(0)


def gemm_flops(dims, rows):
    total = 0.0
    for layer in range(len(dims) - 1):
        mnk = float(rows) * dims[layer] * dims[layer + 1]
        total += (4.0 if layer == 0 else 6.0) * mnk
    return total


def build(spec):
    dims, layers = spec["dims"], []
    for layer in range(len(dims) - 1):
        layers.append(torch.nn.Linear(dims[layer], dims[layer + 1]))
        if layer == len(dims) - 2:
            break
        layers.append(torch.nn.ReLU() if spec["act"] == "relu"
                      else torch.nn.GELU(approximate="tanh"))
        if spec["dropout"] > 0:
            layers.append(torch.nn.Dropout(spec["dropout"]))
    return torch.nn.Sequential(*layers).cuda()


def optimizer(model):
    decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
    kw = {"fused": True} if args.fused else {}  # fused= is not known to torch < 2.0
    return torch.optim.AdamW([{"params": decay, "weight_decay": 1e-2},
                              {"params": no_decay, "weight_decay": 0.0}], lr=1e-3, **kw)


def run_config(name, spec, rows, precision):
    torch.manual_seed(1)
    model = build(spec)
    opt = optimizer(model)
    model.train()
    dims = spec["dims"]
    x = torch.rand(rows, dims[0], device="cuda") * 2 - 1
    y = torch.randint(0, dims[-1], (rows,), device="cuda")
    bf16 = precision == "bf16"

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    def timed(n):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        torch.cuda.synchronize()
        return (time.perf_counter() - t0) / n

    for _ in range(args.warmup):
        step()
    estimate = timed(3)
    steps = min(max(int(args.seconds / estimate), 3), 2000)
    times = sorted(timed(steps) for _ in range(args.reps))
    ts = statistics.median(times)
    loss = float(step())
    flops = gemm_flops(dims, rows)
    print(f"{name} {precision} batch {rows}: step {ts * 1e3:.4f} ms (fastest {times[0] * 1e3:.4f}), "
          f"GEMMs {flops * 1e-9:.2f} GFLOP -> {flops / ts * 1e-12:.2f} TFLOP/s; "
          f"{args.reps} reps x {steps} steps, loss {loss:.4f}")
    print(f"RESULT side=torch model={name} batch={rows} precision={precision} "
          f"step_ms={ts * 1e3:.4f} best_step_ms={times[0] * 1e3:.4f} "
          f"gemm_gflop={flops * 1e-9:.3f} tflops={flops / ts * 1e-12:.3f} "
          f"steps={steps} reps={args.reps}", flush=True)
    del model, opt, x, y
    torch.cuda.empty_cache()


def main():
    if not torch.cuda.is_available():
        print(f"gpu_mlp_torch: no GPU (torch {torch.__version__}, CUDA {torch.version.cuda}); "
              f"nothing to measure")
        return 0
    if args.reps < 1 or args.warmup < 1 or args.seconds <= 0 or args.ffn_hidden < 1:
        print("gpu_mlp_torch: reps, warmup, seconds and --ffn-hidden must be > 0",
              file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    MODELS["ffn"]["dims"][1] = args.ffn_hidden
    props = torch.cuda.get_device_properties(0)
    print(f"gpu: {props.name}, compute capability {props.major}.{props.minor}, "
          f"{props.multi_processor_count} SMs, {props.total_memory / 2**30:.1f} GiB")
    print(f"torch: {torch.__version__}, CUDA {torch.version.cuda}, cuBLAS via torch, "
          f"python {platform.python_version()}; AdamW fused={args.fused}, TF32 off")
    for name, spec in MODELS.items():
        if args.model and name != args.model:
            continue
        for precision in ("f32", "bf16"):
            if args.precision and precision != args.precision:
                continue
            for rows in ([args.batch] if args.batch > 0 else spec["batches"]):
                run_config(name, spec, rows, precision)
    return 0


if __name__ == "__main__":
    sys.exit(main())
