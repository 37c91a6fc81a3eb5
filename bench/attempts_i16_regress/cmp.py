import pickle, sys, numpy as np
a = pickle.load(open(sys.argv[1], "rb")); b = pickle.load(open(sys.argv[2], "rb"))
for n in a:
    fa, fb = a[n]["features"], b[n]["features"]
    for s in fa:
        x, y = fa[s], fb[s]
        if x.shape != y.shape:
            print(n, s, "shape", x.shape, y.shape); continue
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        la, lb = a[n]["labels"][s], b[n]["labels"][s]
        print(n, s, x.shape, "cells differ", int((~same).sum()), "cols", np.where((~same).any(0))[0][:20],
              "labels same", np.array_equal(la, lb), "maxdiff", np.nanmax(np.abs(x - y)) if (~same).any() else 0)
    if "text" in a[n] and "text" in b[n]:
        print("  text vecs equal", np.array_equal(a[n]["text"], b[n]["text"]), np.array_equal(a[n]["text_r"], b[n]["text_r"]))
