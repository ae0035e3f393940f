"""bench/count-independent.py - the counting rows' second ceiling: pref_voting (PyPI), an
independent, established implementation, counting the same profiles as count-bench.

Run by bench/run's count scenario with the virtualenv's python (pref_voting pinned there):

  python bench/count-independent.py --profiles DIR --count-bench FILE --out MEASUREMENTS
      [--stv-ballots K] [--schulze-ballots K] [--version V] [--summary FILE]

DIR holds count-bench's stv.blt (the very file it parsed and counted) and schulze.blt (its
Schulze ballots); FILE is count-bench's JSON. Each BLT file is read and its identical rankings
are aggregated into one weighted ranking (weights summed), pref_voting's native input
(ProfileWithTies with rcounts). Then, timed:
  - Scottish STV: pref_voting.proportional_methods.stv_scottish (SSI 2007/42: integer Droop
    quota, per-ballot truncated transfer values, 5 decimals), 3 seats;
  - Meek STV: pref_voting.proportional_methods.stv_meek, 3 seats;
  - Schulze: pref_voting's supports with extended strict preference (unranked choices below
    ranked ones, level with each other: securevote's reading of a partial ranking), then
    beat_path with the support as strength (winning votes, securevote's variant).
Only the count is timed: not reading the file, not aggregating, not building the profile
(pref_voting's constructor computes strict-preference supports the STV methods never use);
for Schulze the extended-preference supports (the pairwise tally) and beat_path are timed.

--stv-ballots / --schulze-ballots K: count only the first K ballots of the file (a slice),
when the whole profile would take pref_voting too long; count-bench must then have counted the
same slice (its --stv-slice / --schulze-slice), and the ratio compares the two on that slice.

The elected sets must agree, or this exits non-zero: both STV rules are the same rules on both
sides on a profile with no ties in play (pref_voting's deviations from the Scottish rules, on a
repeated surplus of one candidate, and its Meek details, floats and a 1e-10 tolerance against
securevote's fixed-point decimals, decide no seat unless candidates are within rounding of each
other); Schulze: pref_voting returns every undefeated choice, securevote's winner must be one of
them (and the only one where pref_voting finds one).

Appends three service/ceiling pairs to MEASUREMENTS (JSON lines, as benchtool's rows): rates in
ballots per second, so the report's ratio is pref_voting's time over securevote's; target ≥ 100.
"""

import argparse
import json
import math
import random
import sys
import time
from collections import defaultdict

TARGET = 100.0
# securevote's Meek stops when the elected candidates' total surplus is below omega = 1e-6
# votes; pref_voting's default tolerance, 1e-10, is out of a float count's reach on a profile of
# a million votes (keep factors settle, tallies stay 1e-9 off the quota) and it then runs its
# max_iter = 2000 iterations at every stage. Given securevote's omega as its tolerance, it stops
# when keep factors move less than 1e-6 and every elected tally is within 1e-5 of the quota.
MEEK_TOL = 1e-6


def read_blt(path, limit=None):
    """BLT as count-bench writes it: 'C S', ballots 'w c1 c2 ... 0', '0', C quoted names, title.
    Returns (names, seats, {ranking tuple of 0-based candidates: summed weight}, ballots)."""
    with open(path, encoding="utf-8") as f:
        lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    n, seats = map(int, lines[0].split())
    agg = defaultdict(float)
    ballots = 0
    i = 1
    while lines[i] != "0":
        if limit is None or ballots < limit:
            parts = lines[i].split()
            if parts[-1] != "0" or any(("=" in p or p.startswith("-")) for p in parts):
                sys.exit("count-independent: %s line %d: not a plain weighted ranking" % (path, i + 1))
            ranking = tuple(int(c) - 1 for c in parts[1:-1])
            agg[ranking] += float(parts[0])
            ballots += 1
        i += 1
    names = [l.strip('"') for l in lines[i + 1 : i + 1 + n]]
    return names, seats, agg, ballots


def profile_of(n, agg):
    from pref_voting.profiles_with_ties import ProfileWithTies

    rankings = [{c: r + 1 for r, c in enumerate(ranking)} for ranking in agg]
    return ProfileWithTies(rankings, rcounts=list(agg.values()), candidates=list(range(n)))


