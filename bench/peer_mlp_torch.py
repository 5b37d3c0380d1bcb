#!/usr/bin/python3
"""peer_mlp_torch.py - the PyTorch side of the peer benchmark (issue 4).

The same Fashion-MNIST MLP recipe as bench/peer_mlp.c, in PyTorch: Linear(784,
256), ReLU, Dropout(0.2), Linear(256, 128), ReLU, Dropout(0.2), Linear(128,
10), cross-entropy, AdamW(lr 1e-3, weight_decay 1e-2) with the biases in a
group without decay (as axon registers them), on the very same preloaded
float32 images: the .npy files `bench_peer_mlp --write-data DIR` writes (the
real training set normalised with its own mean and std). Each step gathers
its batch from that in-memory array in a shuffled order (a new permutation
each epoch, the remainder dropped), as the C side does.

Run it with Debian's interpreter (/usr/bin/python3, python3-torch 1.13).

Threading. Debian's torch runs its own kernels on an OpenMP pool
(torch.set_num_threads) and its GEMMs in the system BLAS, OpenBLAS 0.3.21
(pthread flavour, through libblas.so.3), which has its own spinning pthread
pool sized by OPENBLAS_NUM_THREADS (default: all cores). torch.set_num_threads
does not resize the OpenBLAS pool, so both pools are set here, the OpenBLAS
one through the environment before torch is imported:
    --threads T          torch.set_num_threads(T) (OpenMP, intra-op)
    --blas-threads N     OPENBLAS_NUM_THREADS=N (default: T)
Both pools at 2 threads on 2 cores is the trap of PLATFORM-NOTES (they spin
against each other); bench/peer_mlp.sh measures the settings and reports
the best.

Modes:
    peer_mlp_torch.py --data DIR [--batch B] [--threads T] [--blas-threads N]
                      [--steps N] [--reps R] [--warmup W] [--foreach]
        throughput: W warm-up steps, then the median of R repetitions of N
        steps; the last line is "RESULT key=value ...".
    peer_mlp_torch.py --data DIR --train-epochs E [--batch B] [--seed S] ...
        the accuracy check: E epochs with the recipe's cosine schedule over
        all steps (CosineAnnealingLR stepped per batch), then the accuracy on
        the 10,000 test images in evaluation mode.
"""
import argparse
import os
import platform
import statistics
import sys
import time


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="directory of {train,test}_{x,y}.npy")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (OpenMP)")
    p.add_argument("--blas-threads", type=int, default=None,
                   help="OPENBLAS_NUM_THREADS (default: --threads)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--train-epochs", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--foreach", action="store_true",
                   help="AdamW(foreach=True) instead of the default per-tensor loop")
    return p.parse_args()


args = parse()
blas_threads = args.blas_threads if args.blas_threads is not None else args.threads
# Before torch loads OpenBLAS: the pool is sized when the library starts.
os.environ["OPENBLAS_NUM_THREADS"] = str(blas_threads)
os.environ["OMP_NUM_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)


def machine_lines():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    print(f"machine: {model}, {os.cpu_count()} online cores")
    print(f"torch: {torch.__version__}, numpy {np.__version__}, python {platform.python_version()}")
    blas = "unknown"
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({l.split()[-1] for l in f if "blas" in l and ".so" in l})
        blas = ", ".join(libs)
    except OSError:
        pass
    print(f"blas: {blas}")
    print(f"threads: torch.set_num_threads({args.threads}) -> {torch.get_num_threads()} OpenMP "
          f"threads, OPENBLAS_NUM_THREADS={blas_threads}, "
          f"interop {torch.get_num_interop_threads()}")


def load(data, name):
    x = torch.from_numpy(np.load(os.path.join(data, f"{name}_x.npy")))
    y = torch.from_numpy(np.load(os.path.join(data, f"{name}_y.npy")).astype(np.int64))
    return x, y


def recipe_model():
    return torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(128, 10))


def recipe_optimizer(model):
    decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
    kw = {"foreach": True} if args.foreach else {}
    return torch.optim.AdamW([{"params": decay, "weight_decay": 1e-2},
                              {"params": no_decay, "weight_decay": 0.0}], lr=1e-3, **kw)


class Order:
    """Shuffled batches of indices, a new permutation per epoch, remainder dropped."""

    def __init__(self, n, batch):
        self.n, self.batch = n, batch
        self.perm, self.next = torch.randperm(n), 0

    def take(self):
        if self.next + self.batch > self.n:
            self.perm, self.next = torch.randperm(self.n), 0
        idx = self.perm[self.next:self.next + self.batch]
        self.next += self.batch
        return idx


def step(model, opt, x, y, idx):
    xb = x.index_select(0, idx)
    yb = y.index_select(0, idx)
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(xb), yb)
    loss.backward()
    opt.step()
    return loss


def throughput(x, y):
    torch.manual_seed(1)
    model, order = recipe_model(), Order(x.shape[0], args.batch)
    opt = recipe_optimizer(model)
    model.train()
    for _ in range(args.warmup):
        step(model, opt, x, y, order.take())
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step(model, opt, x, y, order.take())
        times.append((time.perf_counter() - t0) / args.steps)
    ts = statistics.median(times)
    print(f"batch {args.batch}, omp {args.threads} / blas {blas_threads}: step {ts * 1e3:.4f} ms "
          f"(range {min(times) * 1e3:.4f}-{max(times) * 1e3:.4f}) = {args.batch / ts:.0f} samples/s")
    print(f"RESULT side=torch batch={args.batch} threads={args.threads} blas_threads={blas_threads} "
          f"foreach={int(args.foreach)} step_ms={ts * 1e3:.4f} samples_s={args.batch / ts:.0f} "
          f"best_samples_s={args.batch / min(times):.0f}")


def train(x, y, xt, yt):
    torch.manual_seed(args.seed)
    model, order = recipe_model(), Order(x.shape[0], args.batch)
    opt = recipe_optimizer(model)
    steps_per_epoch = x.shape[0] // args.batch
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=args.train_epochs * steps_per_epoch, eta_min=0.0)
    t0 = time.perf_counter()
    for epoch in range(args.train_epochs):
        model.train()
        loss_sum = 0.0
        for _ in range(steps_per_epoch):
            loss_sum += step(model, opt, x, y, order.take()).item()
            sched.step()
        print(f"epoch {epoch + 1}  train loss {loss_sum / steps_per_epoch:.4f}")
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(xt[i:i + 1000]).argmax(1) == yt[i:i + 1000]).sum())
                      for i in range(0, xt.shape[0], 1000))
    acc = correct / xt.shape[0]
    print(f"RESULT side=torch mode=train epochs={args.train_epochs} batch={args.batch} "
          f"seed={args.seed} test_accuracy={acc:.4f} seconds={time.perf_counter() - t0:.2f}")


def main():
    machine_lines()
    x, y = load(args.data, "train")
    print(f"recipe: 784-256-128-10, ReLU, dropout 0.2, AdamW lr 1e-3 wd 1e-2 (biases no decay"
          f"{', foreach' if args.foreach else ''}), cross-entropy; {x.shape[0]} preloaded "
          f"Fashion-MNIST training images, shuffled")
    if args.train_epochs > 0:
        xt, yt = load(args.data, "test")
        train(x, y, xt, yt)
    else:
        print(f"{args.warmup} warm-up steps, then median of {args.reps} reps x {args.steps} steps")
        throughput(x, y)
    return 0


if __name__ == "__main__":
    sys.exit(main())
