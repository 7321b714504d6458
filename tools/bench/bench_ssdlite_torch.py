#!/usr/bin/python3
"""The same SSDLite-MobileNetV3 training step in Debian's python3-torch (the same
LibTorch 1.13), timed the same way as `compress bench train`: one fixed batch,
forward + multibox loss + backward + Adam step, median after warm-up.
A benchmark baseline only; never a runtime dependency."""
import argparse, json, math, statistics, time

import torch
import torch.nn as nn
import torch.nn.functional as F

LARGE = [(3,16,16,0,'relu',1),(3,64,24,0,'relu',2),(3,72,24,0,'relu',1),(5,72,40,1,'relu',2),(5,120,40,1,'relu',1),
         (5,120,40,1,'relu',1),(3,240,80,0,'hs',2),(3,200,80,0,'hs',1),(3,184,80,0,'hs',1),(3,184,80,0,'hs',1),
         (3,480,112,1,'hs',1),(3,672,112,1,'hs',1),(5,672,160,1,'hs',2),(5,960,160,1,'hs',1),(5,960,160,1,'hs',1)]
SMALL = [(3,16,16,1,'relu',2),(3,72,24,0,'relu',2),(3,88,24,0,'relu',1),(5,96,40,1,'hs',2),(5,240,40,1,'hs',1),
         (5,240,40,1,'hs',1),(5,120,48,1,'hs',1),(5,144,48,1,'hs',1),(5,288,96,1,'hs',2),(5,576,96,1,'hs',1),
         (5,576,96,1,'hs',1)]

def div8(v):
    n = max(8, int(v + 4) // 8 * 8)
    return n + 8 if n < 0.9 * v else n

def act(x, a):
    return {'relu': F.relu, 'hs': F.hardswish, 'relu6': F.relu6, None: lambda t: t}[a](x)

class ConvBN(nn.Module):
    def __init__(s, i, o, k=1, st=1, g=1, a=None, bn=True):
        super().__init__(); s.a = a
        s.conv = nn.Conv2d(i, o, k, st, (k - 1) // 2, groups=g, bias=not bn)
        s.bn = nn.BatchNorm2d(o, momentum=0.1) if bn else None
    def forward(s, x):
        x = s.conv(x)
        return act(s.bn(x) if s.bn is not None else x, s.a)

class SE(nn.Module):
    def __init__(s, c, m):
        super().__init__(); s.conv1 = nn.Conv2d(c, m, 1); s.conv2 = nn.Conv2d(m, c, 1)
    def forward(s, x):
        return x * F.hardsigmoid(s.conv2(F.relu(s.conv1(x.mean((2, 3), keepdim=True)))))

class Unit(nn.Module):
    def __init__(s, i, spec, scale):
        super().__init__(); k, e, o, se, a, st = spec
        s.mid, s.out = div8(scale * e), div8(scale * o); s.short = st == 1 and i == s.out
        s.expand = ConvBN(i, s.mid, a=a); s.res_conv1 = ConvBN(s.mid, s.mid, k, st, s.mid, a)
        s.se_block = SE(s.mid, div8(s.mid / 4)) if se else None; s.linear = ConvBN(s.mid, s.out)
    def rest(s, e, x):
        y = s.res_conv1(e)
        if s.se_block is not None: y = s.se_block(y)
        y = s.linear(y)
        return y + x if s.short else y

class SSDLite(nn.Module):
    def __init__(s, name, scale, classes, extras, per_loc):
        super().__init__(); specs = LARGE if name == 'large' else SMALL
        c = div8(16 * scale); s.conv1 = ConvBN(3, c, 3, 2, a='hs'); s.blocks = nn.ModuleList(); stride = 2; s.tap = -1
        for i, sp in enumerate(specs):
            if sp[5] == 2 and stride == 16 and s.tap < 0: s.tap = i
            u = Unit(c, sp, scale); s.blocks.append(u); c = u.out; stride *= sp[5]
        last = div8(scale * specs[-1][1]); s.conv_last = ConvBN(c, last, a='hs')
        chans = [s.blocks[s.tap].mid, last]; s.extra = nn.ModuleList(); c = last
        for m, o in extras:
            s.extra.append(nn.Sequential(ConvBN(c, m, a='relu6'), ConvBN(m, m, 3, 2, m, 'relu6'), ConvBN(m, o, a='relu6')))
            chans.append(o); c = o
        head = lambda ci, co: nn.Sequential(ConvBN(ci, ci, 3, 1, ci, 'relu6'), ConvBN(ci, co, bn=False))
        s.loc = nn.ModuleList([head(ci, n * 4) for ci, n in zip(chans, per_loc)])
        s.conf = nn.ModuleList([head(ci, n * (classes + 1)) for ci, n in zip(chans, per_loc)])
        s.classes = classes
    def forward(s, x):
        y = s.conv1(x); feats = []
        for i, u in enumerate(s.blocks):
            e = u.expand(y)
            if i == s.tap: feats.append(e)
            y = u.rest(e, y)
        y = s.conv_last(y); feats.append(y)
        for b in s.extra: y = b(y); feats.append(y)
        n = x.shape[0]
        loc = torch.cat([h(f).permute(0, 2, 3, 1).reshape(n, -1, 4) for h, f in zip(s.loc, feats)], 1)
        conf = torch.cat([h(f).permute(0, 2, 3, 1).reshape(n, -1, s.classes + 1) for h, f in zip(s.conf, feats)], 1)
        return loc, conf, [f.shape[2:] for f in feats]

def priors(sizes, img, base, ars):
    steps = (0.95 - 0.20) * 100 // (len(sizes) - 2)
    mins = [base * .1] + [base * r / 100 for r in range(20, 96, int(steps))]
    maxs = [base * .2] + [base * (r + steps) / 100 for r in range(20, 96, int(steps))]
    out = []
    for m, (h, w) in enumerate(sizes):
        ex = [1.0]
        for a in ars[m]: ex += [a, 1 / a]
        for y in range(h):
            for x in range(w):
                cx, cy = (x + .5) * img / w, (y + .5) * img / h
                for a in ex:
                    bw, bh = mins[m] * math.sqrt(a) / 2, mins[m] / math.sqrt(a) / 2
                    out.append([cx - bw, cy - bh, cx + bw, cy + bh])
                q = math.sqrt(mins[m] * maxs[m]) / 2
                out.append([cx - q, cy - q, cx + q, cy + q])
    return (torch.tensor(out) / img).clamp(0, 1)

def iou(a, b):
    lt = torch.max(a[:, None, :2], b[None, :, :2]); rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(2)
    area = lambda t: (t[:, 2:] - t[:, :2]).clamp(min=0).prod(1)
    return inter / (area(a)[:, None] + area(b)[None] - inter)

def encode(b, p):
    pw, ph = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]; pcx, pcy = p[:, 0] + pw / 2, p[:, 1] + ph / 2
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]; cx, cy = b[:, 0] + w / 2, b[:, 1] + h / 2
    return torch.stack([(cx - pcx) / pw / .1, (cy - pcy) / ph / .1, torch.log(w / pw) / .2, torch.log(h / ph) / .2], 1)

