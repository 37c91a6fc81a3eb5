import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from bench.attempts_i16_block3.lab import *
from shopgraph.matching import text_signals as ts
d = load(); f = d["featurizer"]; m = matches(d["bench"]); allm = np.vstack(list(m.values()))
def joined(text):
    w = ts.words(text)
    return w + [a + b for a, b in zip(w, w[1:])]
def joined_digit(text):
    w = ts.words(text)
    return w + [a + b for a, b in zip(w, w[1:]) if any(c.isdigit() for c in a + b)]
def chan(analyzer, docsL, docsR, **kw):
    v = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True, dtype=np.float32, **kw).fit(list(docsL) + list(docsR))
    a, b = v.transform(docsL), v.transform(docsR)
    return (a @ b.T).toarray()
L, R = f.left, f.right
base = dict(d["sims"])
def score(name, sims, drop=()):
    cr = channel_ranks({c: s for c, s in sims.items() if c not in drop})
    F = fused(cr)
    order = np.argsort(-F, axis=1, kind="stable")
    rk = np.empty_like(order); np.put_along_axis(rk, order, np.arange(F.shape[1])[None].repeat(len(F), 0), 1)
    out = []
    for P in (20, 60, 120, 200):
        c = {s: np.mean([(rk[a, b] < P) and F[a, b] > 0 for a, b in q]) for s, q in (("tv", np.vstack([m['train'], m['valid']])), ("test", m["test"]), ("all", allm))}
        out.append(f"@{P} tv={c['tv']:.4f} all={c['all']:.4f}")
    print(f"{name:34s}", " | ".join(out), flush=True)
score("base", base)
score("+joined title", {**base, "joined": chan(joined, L.titles, R.titles)})
score("+joined-digit title", {**base, "joined": chan(joined_digit, L.titles, R.titles)})
score("+joined record rare", {**base, "joined": chan(joined, L.record_texts, R.record_texts, max_df=0.05)})
score("word->joined title", {**base, "word": chan(joined, L.titles, R.titles)})
