"""Time training steps of a PyTorch copy of the library's transformer, for speed comparison only.

The model mirrors the parameter names, shapes and initialisation of lib/model.ts and the
LayerNorm (eps 1e-5) and sigmoid GELU x * sigmoid(1.702 x) of lib/ops.ts. The loss is the mean
cross-entropy over every position, as the "lm" objective of lib/objective.ts computes it. The
optimizer follows lib/optimizer.ts: AdamW with beta 0.9/0.999 and eps 1e-8, weight decay 0.1 on
every weight except biases and LayerNorm gains and biases, and global-norm clipping at 1.0.

NOTE: no test compares its outputs or gradients with the TypeScript model. It trains on random
token ids, so only its timings mean something, not its losses.

Run `bash bench/setup_torch.sh` first, then for example:
    .venv-bench/bin/python bench/torch_step.py --vocab 512 --layers 2 --width 128 --heads 4 \
        --mlp 512 --batch 16 --length 64 --steps 10 --threads 2
    .venv-bench/bin/python bench/torch_step.py --matmul 2048 --threads 2
Each run prints one JSON line to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
import warnings

# The CPU wheel warns on import when NumPy is missing, and this script does not use NumPy.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# Additive mask value for hidden keys, as in lib/model.ts.
NEG_INF = -1e9


def parameter_shapes(vocab: int, context: int, layers: int, width: int, mlp: int) -> list[tuple[str, tuple[int, ...]]]:
    """Return the parameter names and shapes in the order of parameterShapes in lib/model.ts."""
    d, m = width, mlp
    shapes = [("wte", (vocab, d)), ("wpe", (context, d))]
    for layer in range(layers):
        shapes += [
            (f"h{layer}.ln1.g", (d,)),
            (f"h{layer}.ln1.b", (d,)),
            (f"h{layer}.attn.w", (d, 3 * d)),
            (f"h{layer}.attn.b", (3 * d,)),
            (f"h{layer}.proj.w", (d, d)),
            (f"h{layer}.proj.b", (d,)),
            (f"h{layer}.ln2.g", (d,)),
            (f"h{layer}.ln2.b", (d,)),
            (f"h{layer}.fc.w", (d, m)),
            (f"h{layer}.fc.b", (m,)),
            (f"h{layer}.out.w", (m, d)),
            (f"h{layer}.out.b", (d,)),
        ]
    shapes += [("lnf.g", (d,)), ("lnf.b", (d,))]
    return shapes


def count_parameters(vocab: int, context: int, layers: int, width: int, mlp: int) -> int:
    """Return the parameter count by the closed form that countParameters in lib/model.ts sums."""
    d, m = width, mlp
    per_block = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * m + m) + (m * d + d)
    return vocab * d + context * d + layers * per_block + 2 * d


def gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)


class TransformerLM(torch.nn.Module):
    """Pre-LayerNorm decoder with learned positions and an output head tied to the token embedding."""

    def __init__(self, vocab: int, context: int, layers: int, width: int, heads: int, mlp: int, seed: int):
        super().__init__()
        if width % heads != 0:
            raise ValueError(f"invalid shape: width {width} is not divisible by heads {heads}. Pick heads that divide width.")
        self.layers, self.width, self.heads = layers, width, heads

        # Same scheme as TransformerLM.create: normal(0, 0.02) weights, residual projections scaled
        # by 1/sqrt(2 * layers), zero biases, unit gains. The random values differ from the library's.
        generator = torch.Generator().manual_seed(seed)
        residual_std = 0.02 / math.sqrt(2 * layers)
        self.weights = torch.nn.ParameterDict()
        for name, shape in parameter_shapes(vocab, context, layers, width, mlp):
            if name.endswith(".g"):
                data = torch.ones(shape)
            elif name.endswith(".b"):
                data = torch.zeros(shape)
            else:
                std = residual_std if name.endswith(("proj.w", "out.w")) else 0.02
                data = torch.randn(shape, generator=generator) * std
            # ParameterDict keys cannot contain dots.
            self.weights[name.replace(".", "_")] = torch.nn.Parameter(data)

    def parameter(self, name: str) -> torch.nn.Parameter:
        return self.weights[name.replace(".", "_")]

    def decay_groups(self) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
        """Split the parameters into decayed weights and undecayed biases and LayerNorm gains."""
        decayed, undecayed = [], []
        for key, value in self.weights.items():
            (undecayed if key.endswith(("_b", "_g")) else decayed).append(value)
        return decayed, undecayed

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Return logits [B*T, V] for token ids [B, T]."""
        batch, length = ids.shape
        d, h = self.width, self.heads
        dh = d // h
        p = self.parameter

        # The library multiplies a one-hot matrix by wte because its wasm backend lacks a gather
        # gradient. The lookup here computes the same values.
        x = F.embedding(ids, p("wte")) + p("wpe")[:length]
        x = x.reshape(batch * length, d)

        causal = torch.full((length, length), NEG_INF).triu(1)
        for layer in range(self.layers):
            def block(name: str) -> torch.nn.Parameter:
                return p(f"h{layer}.{name}")

            hidden = F.layer_norm(x, (d,), block("ln1.g"), block("ln1.b"), eps=1e-5)
            qkv = torch.addmm(block("attn.b"), hidden, block("attn.w"))
            queries, keys, values = (
                t.reshape(batch, length, h, dh).transpose(1, 2) for t in qkv.split(d, dim=1)
            )
            scores = queries @ keys.transpose(2, 3) / math.sqrt(dh) + causal
            attended = (torch.softmax(scores, dim=-1) @ values).transpose(1, 2).reshape(batch * length, d)
            x = x + torch.addmm(block("proj.b"), attended, block("proj.w"))

            hidden = F.layer_norm(x, (d,), block("ln2.g"), block("ln2.b"), eps=1e-5)
            up = gelu(torch.addmm(block("fc.b"), hidden, block("fc.w")))
            x = x + torch.addmm(block("out.b"), up, block("out.w"))

        final = F.layer_norm(x, (d,), p("lnf.g"), p("lnf.b"), eps=1e-5)
        return final @ p("wte").t()