def memoize_meek_tally():
    """pref_voting's stv_meek forces another pass while an elected tally is more than 10 x tol
    off the quota, but changes a keep factor only when it moves by more than tol: once the keep
    factors have settled it recomputes the same tally, unchanged, until max_iter (2000) passes
    per stage. The tally is a pure function of the profile, the keep factors and the candidates
    still in; answering a repeat of the previous call from a cache spares the library only those
    identical passes and changes no result. Returns a counter of the passes really computed."""
    import pref_voting.proportional_methods as pm

    inner = pm._meek_tally_from_profile
    last = {}
    passes = [0]

    def tally(profile, keep, active):
        key = (id(profile), tuple(sorted(keep.items())), frozenset(active))
        if last.get("key") != key:
            passes[0] += 1
            t, excess = inner(profile, keep, active)
            last["key"], last["value"] = key, (dict(t), excess)
        t, excess = last["value"]
        return defaultdict(float, t), excess

    pm._meek_tally_from_profile = tally
    return passes


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def measurement(id_, role, label, short, ballots, seconds, target=None, details=None):
    return {
        "id": id_,
        "role": role,
        "label": label,
        "short": short,
        "backend": "count engine" if role == "service" else None,
        "concurrency": None,
        "target": target,
        "rate": ballots / max(seconds, 1e-9),
        "requests": 1,
        "errors": 0,
        "p50_ms": seconds * 1000.0,
        "p99_ms": seconds * 1000.0,
        "exhausted": False,
        "rss_kib": None,
        "body_bytes": None,
        "cpu": {},
        "rss_target_mib": None,
        "statements_per_op": None,
        "statements": [],
        "details": details or {},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", required=True)
    ap.add_argument("--count-bench", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stv-ballots", type=int)
    ap.add_argument("--schulze-ballots", type=int)
    ap.add_argument("--version", default="")
    ap.add_argument("--summary")
    a = ap.parse_args()

    import importlib.metadata

    version = importlib.metadata.version("pref_voting")
    if a.version and version != a.version:
        sys.exit("count-independent: pref_voting %s installed, %s expected" % (version, a.version))
    from pref_voting.margin_based_methods import beat_path
    from pref_voting.proportional_methods import stv_meek, stv_scottish

    with open(a.count_bench, encoding="utf-8") as f:
        text = f.read()
    bench = json.loads(text[text.index("{") :])
    rows, failures, summary = [], [], []
    lib = "pref_voting %s" % version

    def compare(id_, method, short, names, ballots, distinct, sv_seconds, sv_elected,
                lib_seconds, lib_winners, seats, whole_seconds, sliced):
        theirs = sorted(names[c] for c in lib_winners)
        ours = sorted(sv_elected)
        if seats == 1 and len(theirs) > 1:
            ok = len(ours) == 1 and ours[0] in theirs
        else:
            ok = theirs == ours
        if not ok:
            failures.append("%s: pref_voting elected %s, securevote %s" % (method, theirs, ours))
        scope = "first %s ballots of the file" % format(ballots, ",") if sliced else "the whole file"
        ratio = lib_seconds / max(sv_seconds, 1e-9)
        label = "%s vs pref_voting, %s weighted ranked ballots (%s; %s distinct rankings)" % (
            method, format(ballots, ","), scope, format(distinct, ","))
        details = {
            "securevote_count_seconds": sv_seconds,
            "pref_voting_seconds": lib_seconds,
            "pref_voting_per_ballot_us": lib_seconds / ballots * 1e6,
            "securevote_per_ballot_us": sv_seconds / ballots * 1e6,
            "elected": ours,
            "pref_voting_elected": theirs,
        }
        if whole_seconds is not None:
            details["securevote_count_bench_parse_and_count_seconds"] = whole_seconds
        rows.append(measurement(id_, "service", label, short + " vs pref_voting", ballots,
                                sv_seconds, TARGET, details))
        rows.append(measurement(id_, "ceiling", "%s, same profile, aggregated" % lib, None,
                                ballots, lib_seconds))
        print("count-independent: %s: pref_voting %.3f s, securevote %.6f s" % (
            method, lib_seconds, sv_seconds), file=sys.stderr, flush=True)
        summary.append(
            "%s on %s: securevote %.6f s, pref_voting %.3f s = %.0f x%s; elected %s" % (
                method, scope + (" (%s ballots)" % format(ballots, ",") if not sliced else ""),
                sv_seconds, lib_seconds, ratio,
                "" if whole_seconds is None else " (securevote parse + count %.3f s: %.0f x)" % (
                    whole_seconds, lib_seconds / whole_seconds),
                "%s (both)" % ", ".join(ours) if ok else "DIFFERENTLY: pref_voting %s, securevote %s" % (
                    ", ".join(theirs), ", ".join(ours))))

    # STV: the million-ballot file, or its first K ballots.
    names, seats, agg, ballots = read_blt("%s/stv.blt" % a.profiles, a.stv_ballots)
    sliced = a.stv_ballots is not None and a.stv_ballots < bench["ballots"]
    if sliced:
        sl = bench.get("stv_slice") or {}
        if sl.get("ballots") != ballots:
            sys.exit("count-independent: count-bench counted no STV slice of %d ballots" % ballots)
        sv = {k: (sl[k]["count_seconds"], sl[k]["elected"], None) for k in ("stv_scottish", "stv_meek")}
    else:
        if bench["ballots"] != ballots:
            sys.exit("count-independent: %d ballots in the file, count-bench counted %d" % (ballots, bench["ballots"]))
        parse = bench["parse_seconds"]
        sv = {k: (bench[k]["count_seconds"], bench[k]["elected"], parse + bench[k]["count_seconds"])
              for k in ("stv_scottish", "stv_meek")}
    prof = profile_of(len(names), agg)
    meek_passes = memoize_meek_tally()
    for key, method, short, fn in (
        ("stv_scottish", "Scottish STV", "scottish stv",
         lambda: stv_scottish(prof, num_seats=seats, rng=random.Random(20261201))),
        ("stv_meek", "Meek STV", "meek stv",
         lambda: stv_meek(prof, num_seats=seats, tol=MEEK_TOL)),
    ):
        passes_before = meek_passes[0]
        lib_s, winners = timed(fn)
        compare("count-indep-" + key.replace("_", "-"), method, short, names, ballots, len(agg),
                sv[key][0], sv[key][1], lib_s, winners, seats, sv[key][2], sliced)
        if key == "stv_meek":
            passes = meek_passes[0] - passes_before
            rows[-2]["details"]["pref_voting_tally_passes"] = passes
            summary[-1] += " (pref_voting: %d tally passes)" % passes
    del prof

    # Schulze: count-bench's 100,000 ballots over 50 choices, or their first K.
    names, seats, agg, ballots = read_blt("%s/schulze.blt" % a.profiles, a.schulze_ballots)
    full = bench["schulze_100k_50"]
    sliced = a.schulze_ballots is not None and a.schulze_ballots < full["ballots"]
    if sliced:
        sl = bench.get("schulze_slice") or {}
        if sl.get("ballots") != ballots:
            sys.exit("count-independent: count-bench counted no Schulze slice of %d ballots" % ballots)
        sv_s, sv_elected = sl["count_seconds"], sl["elected"]
    else:
        sv_s, sv_elected = full["count_seconds"], full["elected"]
    prof = profile_of(len(names), agg)

    def schulze():
        prof.use_extended_strict_preference()
        return beat_path(prof, strength_function=prof.support)

    lib_s, winners = timed(schulze)
    compare("count-indep-schulze", "Schulze", "schulze", names, ballots, len(agg), sv_s,
            sv_elected, lib_s, winners, 1, None, sliced)

    with open(a.out, "a", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    for line in summary:
        print("count-independent: " + line)
    if a.summary:
        with open(a.summary, "w", encoding="utf-8") as f:
            f.write("; ".join(summary))
    for line in failures:
        print("count-independent: DISAGREE " + line, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