def multibox(loc, conf, pri, gts, labels):
    n, a = loc.shape[:2]; tl = torch.zeros(n, a, dtype=torch.long); tb = torch.zeros(n, a, 4); neg = torch.zeros(n, a, dtype=torch.bool)
    with torch.no_grad():
        for i in range(n):
            ov = iou(gts[i], pri); work = ov.clone(); match = torch.full((a,), -1, dtype=torch.long)
            for _ in range(len(gts[i])):
                f = int(work.argmax()); g, p = divmod(f, a)
                if work[g, p] < 1e-6: break
                match[p] = g; work[g] = -1; work[:, p] = -1
            best, bg = ov.max(0); match = torch.where((match < 0) & (best >= .5), bg, match)
            pos = match >= 0; tl[i] = torch.where(pos, labels[i][match.clamp(min=0)] + 1, torch.zeros_like(match))
            tb[i] = gts[i][match.clamp(min=0)]; neg[i] = (~pos) & (best < .5)
    pos = tl > 0; npos = max(1, int(pos.sum()))
    ce = F.cross_entropy(conf.reshape(n * a, -1), tl.view(-1), reduction='none').view(n, a)
    sel = pos.clone()
    with torch.no_grad():
        mine = ce.detach().masked_fill(~neg, -1)
        for i in range(n):
            k = min(int(pos[i].sum()) * 3, int(neg[i].sum()))
            if k > 0: sel[i, mine[i].topk(k).indices] = True
    enc = torch.stack([encode(tb[i], pri) for i in range(n)])
    l1 = F.smooth_l1_loss(loc, enc, reduction='none').sum(-1)
    return ((ce * sel).sum() + (l1 * pos).sum()) / npos

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='small'); ap.add_argument('--scale', type=float, default=1.0)
    ap.add_argument('--input', type=int, default=192); ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--classes', type=int, default=10); ap.add_argument('--threads', default='1,2')
    ap.add_argument('--steps', type=int, default=10); ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--json')
    a = ap.parse_args(); torch.manual_seed(0)
    ars = [[2.]] + [[2., 3.]] * 5; per_loc = [4] + [6] * 5
    model = SSDLite(a.model, a.scale, a.classes, [[256, 512], [128, 256], [128, 256], [64, 128]], per_loc).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(a.batch, 3, a.input, a.input)
    model.eval()
    with torch.no_grad(): sizes = model(x[:1])[2]
    model.train()
    pri = priors(sizes, a.input, a.input, ars)
    gts = [torch.tensor([[.1, .1, .4, .5], [.5, .2, .9, .6], [.3, .6, .5, .9]]) for _ in range(a.batch)]
    labels = [torch.tensor([0, 3, 7]) for _ in range(a.batch)]
    rows = []
    print('| model (python3-torch) | input | batch | threads | median step (ms) | images/s |\n|---|---|---|---|---|---|')
    for t in [int(v) for v in a.threads.split(',')]:
        torch.set_num_threads(t); ms = []
        for i in range(a.warmup + a.steps):
            t0 = time.perf_counter(); opt.zero_grad(); loc, conf, _ = model(x)
            multibox(loc, conf, pri, gts, labels).backward(); opt.step()
            if i >= a.warmup: ms.append((time.perf_counter() - t0) * 1000)
        med = statistics.median(ms)
        print(f'| SSD-MobileNetV3-{a.model} | {a.input} | {a.batch} | {t} | {med:.1f} | {a.batch * 1000 / med:.1f} |')
        rows.append({'threads': t, 'median_step_ms': med})
    if a.json: json.dump(rows, open(a.json, 'w'), indent=1)

if __name__ == '__main__':
    main()
