"""Fig. 3 analogue: top-1 against lambda1 (Eq. 27) for ResNet-20 / ResNet-56 at MP3/6 and MP2/6.

A picture of sensitivity, not a tuning step: it is measured on the first --limit CIFAR-10 test
images only (2,000 by default), and no default of dfmpc is chosen from it.

Every evaluation is one row of docs/figures/fig3_runs.tsv; a row already there is not run
again (delete the file, or pass --force, to re-measure). From the rows it writes
docs/figures/fig3_<stats>_<model>.dat and docs/figures/fig3_<stats>.png.

usage: fig3_lambda.py --dfmpc BIN --shared DIR --out DIR [--stats keep] [--limit 2000]
                      [--models resnet20,resnet56] [--force] [--plot-only]
exit status 3: this dfmpc build does not offer --stats <stats> (nothing written).
"""

import argparse
import os
import sys
import tempfile

import common

LAMBDAS = [round(0.1 * i, 1) for i in range(11)] + [2.0]
BITS = ["3/6", "2/6"]
COLUMNS = ["model", "bits", "method", "stats", "lambda1", "limit", "top1", "top5", "images",
           "eval_seconds", "build"]


class StatsUnavailable(Exception):
    pass


def load_runs(path, build=None):
    """{key: row}; the last row of a key wins; with `build`, only that build's rows."""
    runs = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                row = dict(zip(COLUMNS, line.rstrip("\n").split("\t")))
                if build is not None and row.get("build") != build:
                    continue
                runs[tuple(row[k] for k in COLUMNS[:6])] = row
    return runs


def append_run(path, row):
    new = not os.path.exists(path)
    with open(path, "a") as f:
        if new:
            f.write("# Fig. 3 sweep: one dfmpc eval per row (top-1/top-5 in %, first `limit` "
                    "CIFAR-10 test images of cifar10-test-jpeg.bin); build = sha256 prefix of "
                    "the dfmpc binary (a row is re-measured when the binary changes)\n")
            f.write("\t".join(COLUMNS) + "\n")
        f.write("\t".join(str(row[k]) for k in COLUMNS) + "\n")


def plan(models, stats, limit):
    """(model, bits, method, stats, lambda1, limit) in the order they are run."""
    keys = []
    for model in models:
        keys.append((model, "-", "fp32", "-", "-", str(limit)))
        for bits in BITS:
            keys.append((model, bits, "none", stats, "-", str(limit)))
            keys += [(model, bits, "dfmpc", stats, "%.1f" % lam, str(limit)) for lam in LAMBDAS]
    return keys


def measure(args, key, tmp):
    model, bits, method, stats, lam, limit = key
    src = common.model_path(args.shared, model)
    path = src
    if method != "fp32":
        path = os.path.join(tmp, "q.onnx")
        report, err = common.quantize(args.dfmpc, src, path, bits, method, stats,
                                      None if lam == "-" else float(lam))
        if report is None:
            if "not available" in err:
                raise StatsUnavailable(err)
            raise RuntimeError("dfmpc quantize failed for %s: %s" % (key, err))
    ev = common.evaluate(args.dfmpc, path, common.data_path(args.shared), int(limit))
    row = dict(zip(COLUMNS[:6], key))
    row.update(top1="%.2f" % ev["top1"], top5="%.2f" % ev["top5"], images=ev["images"],
               eval_seconds="%.1f" % ev["seconds"])
    return row


def sweep(args, models, runs_path):
    build = common.binary_id(args.dfmpc)
    runs = load_runs(runs_path, build)
    todo = [k for k in plan(models, args.stats, args.limit) if args.force or k not in runs]
    # Probe the --stats option before spending time on FP32 evaluations.
    with tempfile.TemporaryDirectory() as tmp:
        report, err = common.quantize(args.dfmpc, common.model_path(args.shared, models[0]),
                                      os.path.join(tmp, "probe.onnx"), "2/6", "dfmpc",
                                      args.stats)
        if report is None:
            raise StatsUnavailable(err)
        for n, key in enumerate(todo):
            common.log("fig3 [%d/%d] %s" % (n + 1, len(todo), " ".join(key)))
            row = measure(args, key, tmp)
            row["build"] = build
            common.log("      top1 %s" % row["top1"])
            append_run(runs_path, row)


