"""Logistic regression by gradient descent on generated data, with or without feature scaling.

The features span four orders of magnitude, so one learning rate cannot suit them all
unless they are standardised first. Under ``lab run -c config.yaml`` it reads its settings
from ``labbook.config()``; on its own, from ``--seed 0 [--scale] [--lr] [--steps]``.
"""

import argparse
import json
from typing import Any

import numpy as np
import numpy.typing as npt

import labbook

Array = npt.NDArray[np.float64]


def sigmoid(z: Array) -> Array:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def log_loss(logits: Array, y: Array) -> float:
    return float(np.mean(np.logaddexp(0.0, logits) - y * logits))


def examples(logits: Array, y: Array, p_true: Array, x: Array) -> list[dict[str, Any]]:
    """One row per validation example: what the model said, what was right, and how sure it was.

    ``bayes_correct`` says whether the true model would have been right: when it is false
    the label itself is the coin flip, and no model can fix that failure.
    """
    score = sigmoid(logits)
    rows = []
    for i in range(len(y)):
        target = "yes" if y[i] > 0.5 else "no"
        output = "yes" if logits[i] > 0 else "no"
        rows.append(
            {
                "id": f"val-{i:04d}",
                "input": " ".join(f"{v:.3g}" for v in x[i]),
                "output": output,
                "target": target,
                "correct": output == target,
                "score": round(float(score[i]), 4),
                "loss": round(float(np.logaddexp(0.0, logits[i]) - y[i] * logits[i]), 4),
                "bayes_correct": bool((p_true[i] > 0.5) == (y[i] > 0.5)),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", action="store_true", help="standardise the features")
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    for key, value in labbook.config().items():  # lab run -c config.yaml ... wins over the flags
        setattr(args, key, value)

    # The task and its validation set are fixed (so example ids mean the same in every run);
    # the seed draws the training sample and the noise in its labels.
    task = np.random.default_rng(12345)
    d = 12
    true_w = task.normal(size=d)
    scales = 10.0 ** np.linspace(-2, 2, d)
    offsets = task.normal(size=d) * scales

    def draw(rng: np.random.Generator, n: int) -> tuple[Array, Array, Array]:
        z = rng.normal(size=(n, d))
        p = sigmoid(z @ true_w)
        return z * scales + offsets, (rng.random(n) < p).astype(float), p

    x_va, y_va, p_va = draw(np.random.default_rng(54321), 1000)
    x_tr, y_tr, _ = draw(np.random.default_rng(args.seed), 3000)
    raw_va = x_va
    if args.scale:
        mu, sd = x_tr.mean(axis=0), x_tr.std(axis=0)
        x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd

    run = labbook.init(config={"seed": args.seed, "scale": args.scale, "lr": args.lr, "steps": args.steps})

    w, b = np.zeros(d), 0.0
    best = 0.0
    for step in range(args.steps + 1):
        logits = x_tr @ w + b
        if step % 10 == 0 or step == args.steps:
            val_logits = x_va @ w + b
            val_acc = float(np.mean((val_logits > 0) == (y_va > 0.5)))
            best = max(best, val_acc)
            run.log(
                {
                    "train_loss": log_loss(logits, y_tr),
                    "val_loss": log_loss(val_logits, y_va),
                    "val_acc": val_acc,
                },
                step=step,
            )
        if step == args.steps:
            break  # the examples below are scored by the weights just evaluated
        err = sigmoid(logits) - y_tr
        w -= args.lr * (x_tr.T @ err) / len(y_tr)
        b -= args.lr * float(np.mean(err))
    run.summary["best_val_acc"] = best
    run.log_examples(examples(x_va @ w + b, y_va, p_va, raw_va), split="eval")
    # A JSON line on stdout is a metric too, with no SDK call at all.
    print(json.dumps({"final_val_acc": val_acc, "step": args.steps}))


if __name__ == "__main__":
    main()
