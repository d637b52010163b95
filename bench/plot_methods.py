#!/usr/bin/python3
"""Top-1 against packed model size, one line per method, one PNG per model.

    bench/plot_methods.py methods.csv OUT_DIR

Reads the CSV `dfmpc bench --suite methods --csv` writes; writes OUT_DIR/methods_MODEL.png
(gnuplot, pngcairo or png terminal) and the .dat files it plots.
"""
import csv
import os
import subprocess
import sys
from collections import defaultdict


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    rows = defaultdict(lambda: defaultdict(list))  # model -> method -> [(size, top1, bits)]
    fp32 = {}
    with open(src, newline="") as f:
        for r in csv.DictReader(f):
            if r["row"] == "FP32":
                fp32[r["model"]] = (float(r["packed_mb"]), float(r["top1"]))
                continue
            # One line per method: the bit width is the position along it.
            method = r["row"].replace(" (paper)", "").replace(" (default)", "")
            rows[r["model"]][method].append((float(r["packed_mb"]), float(r["top1"]), r["bits"]))
    for model, methods in rows.items():
        fp_size, fp_top1 = fp32.get(model, (0.0, 100.0))
        series = []
        for i, (method, pts) in enumerate(sorted(methods.items())):
            dat = f"{out}/methods_{model}_{i}.dat"
            with open(dat, "w") as f:
                f.write(f"# {method}: size_mb top1 bits\n")
                for size, top1, bits in sorted(pts):
                    f.write(f"{size:.4f} {top1:.2f} {bits}\n")
            series.append(f"'{dat}' using 1:2 with linespoints lw 1.5 title '{method}'")
        if model in fp32:
            series.append(f"{fp_top1} with lines dashtype 2 lc rgb 'black' title 'FP32 ({fp_size:.2f} MB)'")
        term = "pngcairo" if has_cairo() else "png"
        plot = [
            f"set terminal {term} size 1400,620 noenhanced",
            f"set output '{out}/methods_{model}.png'",
            "set multiplot layout 1,2 title "
            f"'Top-1 vs packed size, {model}: weights only, one line per method through W4 / MP2/6 / MP3/6 / W6 / W8 sorted by size'",
            "set xlabel 'packed model size (MB)'", "set ylabel 'top-1 (%)'", "set grid",
            "set key bottom right font ',9'", "set yrange [0:100]", "set title 'full range'",
            "plot " + ", ".join(series),
            "unset key", f"set yrange [{fp_top1 - 12:.1f}:{fp_top1 + 1.5:.1f}]",
            "set title 'near FP32'",
            "plot " + ", ".join(series),
            "unset multiplot",
        ]
        subprocess.run(["gnuplot"], input="\n".join(plot) + "\n", text=True, check=True)
        print(f"wrote {out}/methods_{model}.png")


def has_cairo():
    r = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
    return "pngcairo" in (r.stdout + r.stderr)


if __name__ == "__main__":
    main()
