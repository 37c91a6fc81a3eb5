"""Scratch: a MiniLM bi-encoder fine-tuned contrastively on train pairs (in-batch + labelled negatives),
2-fold cross-fitted for the train pairs; its title cosine added as a feature; fresh scorer valid/test F1."""
import pickle, sys, time, numpy as np, torch
from bench.learned import WORK_DIR
from shopgraph.matching.features import FEATURE_NAMES
from shopgraph.matching.scorer import PairScorer, prf
from shopgraph.ingest.encoders.text import default_model_path

torch.set_num_threads(1); torch.manual_seed(0)
D = pickle.load(open(WORK_DIR / "exp_data.pkl", "rb"))
EPOCHS = int(sys.argv[2]) if len(sys.argv) > 2 else 1

def train_encoder(d, rows, labels):
    from sentence_transformers import SentenceTransformer
    m = SentenceTransformer(str(default_model_path()), device="cpu"); m.max_seq_length = 64
    L, R = d["left"].titles, d["right"].titles
    pos = rows[labels == 1]; neg = rows[labels == 0]
    negs = {}
    for i, j in neg: negs.setdefault(int(i), []).append(int(j))
    opt = torch.optim.AdamW(m.parameters(), lr=2e-5)
    rng = np.random.default_rng(0); B = 32; steps = 0
    m.train()
    for ep in range(EPOCHS):
        order = rng.permutation(len(pos))
        for s in range(0, len(order), B):
            batch = pos[order[s:s + B]]
            a = [L[i] for i, _ in batch]; p = [R[j] for _, j in batch]
            hard = [R[rng.choice(negs[int(i)])] for i, _ in batch if int(i) in negs]
            emb = lambda texts: torch.nn.functional.normalize(m(m.tokenize(texts))["sentence_embedding"], dim=-1)
            ea, ep_ = emb(a), emb(p + hard)
            logits = 20 * ea @ ep_.T
            loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(a)))
            opt.zero_grad(); loss.backward(); opt.step(); steps += 1
    m.eval()
    return m

def cosines(m, d, rows):
    L, R = d["left"].titles, d["right"].titles
    li, ri = np.unique(rows[:, 0]), np.unique(rows[:, 1])
    with torch.no_grad():
        el = dict(zip(li, m.encode([L[i] for i in li], batch_size=64, normalize_embeddings=True)))
        er = dict(zip(ri, m.encode([R[j] for j in ri], batch_size=64, normalize_embeddings=True)))
    return np.array([float(el[i] @ er[j]) for i, j in rows])

for name in sys.argv[1].split(","):
    d = D[name]; s = d["bench"].splits
    t0 = time.time()
    tr = s["train"]; fold = np.random.default_rng(0).random(len(tr.labels)) < 0.5
    feat = {k: np.zeros(len(v.labels)) for k, v in s.items()}
    for f in (True, False):
        enc = train_encoder(d, tr.rows[fold == f], tr.labels[fold == f])
        feat["train"][fold != f] = cosines(enc, d, tr.rows[fold != f])
        for k in ("valid", "test"):
            feat[k] += cosines(enc, d, s[k].rows) / 2
    secs = time.time() - t0
    names = FEATURE_NAMES + ("cos_biencoder",)
    res = {}
    for use in (False, True):
        X = {k: np.hstack([d["features"][k], feat[k][:, None]]) if use else d["features"][k] for k in s}
        sc = PairScorer(feature_names=names if use else FEATURE_NAMES).fit(X["train"], s["train"].labels, X["valid"], s["valid"].labels)
        res["with" if use else "without"] = (round(sc.metrics["valid_f1"], 3), round(prf(sc.predict(X["test"]) >= sc.threshold, s["test"].labels)["f1"], 3))
    print(name, "epochs", EPOCHS, "seconds", round(secs), "valid/test", res, flush=True)
    np.savez(WORK_DIR / f"biencoder_{name}.npz", **feat)
