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

The torchvision side is the recipe the issue measured: SGD momentum 0.9,
weight decay 4e-5, OneCycle to max_lr 0.1 with 5% warm-up, horizontal flip.
"""
import argparse, json, os, random, subprocess, sys, time

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


def run_torchvision(a, log):
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
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.tv_lr, total_steps=a.iters, pct_start=0.05)
    model.train()
    order, pos, t0 = [], 0, time.time()
    for it in range(a.iters):
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
        if (it + 1) % 50 == 0 or it + 1 == a.iters:
            el = time.time() - t0
            print(f"[torchvision] iter {it + 1}/{a.iters} loss {loss.item():.4f} {el / (it + 1):.2f} s/it", file=log,
                  flush=True)
    wall = time.time() - t0
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
    return wall, path


def score(a, dets):
    stats = os.path.join(a.out, os.path.basename(dets) + ".stats.json")
    subprocess.run([CLI, "eval", "--gt", os.path.join(a.data, "annotations", "instances_val.json"), "--dets", dets,
                    "--out", stats], check=True, stdout=subprocess.DEVNULL)
    return json.load(open(stats))


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
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.only != "compress":
        ensure_torchvision()
    if not os.path.exists(os.path.join(a.data, "annotations", "instances_val.json")):
        subprocess.run([CLI, "data", "fashion-det", "--out", a.data, "--image-size", str(a.size), "--train", "4000",
                        "--val", "500", "--seed", "0"], check=True)
    run_dir = os.path.join(a.out, "compress_run")
    s = str(a.size)
    opts = [f"TrainReader.dataset.dataset_dir={a.data}", f"EvalReader.dataset.dataset_dir={a.data}",
            f"TrainReader.sample_transforms.ResizeImage.target_size={s}",
            f"EvalReader.sample_transforms.ResizeImage.target_size={s}",
            f"TrainReader.batch_size={a.batch}", f"max_iters={a.iters}", f"snapshot_iter={a.iters}",
            "threads=1", "num_classes=10", f"seed={a.seed}"] + a.compress_opt
    cmd = [CLI, "train", "-c", a.config, "--run-dir", run_dir] + [x for o in opts for x in ("-o", o)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    rows = []
    proc, t0 = None, time.time()
    if a.only != "torchvision":
        proc = subprocess.Popen(cmd, env=env, stdout=open(os.path.join(a.out, "compress.log"), "w"),
                                stderr=subprocess.STDOUT)
    if a.only != "compress":
        with open(os.path.join(a.out, "torchvision.log"), "w") as log:
            wall, dets = run_torchvision(a, log)
        rows.append(("torchvision ssdlite320_mobilenet_v3_large", wall, score(a, dets)))
    if proc:
        if proc.wait() != 0:
            sys.exit(f"compress train failed: see {a.out}/compress.log")
        wall = time.time() - t0
        dets = os.path.join(a.out, "compress_dets.json")
        subprocess.run([CLI, "eval", "-c", a.config, "-w", os.path.join(run_dir, "model_final.pt"), "--dets-out",
                        dets] + [x for o in opts for x in ("-o", o)], check=True, env=env, stdout=subprocess.DEVNULL)
        rows.append(("compress " + os.path.basename(a.config) + " " + " ".join(a.compress_opt), wall, score(a, dets)))
    print(f"| side | iterations | wall (s) | s/iter | AP | AP50 | APs | APm | APl |")
    print(f"|---|---|---|---|---|---|---|---|---|")
    for name, wall, st in rows:
        print(f"| {name} | {a.iters} | {wall:.0f} | {wall / a.iters:.2f} | {100 * st['AP']:.1f} | "
              f"{100 * st['AP50']:.1f} | {100 * st['APs']:.1f} | {100 * st['APm']:.1f} | {100 * st['APl']:.1f} |")
    json.dump([{"side": n, "iters": a.iters, "wall_s": w, "stats": st} for n, w, st in rows],
              open(os.path.join(a.out, "table.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
