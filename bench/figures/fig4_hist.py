"""Fig. 4 analogue: weight histograms of the high-bit layers before and after compensation.

For each DF-MPC pair (low layer l, high layer l+1) of the model:
  FP32   = W^{l+1}                         (the input model)
  before = Q(W^{l+1})                      (the exported high layer: dfmpc folds c into the
                                            BN of the low layer, so these stay pure k-bit)
  after  = c_j * Q(W^{l+1})[:, j, :, :]    (the effective weights; c_j from the JSON report)
Writes docs/figures/fig4_<model>[_<stats>]_{hist,hist_fp32,means}.dat and
fig4_<model>[_<stats>].png (no suffix for --stats keep).

usage: fig4_hist.py --dfmpc BIN --shared DIR --out DIR --model resnet56 [--bits 2/6]
                    [--stats keep]
exit status 3: this dfmpc build does not offer --stats <stats> (nothing written).
"""

import argparse
import os
import sys
import tempfile

import numpy as np

import common


def grid_bins(step, lo, hi, offset):
    """Bin edges of width `step` on the lattice offset + step * (k + 1/2), covering [lo, hi]."""
    k0 = int(np.floor((lo - offset) / step - 0.5)) - 1
    k1 = int(np.ceil((hi - offset) / step - 0.5)) + 1
    return offset + step * (np.arange(k0, k1 + 1) + 0.5)


def density(values, edges):
    counts, _ = np.histogram(values.ravel(), bins=edges)
    return counts / (values.size * np.diff(edges))


def collect(dfmpc, shared, model, bits, stats):
    """Per pair: names, c, FP32 / before / after weights, grid step."""
    src = common.model_path(shared, model)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "q.onnx")
        report, err = common.quantize(dfmpc, src, out, bits, "dfmpc", stats)
        if report is None:
            if "not available" in err:
                common.log("fig4: skipped --stats %s: %s" % (stats, err))
                sys.exit(3)
            raise RuntimeError("dfmpc quantize failed: " + err)
        quant = common.conv_weights(out)
    fp32 = common.conv_weights(src)
    by_node = {layer["node"]: layer for layer in report["layers"]}
    pairs = []
    for layer in report["layers"]:
        if layer.get("role") != "low":
            continue
        high = layer["c"]["high_layer"]
        c = np.asarray(layer["c"]["values"], dtype=np.float64)
        wq = quant[high].astype(np.float64)
        if wq.shape[1] != c.size:
            raise RuntimeError("%s: %d input channels, %d c values" % (high, wq.shape[1], c.size))
        levels = np.unique(wq)
        step = float(np.median(np.diff(levels)))  # DoReFa grid spacing (scale_max in the report)
        pairs.append({
            "low": layer["node"], "high": high, "bits_high": by_node[high]["bits"],
            "c": c, "fp32": fp32[high].astype(np.float64), "before": wq,
            "after": wq * c[None, :, None, None], "step": step, "offset": float(levels[0]),
        })
    return report, pairs


def short(name):
    """'/layer2/layer2.4/conv2/Conv' -> 'layer2.4.conv2'."""
    parts = [p for p in name.split("/") if p and p != "Conv"]
    return ".".join(parts[1:]) if len(parts) > 1 else name


