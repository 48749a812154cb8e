"""UniRep's multiplicative LSTM (Krause et al. 2016; Alley et al., Nature Methods 2019) in PyTorch, batched, with
rows that start part-way from given states or fork from another row's (a mutant from its wild type's: prefix
reuse), and leave the batch after their last step.

One step of a layer, ``x`` its input and ``h``, ``c`` its state (zero before the first token)::

    m = (x @ wmx) * (h @ wmh)
    i, f, o, u = split(x @ wx + m @ wh + b, 4)      # sigmoid, sigmoid, sigmoid, tanh
    c = f * c + i * u
    h = o * tanh(c)

Every weight ``w`` is weight-normalised column-wise, ``g * w / ||w||`` with the norm over axis 0. Layer 0 reads the
token's 10-d embedding; each further layer reads the ``h`` of the layer below at the same step. A dense head on the
last layer's ``h`` gives the next token's 25 classes (class = token - 1: M=0 ... stop=24).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

SMALL_STEP = 1 << 24  # multiply-adds of a step below which one thread is faster than a pool (no sync per matmul)


@contextmanager
def threads_for(macs: int) -> Iterator[None]:
    """The process's torch threads for steps of ``macs`` multiply-adds, one thread for smaller ones (a thread pool's
    synchronisation per small matmul costs more than it saves, many times more on a busy machine)."""
    before = torch.get_num_threads()
    if macs < SMALL_STEP:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def weight_norm(w: np.ndarray, g: np.ndarray) -> torch.Tensor:
    """``g * w / ||w||``, the norm of each column (over axis 0; at least 1e-6, TensorFlow's l2_normalize eps)."""
    w64 = w.astype(np.float64)
    norm = np.sqrt(np.maximum((w64**2).sum(axis=0, keepdims=True), 1e-12))
    return torch.from_numpy((g * w64 / norm).astype(np.float32))


def frozen(t: torch.Tensor) -> nn.Parameter:
    """A weight that is read, never trained (counted as a parameter, e.g. by the capacity plan)."""
    return nn.Parameter(t, requires_grad=False)


class MLSTM(nn.Module):
    """The stacked mLSTM and its head, from the effective (normalised) weights; no training, no dropout."""

    def __init__(self, *, arrays: Mapping[str, np.ndarray]) -> None:
        super().__init__()
        n_layers = 1 + max(int(k.split(".")[1]) for k in arrays if k.startswith("mlstm."))
        self.n_layers, self.hidden_size = n_layers, int(arrays["mlstm.0.wmh"].shape[0])
        for i in range(n_layers):
            a = {k.split(".")[2]: v for k, v in arrays.items() if k.startswith(f"mlstm.{i}.")}
            wx = torch.cat([weight_norm(a["wmx"], a["gmx"]), weight_norm(a["wx"], a["gx"])], dim=1)  # (in, 5H)
            if i == 0:  # the input is one of 26 tokens: a lookup table of embedding @ wx
                wx = torch.from_numpy(arrays["embedding"].astype(np.float32)) @ wx  # (26, 5H)
            self.register_parameter(f"wx{i}", frozen(wx))
            self.register_parameter(f"wmh{i}", frozen(weight_norm(a["wmh"], a["gmh"])))  # (H, H)
            self.register_parameter(f"wh{i}", frozen(weight_norm(a["wh"], a["gh"])))  # (H, 4H)
            self.register_parameter(f"b{i}", frozen(torch.from_numpy(a["b"].astype(np.float32))))  # (4H,)
        self.register_parameter("head_w", frozen(torch.from_numpy(arrays["dense.w"].astype(np.float32))))  # (H, 25)
        self.register_parameter("head_b", frozen(torch.from_numpy(arrays["dense.b"].astype(np.float32))))  # (25,)

    def matmul_weights(self) -> int:
        """Weights each token multiplies, per layer ``x @ [wmx | wx]``, ``h @ wmh``, ``m @ wh``, then the head (2 FLOPs
        each: the numerator of a share of peak). Layer 0's ``x`` is the 10-d embedding (here a table lookup)."""
        hidden = self.hidden_size
        recurrent = 5 * hidden * hidden  # wmh (H, H) + wh (H, 4H)
        inputs = 10 * 5 * hidden + 5 * hidden * hidden * (self.n_layers - 1)
        return inputs + recurrent * self.n_layers + self.head_w.numel()

    def run(
        self,
        tokens: torch.Tensor,
        targets: torch.Tensor,
        first: list[int],
        ends: list[int],
        init: torch.Tensor,
        parents: list[int | None],
        *,
        layer: int,
        keep_hidden: bool,
        keep_states: int | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
        """Run each row ``r`` over steps ``first[r] .. ends[r] - 1``; a step computes only the rows inside theirs.

        tokens (b, T) input tokens (start, residues; padding past a row's end); targets (b, T) the class each step
        predicts (the next residue's, then stop's); ``first`` per row: the first step it computes; ``ends`` per row:
        one past its last (its token count); init (b, n_layers, 2, H) its state (h, c) before its first step (zeros at
        step 0), unless ``parents[r]`` names another row: then it forks from that row's state of that moment (after
        its step ``first[r] - 1``, which the parent must compute: a mutant joins its wild type at their first
        difference). ``layer``: whose ``h`` is kept (0-based). ``keep_states``: also keep every layer's (h, c) after
        steps 0, k, 2k, ... (None: no).

        Returns token_ll (b, T): log p(target) at each computed step (0 elsewhere); hidden (T, b, H) of ``layer``
        after each step, or None; logprobs (T, b, 25): the head's log-softmax; states (T // k + 1, b, n_layers, 2, H)
        or None. A row's outputs outside its steps are left zero.
        """
        b, steps = tokens.shape
        token_ll = tokens.new_zeros((b, steps), dtype=torch.float32)
        logprobs = token_ll.new_zeros((steps, b, self.head_w.shape[1]))
        hidden = token_ll.new_zeros((steps, b, self.hidden_size)) if keep_hidden else None
        states = (
            token_ll.new_zeros((steps // keep_states + 1, b, self.n_layers, 2, self.hidden_size))
            if keep_states
            else None
        )
        joining: dict[int, list[int]] = {}
        for r in range(b):
            if first[r] < ends[r]:  # a row with no step to compute (a mutant equal to its wild type) never joins
                joining.setdefault(first[r], []).append(r)
        ending = {ends[r] for rs in joining.values() for r in rs}  # the steps at which some row has left
        active: list[int] = []  # the rows in the batch, in the order of the state tensors' rows
        h = [init.new_zeros((0, self.hidden_size)) for _ in range(self.n_layers)]  # each (active, H)
        c = [init.new_zeros((0, self.hidden_size)) for _ in range(self.n_layers)]
        with threads_for(b * self.matmul_weights()):
            for t in range(min(joining, default=0), max(ends, default=0)):
                new = joining.get(t, [])
                if new or t in ending:
                    if new:  # joiners first: a parent's state is read before it leaves
                        for i in range(self.n_layers):
                            h[i] = torch.cat([h[i], self._start(h[i], init[:, i, 0], new, parents, active)])
                            c[i] = torch.cat([c[i], self._start(c[i], init[:, i, 1], new, parents, active)])
                        active += new
                    stay = [j for j, r in enumerate(active) if ends[r] > t]
                    if len(stay) < len(active):
                        keep = torch.tensor(stay, dtype=torch.long, device=tokens.device)
                        h, c = [x[keep] for x in h], [x[keep] for x in c]
                        active = [active[j] for j in stay]
                    rows = torch.tensor(active, dtype=torch.long, device=tokens.device)
                if not active:
                    continue
                x = self.wx0[tokens[rows, t]]  # (n, 5H): layer 0's input projection by lookup
                for i in range(self.n_layers):
                    if i:
                        x = h[i - 1] @ getattr(self, f"wx{i}")  # (n, 5H)
                    hidden_size = self.hidden_size
                    m = x[:, :hidden_size] * (h[i] @ getattr(self, f"wmh{i}"))  # (n, H)
                    z = torch.addmm(x[:, hidden_size:] + getattr(self, f"b{i}"), m, getattr(self, f"wh{i}"))  # (n, 4H)
                    gate_i, gate_f, gate_o, u = z.chunk(4, dim=1)
                    c[i] = torch.sigmoid(gate_f) * c[i] + torch.sigmoid(gate_i) * torch.tanh(u)
                    h[i] = torch.sigmoid(gate_o) * torch.tanh(c[i])
                lp = torch.addmm(self.head_b, h[-1], self.head_w).log_softmax(dim=-1)  # (n, 25)
                logprobs[t, rows] = lp
                token_ll[rows, t] = lp.gather(1, targets[rows, t, None])[:, 0]
                if hidden is not None:
                    hidden[t, rows] = h[layer]
                if states is not None and t % keep_states == 0:
                    for i in range(self.n_layers):
                        states[t // keep_states, rows, i, 0], states[t // keep_states, rows, i, 1] = h[i], c[i]
        return token_ll, hidden, logprobs, states

    @staticmethod
    def _start(
        live: torch.Tensor, init: torch.Tensor, new: list[int], parents: list[int | None], active: list[int]
    ) -> torch.Tensor:
        """(len(new), H): each joining row's state, its parent's live one (``live``: (active, H)) or its ``init``."""
        return torch.stack([init[r] if parents[r] is None else live[active.index(parents[r])] for r in new])
