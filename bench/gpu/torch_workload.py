"""PyTorch workloads for bench/gpu/run.sh; each prints one JSON line of what it did."""
import json
import os
import sys
import time

import torch


def main() -> None:
    mode, n = sys.argv[1], int(sys.argv[2])
    dev = "cuda"
    x = torch.zeros(1024, device=dev)
    torch.cuda.synchronize()
    out = {"mode": mode, "n": n}
    if mode == "launch":  # launch-bound: one tiny elementwise kernel per op
        warm = 200
        for _ in range(warm):
            x.add_(1)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            x.add_(1)
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        out.update(add_kernels=warm + n, us_per_op=dt / n * 1e6)
    elif mode == "matmul":
        a = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
        b = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
        for _ in range(3):
            c = a @ b
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            c = a @ b
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        out.update(matmuls=n + 3, tflops=2 * 8192**3 * n / dt / 1e12, ms_per_op=dt / n * 1e3)
        del c
    elif mode == "copy":
        size = 256 << 20
        h = torch.empty(size, dtype=torch.uint8, pin_memory=True)
        d = torch.empty(size, dtype=torch.uint8, device=dev)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            d.copy_(h)
            h.copy_(d)
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        out.update(copies=2 * n, bytes_each=size, gbps=2 * n * size / dt / 1e9)
    elif mode == "profile":  # the same kernels under torch.profiler (CUPTI) or scope's GPU times
        a = torch.randn(4096, 4096, device=dev, dtype=torch.bfloat16)
        b = torch.randn(4096, 4096, device=dev, dtype=torch.bfloat16)

        def work() -> None:
            for _ in range(n):
                c = a @ b
                x.add_(1)
                del c
            torch.cuda.synchronize()

        work()  # warm-up: cuBLAS picks its kernels
        if os.environ.get("SCOPE_TORCH_PROFILE") == "1":
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                work()
            kernels = {}
            for e in prof.events():
                if e.device_type == torch.autograd.DeviceType.CUDA and e.device_time > 0:
                    k = kernels.setdefault(e.name, [0, 0.0])
                    k[0] += 1
                    k[1] += e.device_time  # us
            out.update(kernels=kernels)
        else:
            work()
    elif mode == "alloc":  # run with PYTORCH_NO_CUDA_MEMORY_CACHING=1
        t0 = time.perf_counter()
        for _ in range(n):
            t = torch.empty(1 << 20, dtype=torch.uint8, device=dev)
            del t
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        out.update(allocs=n, us_per_op=dt / n * 1e6)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
