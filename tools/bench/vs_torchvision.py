#!/usr/bin/python3
"""Side by side from scratch: torchvision's SSDLite320-MobileNetV3-Large
(Debian's python3-torchvision, the same LibTorch 1.13) and `compress train` on
the same fashion-det set, started together with one thread each, the same
iterations, batch and input size; both scored by `compress eval --gt --dets`
on the same validation images. Prints one table row per side (iterations,
wall time, s/iter, the 12 COCO statistics' AP, AP50, APs, APm, APl).

A benchmark baseline only, never a runtime dependency.

  /usr/bin/python3 tools/bench/vs_torchvision.py --data output/vs/data --iters 800 --out output/vs
      [--compress-opt KEY=VALUE ...] [--config configs/fashion/ssdlite_mobilenet_v3_large.yml]
  /usr/bin/python3 tools/bench/vs_torchvision.py --data output/vs/data --budget-min 30 --out output/vs30

--budget-min gives both sides the same wall time instead of the same
iterations: a probe runs both together for --probe-iters steps, measures each
side's seconds per step (steps after the fifth), and each side then trains for
budget / its own s/iter iterations (its schedule sized to that length).

The torchvision side is the recipe the issue measured: SGD momentum 0.9,
weight decay 4e-5, OneCycle to max_lr 0.1 with 5% warm-up, horizontal flip.
"""
import argparse, json, os, random, shutil, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.path.join(ROOT, "build", "compress")


def ensure_torchvision():
    """Installs Debian's python3-torchvision (the baseline only) when missing, as bench_train.sh does."""
    try:
        import torchvision  # noqa: F401
        return
    except ImportError:
        pass
    if os.geteuid() != 0:
        sys.exit("vs_torchvision: the torchvision side needs Debian's python3-torchvision: "
                 "sudo apt-get install python3-torchvision python3-pil (or run with --only compress)")
    print("[vs] installing python3-torchvision (benchmark baseline only)", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "python3-torchvision", "python3-pil"],
                   check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), stdout=subprocess.DEVNULL)


def same_allocator_as_compress():
    """The glibc settings `compress` applies to itself (train/util/allocator.cpp):
    no mmap-backed chunks, no trimming of the heap top. Without them every
    training step re-faults its activations from the kernel: on this machine
    that made torchvision's step 7.3 s instead of 2.2 (60 % of it system time)."""
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4
    ok = libc.mallopt(M_MMAP_MAX, 0) == 1
    ok = libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 and ok
    ok = libc.mallopt(M_TOP_PAD, 64 << 20) == 1 and ok
    if not ok:
        sys.exit("vs_torchvision: mallopt refused the allocator settings")