def write_dat(args, model, runs):
    def top1(bits, method, stats, lam):
        row = runs.get((model, bits, method, stats, lam, str(args.limit)))
        return row["top1"] if row else "NaN"

    path = os.path.join(args.out, "fig3_%s_%s.dat" % (args.stats, model))
    fp32 = top1("-", "fp32", "-", "-")
    builds = sorted({r.get("build", "?") for k, r in runs.items()
                     if k[0] == model and k[3] in (args.stats, "-")})
    with open(path, "w") as f:
        f.write("# Fig. 3 analogue, %s, --method dfmpc --stats %s, lambda2 = 0: top-1 %% on the "
                "first %d CIFAR-10 test images (JPEG copy)\n" % (common.MODELS[model],
                                                                args.stats, args.limit))
        f.write("# none_* = --method none (no compensation, same --stats), constant in lambda1\n")
        f.write("# dfmpc build(s), sha256 prefix: %s\n" % " ".join(builds))
        f.write("# lambda1 dfmpc_mp3_6 dfmpc_mp2_6 none_mp3_6 none_mp2_6 fp32\n")
        for lam in LAMBDAS:
            lam_s = "%.1f" % lam
            f.write("%s %s %s %s %s %s\n" % (
                lam_s, top1("3/6", "dfmpc", args.stats, lam_s),
                top1("2/6", "dfmpc", args.stats, lam_s), top1("3/6", "none", args.stats, "-"),
                top1("2/6", "none", args.stats, "-"), fp32))
    return path


def plot(args, models, dats):
    png = os.path.join(args.out, "fig3_%s.png" % args.stats)
    s = [common.terminal_line(1500, 680),
         "set output %s" % common.gp_str(png),
         "set multiplot layout 1,%d title %s font ',13'" % (len(models), common.gp_str(
             "Top-1 against lambda1 (Eq. 27, lambda2 = 0), --method dfmpc --stats %s\\n"
             "first %d CIFAR-10 test images only (JPEG copy): a picture of sensitivity, "
             "not used to choose lambda1" % (args.stats, args.limit))),
         "set grid lc rgb '#dddddd'",
         "set xlabel 'lambda1'",
         "set ylabel 'top-1 (%%), first %d test images'" % args.limit,
         "set xrange [-0.05:2.05]",
         "set xtics ('0' 0, '0.2' 0.2, '0.4' 0.4, '0.6' 0.6, '0.8' 0.8, '1.0' 1.0, "
         "'1.5' 1.5, '2.0' 2.0)",
         "set mxtics 2",
         "set yrange [0:100]",
         "set ytics 10",
         "set key at graph 0.5, graph -0.15 center top horizontal maxrows 2 box font ',10'",
         "set bmargin 7.5",
         "set datafile missing 'NaN'"]
    for model, dat in zip(models, dats):
        d = common.gp_str(dat)
        s += ["set title %s" % common.gp_str(common.MODELS[model]),
              "plot %s using 1:6 with lines lw 2 dt 3 lc rgb 'black' title 'FP32', \\" % d,
              "     %s using 1:2 with linespoints lw 2 pt 7 lc rgb '#1f77b4' "
              "title 'MP3/6 DF-MPC', \\" % d,
              "     %s using 1:4 with lines lw 2 dt 2 lc rgb '#1f77b4' "
              "title 'MP3/6 --method none (no c)', \\" % d,
              "     %s using 1:3 with linespoints lw 2 pt 5 lc rgb '#d62728' "
              "title 'MP2/6 DF-MPC', \\" % d,
              "     %s using 1:5 with lines lw 2 dt 2 lc rgb '#d62728' "
              "title 'MP2/6 --method none (no c)', \\" % d,
              "     10 with lines lw 1 lc rgb '#999999' title 'chance (10 %)'"]
    s.append("unset multiplot")
    common.gnuplot("\n".join(s) + "\n")
    return png


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dfmpc", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stats", default="keep")
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--models", default="resnet20,resnet56")
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--plot-only", action="store_true", help="draw from fig3_runs.tsv as is")
    args = ap.parse_args()
    models = args.models.split(",")
    runs_path = os.path.join(args.out, "fig3_runs.tsv")
    if not args.plot_only:
        try:
            sweep(args, models, runs_path)
        except StatsUnavailable as e:
            common.log("fig3: skipped --stats %s: %s" % (args.stats, e))
            sys.exit(3)
    runs = load_runs(runs_path)
    dats = [write_dat(args, m, runs) for m in models]
    common.log("fig3: wrote %s" % plot(args, models, dats))


if __name__ == "__main__":
    main()
