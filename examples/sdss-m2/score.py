#!/usr/bin/python3
"""Score a star catalog against the Hubble truth of the M2 region, two ways.

    score.py TRUTH.csv ESTIMATES.csv NAME > scores.txt

Both files have the columns x, y (frame pixels, 0-based, pixel (i, j) covering
[i, i+1) x [j, j+1)) and a flux column (truth: flux_r_electrons; estimates:
flux), in the same units, so that the magnitudes -2.5 log10(flux) differ only
by the true difference: the zero point cancels.

StarNet protocol (Liu, McAuliffe, Regier 2021, and its results notebook):
a 5-pixel border is dropped from truth and estimates alike; a true star is
found when some estimate lies within 0.5 pixel in x and in y and within 0.5
mag, an estimate is correct when some true star is within the same reach, and
neither is one to one.  TPR = found / truth, PPV = correct / estimates.

One-to-one (current BLISS): the same border; pairs must be within 0.5 pixel
(Euclidean) and 0.5 mag; the assignment with the most pairs, and among those
the least summed distance (Hungarian, scipy's linear_sum_assignment), each
star and each estimate used once.  TPR = pairs / truth, PPV = pairs /
estimates.

Prints one line per protocol: NAME protocol n_truth n_est tp_truth tp_est TPR PPV F1.
"""
import sys

import numpy as np
from scipy.optimize import linear_sum_assignment

# The region [310, 410) x [630, 730) less the 5-pixel border.
X_LO, X_HI, Y_LO, Y_HI = 315.5, 405.5, 635.5, 725.5
POS_TOL, MAG_TOL = 0.5, 0.5


def read(path, flux_col):
    data = np.genfromtxt(path, delimiter=",", names=True)
    data = np.atleast_1d(data)
    for col in ("x", "y", flux_col):
        if col not in data.dtype.names:
            sys.exit(f"score.py: {path}: no column '{col}'")
    x, y, f = data["x"], data["y"], data[flux_col]
    inside = (x > X_LO) & (x < X_HI) & (y > Y_LO) & (y < Y_HI)
    with np.errstate(divide="ignore", invalid="ignore"):
        # A flux of 0 or below, or NaN, has no magnitude: such an estimate
        # counts in the denominator and can never be matched.
        mag = np.where(f > 0, -2.5 * np.log10(f), np.nan)
    return x[inside], y[inside], mag[inside]


def f1(tpr, ppv):
    return 2 * tpr * ppv / (tpr + ppv) if tpr + ppv > 0 else 0.0


def starnet(t, e):
    dx = np.abs(t[0][:, None] - e[0][None, :])
    dy = np.abs(t[1][:, None] - e[1][None, :])
    dm = np.abs(t[2][:, None] - e[2][None, :])
    ok = (dx < POS_TOL) & (dy < POS_TOL) & (dm < MAG_TOL)  # NaN compares False
    return int(ok.any(axis=1).sum()), int(ok.any(axis=0).sum())


def one_to_one(t, e):
    dist = np.hypot(t[0][:, None] - e[0][None, :], t[1][:, None] - e[1][None, :])
    dm = np.abs(t[2][:, None] - e[2][None, :])
    ok = (dist <= POS_TOL) & (dm <= MAG_TOL)
    if not ok.any():
        return 0, 0
    # Disallowed pairs cost more than any set of allowed ones can add up to,
    # so the optimum first maximizes the number of allowed pairs, then
    # minimizes their summed distance.
    big = 1.0 + POS_TOL * min(ok.shape)
    cost = np.where(ok, dist, big)
    rows, cols = linear_sum_assignment(cost)
    pairs = int(ok[rows, cols].sum())
    return pairs, pairs


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: score.py TRUTH.csv ESTIMATES.csv NAME")
    truth = read(sys.argv[1], "flux_r_electrons")
    est = read(sys.argv[2], "flux")
    name = sys.argv[3]
    nt, ne = len(truth[0]), len(est[0])
    for proto, fn in (("starnet", starnet), ("one-to-one", one_to_one)):
        found, correct = fn(truth, est)
        tpr = found / nt if nt else 0.0
        ppv = correct / ne if ne else 0.0
        print(f"{name} {proto} {nt} {ne} {found} {correct} "
              f"{tpr:.3f} {ppv:.3f} {f1(tpr, ppv):.3f}")


if __name__ == "__main__":
    main()
