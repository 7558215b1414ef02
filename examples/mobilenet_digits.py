"""Placeholder for the MobileNet-style digits example: fits a softmax regression on
scikit-learn's bundled digits with minidl's autograd, to show the install works."""
import argparse
import time

import numpy as np
from sklearn.datasets import load_digits

import minidl as mdl
import minidl.functional as F


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--backend", default="numpy")
    args = parser.parse_args()
    mdl.random.seed(0)
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    split = int(0.8 * len(x))
    train, test = order[:split], order[split:]
    w = mdl.tensor(np.zeros((64, 10), np.float32), requires_grad=True, backend=args.backend)
    b = mdl.tensor(np.zeros(10, np.float32), requires_grad=True, backend=args.backend)
    xt = mdl.tensor(x[train], backend=args.backend)
    onehot = np.eye(10, dtype=np.float32)[y[train]]
    start = time.perf_counter()
    for epoch in range(args.epochs):
        loss = -(F.log_softmax(xt @ w + b) * onehot).sum(axis=1).mean()
        w.zero_grad(); b.zero_grad()
        loss.backward()
        w.data -= 0.5 * w.grad
        b.data -= 0.5 * b.grad
        print(f"epoch {epoch + 1}/{args.epochs}: loss {float(loss.data):.4f}")
    logits = (mdl.tensor(x[test], backend=args.backend) @ w + b).numpy()
    accuracy = float((logits.argmax(1) == y[test]).mean())
    print(f"test accuracy {accuracy:.4f}, wall time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