def write_data(out, model, report, pairs, shown, build):
    suffix = "" if report["stats"] == "keep" else "_" + report["stats"]
    base = os.path.join(out, "fig4_%s%s" % (model, suffix))
    head = ("# Fig. 4 analogue, %s, MP%s/%s, --method dfmpc --stats %s, lambda1=%g, lambda2=%g\n"
            % (common.MODELS[model], report["bits"]["low"], report["bits"]["high"],
               report["stats"], report["lambda1"], report["lambda2"]) +
            "# dfmpc build (sha256 prefix of the binary): %s\n" % build)
    with open(base + "_means.dat", "w") as f:
        f.write(head)
        f.write("# before = Q(W) of the high layer, after = c_j * Q(W)[:, j], fp32 = W\n")
        f.write("# pair mean_fp32 mean_before mean_after std_fp32 std_before std_after "
                "c_mean c_min c_max toward_zero high_layer\n")
        for i, p in enumerate(pairs):
            mb, ma = p["before"].mean(), p["after"].mean()
            f.write("%d %.6e %.6e %.6e %.6e %.6e %.6e %.5f %.5f %.5f %d %s\n" % (
                i + 1, p["fp32"].mean(), mb, ma, p["fp32"].std(), p["before"].std(),
                p["after"].std(), p["c"].mean(), p["c"].min(), p["c"].max(),
                int(abs(ma) < abs(mb)), short(p["high"])))
    # Quantized and compensated weights on bins one grid step wide, centred on the grid
    # levels (each level of Q(W) is one bin); FP32 on bins half as wide, since on the grid's
    # own bins FP32 would coincide with Q(W) by construction (rounding to nearest).
    with open(base + "_hist.dat", "w") as fq, open(base + "_hist_fp32.dat", "w") as ff:
        for f in (fq, ff):
            f.write(head)
            f.write("# one block (gnuplot index) per pair shown; density = count/(n*bin width)\n")
        fq.write("# x before after\n")
        ff.write("# x fp32\n")
        for i in shown:
            p = pairs[i]
            lo = min(p["fp32"].min(), p["after"].min())
            hi = max(p["fp32"].max(), p["after"].max())
            edges = grid_bins(p["step"], lo, hi, p["offset"])  # edges midway between levels
            centres = (edges[:-1] + edges[1:]) / 2
            db, da = density(p["before"], edges), density(p["after"], edges)
            fine = grid_bins(p["step"] / 2, lo, hi, p["offset"] - p["step"] / 4)  # refines edges
            df = density(p["fp32"], fine)
            for f, name in ((fq, "before/after"), (ff, "fp32")):
                f.write("# pair %d %s (%s), %d weights, grid step %.5g, c in [%.3f, %.3f]\n" % (
                    i + 1, short(p["high"]), name, p["before"].size, p["step"], p["c"].min(),
                    p["c"].max()))
            for x, b, a in zip(centres, db, da):
                fq.write("%.6e %.6e %.6e\n" % (x, b, a))
            for x, d in zip((fine[:-1] + fine[1:]) / 2, df):
                ff.write("%.6e %.6e\n" % (x, d))
            fq.write("\n\n")
            ff.write("\n\n")
    return base