def run_torchvision(a, log, iters, evaluate=True):
    """Trains for `iters` steps; returns (wall s, detections file or None, time
    stamp after each step)."""
    same_allocator_as_compress()
    import torch
    import torchvision
    from PIL import Image
    import torchvision.transforms.functional as TF
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    gt = json.load(open(os.path.join(a.data, "annotations", "instances_train.json")))
    cats = sorted(c["id"] for c in gt["categories"])
    label_of = {c: i + 1 for i, c in enumerate(cats)}  # 0 is torchvision's background
    boxes = {}
    for an in gt["annotations"]:
        if an.get("iscrowd", 0):
            continue
        x, y, w, h = an["bbox"]
        boxes.setdefault(an["image_id"], []).append(([x, y, x + w, y + h], label_of[an["category_id"]]))
    images = [im for im in gt["images"] if im["id"] in boxes]
    model = torchvision.models.detection.ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=len(cats) + 1)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=a.tv_lr, momentum=0.9, weight_decay=4e-5)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.tv_lr, total_steps=iters, pct_start=0.05)
    model.train()
    order, pos, t0, stamps = [], 0, time.time(), []
    for it in range(iters):
        batch_x, batch_y = [], []
        for _ in range(a.batch):
            if pos == len(order):
                order, pos = random.sample(images, len(images)), 0
            im = order[pos]
            pos += 1
            x = TF.to_tensor(Image.open(os.path.join(a.data, "train", im["file_name"])).convert("RGB"))
            b = torch.tensor([bb for bb, _ in boxes[im["id"]]], dtype=torch.float32)
            l = torch.tensor([lb for _, lb in boxes[im["id"]]], dtype=torch.int64)
            if random.random() < 0.5:  # horizontal flip, the recipe's only augmentation
                x = x.flip(-1)
                w = x.shape[-1]
                b = torch.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], 1)
            batch_x.append(x)
            batch_y.append({"boxes": b, "labels": l})
        losses = model(batch_x, batch_y)
        loss = sum(losses.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        stamps.append(time.time())
        if (it + 1) % 50 == 0 or it + 1 == iters:
            el = time.time() - t0
            print(f"[torchvision] iter {it + 1}/{iters} loss {loss.item():.4f} {el / (it + 1):.2f} s/it", file=log,
                  flush=True)
    wall = time.time() - t0
    if not evaluate:
        return wall, None, stamps
    model.eval()
    val = json.load(open(os.path.join(a.data, "annotations", "instances_val.json")))
    cat_of = {v: k for k, v in label_of.items()}
    dets = []
    with torch.no_grad():
        for im in val["images"]:
            x = TF.to_tensor(Image.open(os.path.join(a.data, "val", im["file_name"])).convert("RGB"))
            o = model([x])[0]
            for bb, s, l in zip(o["boxes"].tolist(), o["scores"].tolist(), o["labels"].tolist()):
                dets.append({"image_id": im["id"], "category_id": cat_of[l],
                             "bbox": [bb[0], bb[1], bb[2] - bb[0], bb[3] - bb[1]], "score": s})
    path = os.path.join(a.out, "torchvision_dets.json")
    json.dump(dets, open(path, "w"))
    return wall, path, stamps


def score(a, dets):
    stats = os.path.join(a.out, os.path.basename(dets) + ".stats.json")
    subprocess.run([CLI, "eval", "--gt", os.path.join(a.data, "annotations", "instances_val.json"), "--dets", dets,
                    "--out", stats], check=True, stdout=subprocess.DEVNULL)
    return json.load(open(stats))


def compress_cmd(a, run_dir, iters, extra=()):
    s = str(a.size)
    opts = [f"TrainReader.dataset.dataset_dir={a.data}", f"EvalReader.dataset.dataset_dir={a.data}",
            f"TrainReader.sample_transforms.ResizeImage.target_size={s}",
            f"EvalReader.sample_transforms.ResizeImage.target_size={s}",
            f"TrainReader.batch_size={a.batch}", f"max_iters={iters}", f"snapshot_iter={iters}",
            "threads=1", "num_classes=10", f"seed={a.seed}"] + list(extra) + a.compress_opt
    return [CLI, "train", "-c", a.config, "--run-dir", run_dir] + [x for o in opts for x in ("-o", o)], opts


def compress_elapsed(run_dir):
    """{iteration: training seconds so far} from a compress run's metrics.jsonl
    (training only, like torchvision's wall here: no start-up, no evaluation)."""
    path = os.path.join(run_dir, "metrics.jsonl")
    rows = [json.loads(l) for l in open(path) if l.strip()]
    el = {r["iter"]: r["elapsed_s"] for r in rows if r.get("kind") == "train" and "elapsed_s" in r}
    if not el:
        sys.exit(f"vs_torchvision: {path} has no training rows with elapsed_s")
    return el


def probe(a, env):
    """Both sides together for a.probe_iters steps, as they will run; returns
    (torchvision s/iter, compress s/iter) over the steps after the fifth."""
    skip, n = 5, a.probe_iters
    if n < skip + 5:
        sys.exit(f"vs_torchvision: --probe-iters must be at least {skip + 5}, not {n}")
    d = os.path.join(a.out, "probe")
    shutil.rmtree(d, ignore_errors=True)  # a left-over run would resume instead of being timed
    os.makedirs(d)
    cmd, _ = compress_cmd(a, os.path.join(d, "compress_run"), n, ["log_iter=" + str(skip)])
    proc = None
    if a.only != "torchvision":
        proc = subprocess.Popen(cmd, env=env, stdout=open(os.path.join(d, "compress.log"), "w"),
                                stderr=subprocess.STDOUT)
    tv = None
    if a.only != "compress":
        with open(os.path.join(d, "torchvision.log"), "w") as log:
            _, _, st = run_torchvision(a, log, n, evaluate=False)
        tv = (st[-1] - st[skip - 1]) / (n - skip)
    c = None
    if proc:
        if proc.wait() != 0:
            sys.exit(f"compress probe failed: see {d}/compress.log")
        el = compress_elapsed(os.path.join(d, "compress_run"))
        if skip not in el or n not in el:
            sys.exit(f"compress probe: {d}/compress_run/metrics.jsonl has no elapsed_s at steps {skip} and {n}")
        c = (el[n] - el[skip]) / (n - skip)
    return tv, c


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a fashion-det folder (made here if missing)")
    p.add_argument("--out", required=True)
    p.add_argument("--iters", type=int, default=800)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=320)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tv-lr", type=float, default=0.1, help="torchvision's OneCycle max_lr")
    p.add_argument("--config", default=os.path.join(ROOT, "configs/fashion/ssdlite_mobilenet_v3_large.yml"))
    p.add_argument("--compress-opt", action="append", default=[], help="extra -o for the compress side (ablations)")
    p.add_argument("--only", choices=["torchvision", "compress"], help="run one side")
    p.add_argument("--budget-min", type=float, help="equal wall time instead of equal --iters: minutes of training per side")
    p.add_argument("--probe-iters", type=int, default=25, help="steps of the --budget-min probe")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.only != "compress":
        ensure_torchvision()
    if not os.path.exists(os.path.join(a.data, "annotations", "instances_val.json")):
        subprocess.run([CLI, "data", "fashion-det", "--out", a.data, "--image-size", str(a.size), "--train", "4000",
                        "--val", "500", "--seed", "0"], check=True)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    tv_iters = c_iters = a.iters
    if a.budget_min is not None:
        if a.budget_min <= 0:
            sys.exit(f"vs_torchvision: --budget-min must be positive, not {a.budget_min}")
        tv_s, c_s = probe(a, env)
        budget = 60 * a.budget_min
        tv_iters = max(1, int(budget / tv_s)) if tv_s else 0
        c_iters = max(1, int(budget / c_s)) if c_s else 0
        print(f"[vs] probe ({a.probe_iters} steps together): torchvision {tv_s or 0:.2f} s/iter, "
              f"compress {c_s or 0:.2f} s/iter; {a.budget_min:g} min = {tv_iters} / {c_iters} iterations", flush=True)
    run_dir = os.path.join(a.out, "compress_run")
    cmd, opts = compress_cmd(a, run_dir, c_iters)
    rows = []
    proc = None
    if a.only != "torchvision":
        proc = subprocess.Popen(cmd, env=env, stdout=open(os.path.join(a.out, "compress.log"), "w"),
                                stderr=subprocess.STDOUT)
    if a.only != "compress":
        with open(os.path.join(a.out, "torchvision.log"), "w") as log:
            wall, dets, _ = run_torchvision(a, log, tv_iters)
        rows.append(("torchvision ssdlite320_mobilenet_v3_large", tv_iters, wall, score(a, dets)))
    if proc:
        if proc.wait() != 0:
            sys.exit(f"compress train failed: see {a.out}/compress.log")
        # Its own training time: time.time() - t0 here would also count
        # torchvision's evaluation whenever compress finished first.
        wall = compress_elapsed(run_dir)[c_iters]
        dets = os.path.join(a.out, "compress_dets.json")
        subprocess.run([CLI, "eval", "-c", a.config, "-w", os.path.join(run_dir, "model_final.pt"), "--dets-out",
                        dets] + [x for o in opts for x in ("-o", o)], check=True, env=env, stdout=subprocess.DEVNULL)
        rows.append(("compress " + os.path.basename(a.config) + " " + " ".join(a.compress_opt), c_iters, wall,
                     score(a, dets)))
    print(f"| side | iterations | wall (s) | s/iter | AP | AP50 | APs | APm | APl |")
    print(f"|---|---|---|---|---|---|---|---|---|")
    for name, n, wall, st in rows:
        print(f"| {name} | {n} | {wall:.0f} | {wall / n:.2f} | {100 * st['AP']:.1f} | "
              f"{100 * st['AP50']:.1f} | {100 * st['APs']:.1f} | {100 * st['APm']:.1f} | {100 * st['APl']:.1f} |")
    json.dump([{"side": name, "iters": n, "wall_s": w, "stats": st} for name, n, w, st in rows],
              open(os.path.join(a.out, "table.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
