"""The reference networks of bench/nnbench.c in PyTorch: samples/s for
training (forward, backward, Adam) and inference, same batch, same threads.

Usage: torch_nets.py detect|lens THREADS  ->  "torch NET THREADS TRAIN INFER"
"""
import sys
import time

import torch
from torch import nn


def cbs(cin, cout, stride=1):
    return [nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.SiLU()]


def reference(name):
    if name == "detect":
        layers = cbs(1, 32) + cbs(32, 32) + cbs(32, 64, 2) + cbs(64, 64, 2) + cbs(64, 64)
        return nn.Sequential(*layers, nn.Conv2d(64, 5, 1)), (32, 1, 100, 100)
    layers, cin = [], 1
    for c in (32, 64, 128):
        layers += cbs(cin, c) + cbs(c, c) + [nn.MaxPool2d(2)]
        cin = c
    layers += [nn.Flatten(), nn.Linear(128 * 6 * 6, 256), nn.SiLU(), nn.Linear(256, 12)]
    return nn.Sequential(*layers), (64, 1, 48, 48)


def main():
    name, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    net, shape = reference(name)
    x = torch.randn(*shape)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    reps = 12

    def step():
        opt.zero_grad()
        net(x).sum().backward()
        opt.step()

    net.train()
    for _ in range(2):
        step()
    t0 = time.perf_counter()
    for _ in range(reps):
        step()
    train = shape[0] * reps / (time.perf_counter() - t0)
    net.eval()
    with torch.no_grad():
        net(x)
        t0 = time.perf_counter()
        for _ in range(2 * reps):
            net(x)
        infer = shape[0] * 2 * reps / (time.perf_counter() - t0)
    print(f"torch {name} {threads} {train:.1f} {infer:.1f}")


if __name__ == "__main__":
    main()