def plot(base, model, report, pairs, shown):
    n = len(pairs)
    toward = sum(abs(p["after"].mean()) < abs(p["before"].mean()) for p in pairs)
    name = common.MODELS[model]
    setting = "MP%s/%s" % (report["bits"]["low"], report["bits"]["high"])
    s = [common.terminal_line(1500, 1050),
         "set output %s" % common.gp_str(base + ".png"),
         "set multiplot layout 2,2 title %s font ',14'" % common.gp_str(
             "%s, %s: %d-bit (high) layer weights before and after DF-MPC compensation  "
             "(--stats %s, lambda1 = %g)" % (name, setting, report["bits"]["high"],
                                              report["stats"], report["lambda1"])),
         "set grid lc rgb '#dddddd'",
         "set style fill transparent solid 0.35 noborder",
         "set key top right box opaque samplen 2 font ',10'",
         "set xlabel 'weight value'",
         "set ylabel 'density (1/weight unit)'"]
    for k, i in enumerate(shown):
        p = pairs[i]
        sd = p["fp32"].std()
        mean_txt = ("mean x1e-3: FP32 %+.3f | Q(W) %+.3f | c*Q(W) %+.3f\\n"
                    "std: FP32 %.4f | Q(W) %.4f | c*Q(W) %.4f\\nc_j in [%.2f, %.2f]" % (
                        1e3 * p["fp32"].mean(), 1e3 * p["before"].mean(),
                        1e3 * p["after"].mean(), sd, p["before"].std(), p["after"].std(),
                        p["c"].min(), p["c"].max()))
        s += ["set title %s" % common.gp_str("pair %d of %d: %s (%s, %d weights; low layer %s)"
                                              % (i + 1, n, short(p["high"]), "x".join(
                                                  map(str, p["before"].shape)),
                                                 p["before"].size, short(p["low"]))),
              "set xrange [%g:%g]" % (-4.5 * sd, 4.5 * sd),
              "set yrange [0:*]",
              "unset label",
              "set label 1 %s at graph 0.02, graph 0.95 left font ',9'" % common.gp_str(
                  mean_txt),
              "plot %s index %d using 1:2 with boxes lc rgb '#1f77b4' title 'before: Q(W)', \\"
              % (common.gp_str(base + "_hist.dat"), k),
              "     %s index %d using 1:3 with histeps lw 2 lc rgb '#d62728' "
              "title 'after: c_j * Q(W)[:,j]', \\" % (common.gp_str(base + "_hist.dat"), k),
              "     %s index %d using 1:2 with lines lw 1 dt 2 lc rgb 'black' "
              "title 'FP32 W (bins 1/2 step)'" % (common.gp_str(base + "_hist_fp32.dat"), k)]
    means = common.gp_str(base + "_means.dat")
    marks = ", ".join("%d" % (i + 1) for i in shown)
    # symmetric ranges so that both axes put zero at the same height
    ym = 1.15e3 * max(max(abs(p["fp32"].mean()), abs(p["before"].mean()), abs(p["after"].mean()))
                      for p in pairs)
    dm = 1.15e3 * max(abs(abs(p["after"].mean()) - abs(p["before"].mean())) for p in pairs)
    s += ["unset label",
          "set title %s" % common.gp_str(
              "mean of every %d-bit layer: |mean| smaller after compensation in %d of %d"
              % (report["bits"]["high"], toward, n)),
          "set xlabel 'pair (high layer) index, input to output   (histograms above: pairs %s)'"
          % marks,
          "set ylabel 'layer mean of weights (x 1e-3)'",
          "set xrange [0.5:%g]" % (n + 0.5),
          "set yrange [%g:%g]" % (-ym, ym),
          "set y2range [%g:%g]" % (-dm, dm),
          "set xtics 1 font ',8'" if n <= 12 else "set xtics 3 font ',9'",
          "set key at graph 0.5, graph -0.17 center top horizontal maxrows 2 box font ',10'",
          "set bmargin 7.5",
          "set y2label 'bars: |mean after| - |mean before|  (x 1e-3)'",
          "set y2tics nomirror",
          "set ytics nomirror",
          "set boxwidth 0.6",
          "set style fill solid 0.5 noborder",
          "plot 0 with lines lc rgb '#888888' notitle, \\",
          "     %s using 1:((abs($4)-abs($3))*1e3) axes x1y2 with boxes lc rgb '#2ca02c' "
          "title '|after| - |before| (right axis)', \\" % means,
          "     %s using 1:($2*1e3) with linespoints pt 6 ps 1.2 lc rgb 'black' dt 2 "
          "title 'FP32 W', \\" % means,
          "     %s using 1:($3*1e3) with linespoints pt 7 ps 1.0 lc rgb '#1f77b4' "
          "title 'before: Q(W)', \\" % means,
          "     %s using 1:($4*1e3) with linespoints pt 5 ps 0.8 lc rgb '#d62728' "
          "title 'after: c_j * Q(W)'" % means,
          "unset multiplot"]
    common.gnuplot("\n".join(s) + "\n")
    return toward, n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dfmpc", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", required=True, choices=sorted(common.MODELS))
    ap.add_argument("--bits", default="2/6")
    ap.add_argument("--stats", default="keep")
    args = ap.parse_args()
    report, pairs = collect(args.dfmpc, args.shared, args.model, args.bits, args.stats)
    n = len(pairs)
    shown = sorted({0, n // 2, n - 1})
    base = write_data(args.out, args.model, report, pairs, shown,
                      common.binary_id(args.dfmpc))
    toward, n = plot(base, args.model, report, pairs, shown)
    common.log("fig4 %s: %d pairs, |mean| smaller after compensation in %d -> %s.png"
               % (args.model, n, toward, base))


if __name__ == "__main__":
    main()