def blas_report() -> dict:
    """Return the BLAS that torch reports: BLAS_INFO, the build lines about BLAS, and oneDNN."""
    config = torch.__config__.show()
    match = re.search(r"\bBLAS_INFO=([^,\s]+)", config)
    markers = ("BLAS", "Math Kernel Library")
    lines = [
        line.strip(" -")
        for line in config.splitlines()
        if any(marker in line for marker in markers) and "Build settings" not in line
    ]
    return {"blas_info": match.group(1) if match else None, "lines": lines, "mkldnn": torch.backends.mkldnn.is_available()}


def run_matmul(n: int, seconds: float = 1.0) -> dict:
    """Time an n x n x n float32 matmul, repeated for at least `seconds`, and return its GFLOP/s."""
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    repeats = 0
    start = time.perf_counter()
    while True:
        torch.mm(a, b)
        repeats += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and repeats >= 3:
            break
    return {"matmul": n, "repeats": repeats, "ms_per_matmul": 1000 * elapsed / repeats,
            "gflops": 2 * n**3 * repeats / elapsed / 1e9}


def run_training(args: argparse.Namespace) -> dict:
    """Build the model, run one warm-up step and `args.steps` timed steps, and return the timings."""
    context = args.context or args.length
    if args.length > context:
        raise SystemExit(f"invalid --length {args.length}: it exceeds --context {context}. Raise --context or lower --length.")
    model = TransformerLM(args.vocab, context, args.layers, args.width, args.heads, args.mlp, args.seed)
    parameters = sum(p.numel() for p in model.parameters())
    expected = count_parameters(args.vocab, context, args.layers, args.width, args.mlp)
    assert parameters == expected, f"model has {parameters} parameters but countParameters gives {expected}"

    decayed, undecayed = model.decay_groups()
    optimizer = torch.optim.AdamW(
        [{"params": decayed, "weight_decay": 0.1}, {"params": undecayed, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.999), eps=1e-8,
    )
    generator = torch.Generator().manual_seed(args.seed)
    # One extra column so that inputs and next-token labels both have `length` positions.
    tokens = torch.randint(0, args.vocab, (args.batch, args.length + 1), generator=generator)
    inputs, labels = tokens[:, :-1], tokens[:, 1:].reshape(-1)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(inputs), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        return loss.item()

    step()  # warm-up
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - start)
    mean = sum(times) / len(times)
    return {
        "shape": {"vocab": args.vocab, "context": context, "layers": args.layers, "width": args.width,
                  "heads": args.heads, "mlp": args.mlp, "batch": args.batch, "length": args.length},
        "parameters": parameters,
        "steps": args.steps,
        "ms_per_step": 1000 * mean,
        "ms_per_step_min": 1000 * min(times),
        "tokens_per_second": args.batch * args.length / mean,
        "last_loss": loss,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab", type=int, default=512, help="vocabulary size (default 512)")
    parser.add_argument("--layers", type=int, default=2, help="transformer blocks (default 2)")
    parser.add_argument("--width", type=int, default=128, help="model width d (default 128)")
    parser.add_argument("--heads", type=int, default=4, help="attention heads, a divisor of --width (default 4)")
    parser.add_argument("--mlp", type=int, default=512, help="MLP hidden width (default 512)")
    parser.add_argument("--batch", type=int, default=16, help="sequences per step (default 16)")
    parser.add_argument("--length", type=int, default=64, help="tokens per sequence (default 64)")
    parser.add_argument("--context", type=int, default=0,
                        help="rows of the positional embedding, which change only the parameter count (default: --length)")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps after one warm-up step (default 10)")
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads value (default: torch's choice)")
    parser.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (default 1e-3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and token ids (default 0)")
    parser.add_argument("--matmul", type=int, default=0, help="time an N x N x N matmul instead of training steps")
    args = parser.parse_args()
    for name in ("vocab", "layers", "width", "heads", "mlp", "batch", "length", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer, got {getattr(args, name)}")
    if args.width % args.heads != 0:
        parser.error(f"--heads {args.heads} does not divide --width {args.width}. Pick a divisor of the width.")
    for name in ("context", "threads", "matmul"):
        if getattr(args, name) < 0:
            parser.error(f"--{name} must be 0 or a positive integer, got {getattr(args, name)}")
    return args


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    result = {"torch": torch.__version__, "blas": blas_report(), "threads": torch.get_num_threads()}
    result.update(run_matmul(args.matmul) if args.matmul else run_training(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
