#!/usr/bin/python3
"""ddp_mlp_torch.py - PyTorch DDP (gloo) side of bench/ddp_mlp.sh.

Data-parallel training throughput of the Fashion-MNIST MLP recipe with
torch.distributed: Linear(784, 256), ReLU, Dropout(0.2), Linear(256, 128), ReLU,
Dropout(0.2), Linear(128, 10), cross-entropy, AdamW(lr 1e-3, weight_decay 1e-2,
biases without decay), wrapped in DistributedDataParallel with the gloo
backend. WORLD processes (default 2), each with 1 thread (torch.set_num_threads
and OPENBLAS_NUM_THREADS), each training on its share of the global batch
(default 128 -> 64 per rank). The training images are preloaded: the IDX files
of Debian's dataset-fashion-mnist, normalised with the training set's mean and
std, held as one float32 tensor; each rank gathers its rows of a shuffled
order (a new permutation per epoch, the same on every rank, each rank taking
its own slice), as DistributedSampler does.

Timing: W warm-up steps, then R repetitions of N steps, each started after a
barrier and ended by one (so a repetition is as long as the slowest rank);
samples/s = global batch / median step time. Rank 0 prints, last line:
    RESULT side=torch-ddp world=2 global_batch=128 step_ms=... samples_s=...

Run with Debian's interpreter (python3-torch 1.13), not a pyenv python3:
    /usr/bin/python3 bench/ddp_mlp_torch.py [--world 2] [--batch 128]
        [--steps 300] [--reps 5] [--warmup 50] [--data /usr/share/datasets/fashion-mnist]
"""
import argparse
import gzip
import os
import socket
import statistics
import sys
import time


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--world", type=int, default=2)
    p.add_argument("--batch", type=int, default=128, help="global batch")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    return p.parse_args()


args = parse()
# Before torch (and its OpenBLAS) load: one thread per rank, one pool.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def load_images():
    def idx(name):
        with gzip.open(os.path.join(args.data, name), "rb") as f:
            raw = f.read()
        ndim = raw[3]
        dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
        return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)

    x = idx("train-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y = idx("train-labels-idx1-ubyte.gz").astype(np.int64)
    x = (x - x.mean()) / x.std()
    return torch.from_numpy(x.reshape(x.shape[0], -1).copy()), torch.from_numpy(y.copy())


def model_and_optimizer():
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(128, 10))
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    decay = [p for n, p in ddp.named_parameters() if n.endswith("weight")]
    no_decay = [p for n, p in ddp.named_parameters() if n.endswith("bias")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-2},
                             {"params": no_decay, "weight_decay": 0.0}], lr=1e-3)
    return ddp, opt


def worker(rank, world, port, x, y):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    local = args.batch // world
    model, opt = model_and_optimizer()
    model.train()
    gen = torch.Generator().manual_seed(7)
    state = {"perm": torch.randperm(x.shape[0], generator=gen), "next": 0}

    def step():
        if state["next"] + args.batch > x.shape[0]:
            state["perm"], state["next"] = torch.randperm(x.shape[0], generator=gen), 0
        idx = state["perm"][state["next"] + rank * local:state["next"] + (rank + 1) * local]
        state["next"] += args.batch
        xb, yb = x.index_select(0, idx), y.index_select(0, idx)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()  # DDP all-reduces in backward
        opt.step()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.reps):
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        dist.barrier()
        times.append((time.perf_counter() - t0) / args.steps)
    if rank == 0:
        ts = statistics.median(times)
        print(f"torch {torch.__version__}, gloo, {world} processes x {torch.get_num_threads()} "
              f"thread, global batch {args.batch} ({local} per rank): step {ts * 1e3:.4f} ms "
              f"(range {min(times) * 1e3:.4f}-{max(times) * 1e3:.4f}) = "
              f"{args.batch / ts:.0f} samples/s")
        print(f"RESULT side=torch-ddp world={world} global_batch={args.batch} "
              f"step_ms={ts * 1e3:.4f} samples_s={args.batch / ts:.0f}", flush=True)
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    if args.batch % args.world:
        print(f"ddp_mlp_torch.py: --batch {args.batch} is not a multiple of --world "
              f"{args.world}", file=sys.stderr)
        return 2
    x, y = load_images()
    mp.spawn(worker, args=(args.world, free_port(), x, y), nprocs=args.world, join=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
