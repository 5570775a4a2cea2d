#!/usr/bin/python3
"""Train clipdb's default model, clipdb-emoji: a small CLIP of the official OpenAI architecture
and state_dict names, trained contrastively on emoji pictures (Noto, Twemoji and six Iconify
styles, composited onto photo-like backgrounds, scripts/emoji_world.py) with captions from their CLDR names, short
names and tags, plus the generated shapes world of scripts/shapes.py so the colour x shape
queries keep working. Its own byte-level BPE vocabulary in the official file format.

    scripts/emoji-data                                   # fetch + licence-check the sets
    /usr/bin/python3 scripts/train-emoji-clip.py --out models/clipdb-emoji

CPU only (Debian's python3-torch; installed with apt when missing), seeded. The model code,
tokenizer, BPE trainer and safetensors writer are the ones scripts/train-tiny-clip.py uses
(imported from it), so both models are the same architecture read by the same engine.

Outputs (in --out): model.safetensors, vocab.txt.gz, train.log, eval.json (the PyTorch-side
held-out figures; the CLI-measured ones are in models/README.md), and --fixture: preprocessed
pixels, token rows and PyTorch's embeddings for the C engine parity test. A checkpoint.pt
(git-ignored) is written at every evaluation, and the model files too, so an interrupted run
leaves a usable model and resumes where it stopped.
"""
import argparse
import gzip
import importlib.util
import json
import math
import os
import random
import subprocess
import sys
import time
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))

# Debian's torch does its matrix products through the system BLAS: the reference libblas3 is
# about 10x slower than OpenBLAS (a step of batch 128 here: 5.5 s against 0.55 s). A machine
# that already had python3-torch may lack it: install it before torch is imported.
if not os.path.isdir("/usr/lib/x86_64-linux-gnu/openblas-openmp") and os.path.isdir("/usr/lib/x86_64-linux-gnu/blas"):
    print("train-emoji-clip: installing libopenblas0-openmp with apt (the reference BLAS is about 10x slower)", file=sys.stderr)
    subprocess.check_call(([] if os.geteuid() == 0 else ["sudo"]) +
                          ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "libopenblas0-openmp"])

try:
    import torch  # noqa: F401
except ImportError:  # a fresh machine: Debian's CPU build of PyTorch
    print("train-emoji-clip: installing python3-torch with apt", file=sys.stderr)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.check_call(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                                  "python3-torch", "libopenblas0-openmp"])
    # apt installs it for Debian's /usr/bin/python3; another interpreter on PATH (pyenv,
    # a venv) would still not see it and would come back here forever, so re-run under
    # Debian's, once.
    if os.environ.get("CLIPDB_TORCH_REEXEC"):
        sys.exit("train-emoji-clip: python3-torch is installed but %s cannot import torch; run it with /usr/bin/python3" % sys.executable)
    os.environ["CLIPDB_TORCH_REEXEC"] = "1"
    os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)

import numpy as np  # noqa: E402

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, HERE)
import emoji_world as EW  # noqa: E402
import shapes  # noqa: E402

_spec = importlib.util.spec_from_file_location("train_tiny_clip", os.path.join(HERE, "train-tiny-clip.py"))
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


def vocabulary_texts(concepts):
    """Every name form and tag twice (so each word becomes one token), the caption templates,
    and the shapes world's captions."""
    texts = []
    for c in concepts:
        for n in c["names"] + c["tags"]:
            texts += [n, n]
    texts += [p + "a x" for p in EW.PREFIXES] * 4
    texts += ["an apple with a dog next to a cat and a car"] * 4
    rng = random.Random(5)
    texts += [shapes.caption(shapes.random_scene(rng), rng)[0] for _ in range(3000)]
    return texts


class Batcher:
    """Training batches; batch number `step` depends only on (seed, step), so a worker process
    can draw them ahead of the optimizer and a resumed run sees the same data."""

    def __init__(self, concepts, pictures, seed, shapes_prob, resolution):
        self.concepts = concepts
        self.pictures = pictures
        self.by_concept = {}
        for k, (i, _) in enumerate(pictures):
            self.by_concept.setdefault(i, []).append(k)
        self.order = sorted(self.by_concept)
        self.seed = seed
        self.matcher = EW.Matcher(concepts)
        self.shapes_prob = shapes_prob
        self.R = resolution
        self.extra_text = 0

    def batch(self, step, n):
        rng = random.Random(self.seed * 1000003 + step)
        pool = rng.sample(self.order, min(len(self.order), 3 * n))  # distinct concepts per batch
        pix = np.empty((n, 3, self.R, self.R), dtype=np.float32)
        caps, items = [], []
        for b in range(n):
            if rng.random() < self.shapes_prob:
                sc = shapes.random_scene(rng, 0.25)
                img = shapes.render(sc, rng, short_range=(48, 80))
                if rng.random() < 0.4:
                    img = shapes.jpeg_roundtrip(img, rng)
                t, f = shapes.caption(sc, rng)
                items.append(("shapes", f, sc))
            else:
                r = rng.random()
                k = 1 if r < 0.8 else (2 if r < 0.96 else 3)
                idx = [pool.pop() for _ in range(k)]
                pics = [self.pictures[rng.choice(self.by_concept[i])][1] for i in idx]
                short = rng.randint(48, 80)
                long_ = int(short * rng.uniform(1.0, 1.3))
                w, h = (long_, short) if rng.random() < 0.5 else (short, long_)
                img = EW.degrade(rng, EW.compose(rng, pics, w, h, self.pictures))
                t, slots = EW.caption(rng, self.concepts, idx)
                items.append(("emoji", slots, idx))
            pix[b] = shapes.clip_preprocess(img, self.R)
            caps.append(t)
        valid = np.zeros((n, n), dtype=np.float32)
        for j in range(n):  # caption j
            kj = items[j]
            for i in range(n):  # image i
                ki = items[i]
                if i == j:
                    valid[i, j] = 1.0
                elif kj[0] != ki[0]:
                    continue
                elif kj[0] == "shapes":
                    valid[i, j] = float(shapes.caption_holds(kj[1], ki[2]))
                else:
                    valid[i, j] = float(self.matcher.holds(kj[1], ki[2]))
        # Concept targets for the prototype losses: the concepts each picture shows, and the
        # concepts each caption (and each of `extra` text-only captions) may name.
        img_cls = [list(it[2]) if it[0] == "emoji" else [] for it in items]
        cap_cls = [self.slot_concepts(it[1]) if it[0] == "emoji" else [] for it in items]
        extra, extra_cls = [], []
        for _ in range(self.extra_text):
            i = pool.pop() if pool else rng.choice(self.order)
            t, slots = EW.caption(rng, self.concepts, [i])
            extra.append(t)
            extra_cls.append(self.slot_concepts(slots))
        return pix, caps, valid, img_cls, cap_cls, extra, extra_cls

    def slot_concepts(self, slots):
        out = set()
        for kind, s in slots:
            out |= (self.matcher.name_of if kind == "name" else self.matcher.tag_of).get(s, set())
        return sorted(out)


_BATCHER = None


def _worker_init(batcher):
    global _BATCHER
    _BATCHER = batcher


def _worker_batch(args):
    return _BATCHER.batch(*args)


def proto_loss(emb, targets, protos, scale=16.0):
    """Soft cross-entropy of normalised embeddings against the concept prototypes; rows with no
    target (shapes) are left out."""
    rows = [k for k, t in enumerate(targets) if t]
    if not rows:
        return emb.sum() * 0
    tgt = torch.zeros(len(rows), protos.shape[0])
    for r, k in enumerate(rows):
        tgt[r, targets[k]] = 1.0 / len(targets[k])
    logp = F.log_softmax(scale * emb[rows] @ protos.t(), dim=1)
    return -(logp * tgt).sum(1).mean()


def heldout_set(concepts, held, idx, seed, resolution):
    """One held-out (OpenMoji) picture per concept in idx, preprocessed."""
    rng = random.Random(seed)
    bg = [(i, held[i]) for i in sorted(held)]
    pix = []
    for i in idx:
        short = rng.randint(96, 160)
        img = EW.degrade(rng, EW.compose(rng, [held[i]], int(short * rng.uniform(1, 1.4)), short, bg))
        pix.append(shapes.clip_preprocess(img, resolution))
    return np.stack(pix)


def embed_images(model, pix, bs=256):
    with torch.no_grad():
        return F.normalize(torch.cat([model.encode_image(torch.from_numpy(pix[i:i + bs]))
                                      for i in range(0, len(pix), bs)]), dim=-1)


def embed_texts(model, tok, texts, bs=512):
    with torch.no_grad():
        return F.normalize(torch.cat([model.encode_text(torch.from_numpy(tok.tokenize(texts[i:i + bs])))
                                      for i in range(0, len(texts), bs)]), dim=-1)


def eval_emoji(model, tok, concepts, idx, pix, nouns):
    """Text->image over the held-out pictures (one per concept): query "a {name}"."""
    model.eval()
    ie = embed_images(model, pix)
    te = embed_texts(model, tok, [EW.article(concepts[i]["name"]) for i in idx])
    model.train()
    sim = te @ ie.t()
    order = sim.argsort(dim=1, descending=True)
    hit = order == torch.arange(len(idx))[:, None]
    top1 = hit[:, 0].float().mean().item()
    r5 = hit[:, :5].any(dim=1).float().mean().item()
    pos = {c: k for k, c in enumerate(idx)}
    nk = torch.tensor([pos[i] for i in nouns if i in pos], dtype=torch.long)
    nr5 = hit[nk, :5].any(dim=1).float().mean().item() if len(nk) else float("nan")
    return {"top1": round(top1, 4), "recall5": round(r5, 4), "nouns_recall5": round(nr5, 4),
            "queries": len(idx)}


def main():
    ap = argparse.ArgumentParser(description="train clipdb-emoji, the default small CLIP")
    ap.add_argument("--data", default=EW.default_data_dir())
    ap.add_argument("--out", default="models/clipdb-emoji")
    ap.add_argument("--fixture", default="tests/data/clipdb-emoji-fixture.safetensors")
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--resolution", type=int, default=48)
    ap.add_argument("--patch", type=int, default=12)
    ap.add_argument("--vision-width", type=int, default=128)
    ap.add_argument("--vision-layers", default="4",
                    help="ViT blocks (\"4\"), or four ResNet stage depths (\"1,1,1,1\": the official ModifiedResNet)")
    ap.add_argument("--text-width", type=int, default=128)
    ap.add_argument("--text-layers", type=int, default=3)
    ap.add_argument("--embed-dim", type=int, default=128)
    ap.add_argument("--shapes-prob", type=float, default=0.1)
    ap.add_argument("--proto-weight", type=float, default=1.0, help="weight of the concept-prototype losses")
    ap.add_argument("--extra-text", type=int, default=128, help="text-only captions per step (prototype loss)")
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--eval-stride", type=int, default=1,
                    help="evaluate on every k-th held-out concept (1: all 1,631, as the CLI test does; "
                         "runs before 2026-12-07's third used 3, 544 pictures)")
    ap.add_argument("--vocab", help="reuse this vocab.txt.gz (written by an earlier run from the same data)")
    ap.add_argument("--bench", type=int, default=0, help="time this many steps and exit")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    vision_layers = [int(v) for v in a.vision_layers.split(",")]
    resnet = len(vision_layers) > 1
    if resnet and len(vision_layers) != 4:
        sys.exit("train-emoji-clip: --vision-layers wants one ViT depth or four ResNet stage depths")
    vision_layers = vision_layers if resnet else vision_layers[0]
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    ckpt = os.path.join(a.out, "checkpoint.pt")
    resuming = os.path.exists(ckpt) and not a.bench
    logf = open(os.path.join(a.out, "train.log"), "a" if resuming else "w") if not a.bench else sys.stderr
    t0 = time.time()

    def log(msg):
        line = "[%7.1fs] %s" % (time.time() - t0, msg)
        print(line, file=sys.stderr, flush=True)
        if logf is not sys.stderr:
            logf.write(line + "\n")
            logf.flush()

    log("args: " + json.dumps(vars(a), sort_keys=True))
    log("torch %s, %d threads" % (torch.__version__, torch.get_num_threads()))
    lic = os.path.join(a.data, "licences.json")
    if not os.path.exists(lic):
        sys.exit("train-emoji-clip: %s missing: run scripts/emoji-data first" % lic)
    licences = json.load(open(lic))
    for s in EW.TRAIN_SETS:
        if licences.get("emoji-datasource-" + s, {}).get("use") != "training":
            sys.exit("train-emoji-clip: emoji-datasource-%s is not cleared for training in %s" % (s, lic))
    for s in EW.ICONIFY_SETS:
        if licences.get("iconify-" + s, {}).get("use") != "training":
            sys.exit("train-emoji-clip: @iconify-json/%s is not cleared for training in %s (run scripts/emoji-data)" % (s, lic))
    log("licences: " + json.dumps(licences))

    concepts = EW.load_concepts(a.data)
    pictures = EW.training_pictures(a.data, concepts)
    held = EW.heldout_pictures(a.data, concepts)
    idx = EW.heldout_concepts(concepts, held)
    nouns = EW.concrete_nouns(concepts, idx)
    log("%d concepts, %d training pictures (%s), %d held-out concepts (OpenMoji), %d concrete nouns"
        % (len(concepts), len(pictures), "+".join(EW.TRAIN_SETS + EW.ICONIFY_SETS), len(idx), len(nouns)))

    vocab_path = os.path.join(a.out, "vocab.txt.gz")
    if a.vocab:  # the merges of an earlier run (the BPE trainer is deterministic but slow)
        with gzip.open(a.vocab, "rt", encoding="utf-8") as f:
            merges = [tuple(line.rstrip("\n").split(" ")) for line in f.readlines()[1:]]
        tok = tiny.Tokenizer(merges)
        log("BPE merges read from %s" % a.vocab)
    else:
        tok = tiny.Tokenizer(tiny.train_bpe(vocabulary_texts(concepts), max_merges=8000))
        tok.write(vocab_path)
    log("BPE: %d merges, vocab_size %d; 'a photo of a mushroom and a red apple' -> %s"
        % (len(tok.merges), tok.vocab_size, tok.encode("a photo of a mushroom and a red apple")))

    config = OrderedDict([
        ("embed_dim", a.embed_dim), ("image_resolution", a.resolution), ("vision_layers", vision_layers),
        ("vision_width", a.vision_width), ("vision_patch_size", None if resnet else a.patch), ("context_length", 77),
        ("vocab_size", tok.vocab_size), ("transformer_width", a.text_width),
        ("transformer_heads", max(1, a.text_width // 64)), ("transformer_layers", a.text_layers),
    ])
    # The attention heads of the image tower (the official rule: ViT width / 64, ResNet width * 32
    # / 64), given to the model and written to the metadata from this one value.
    vision_heads = a.vision_width * 32 // 64 if resnet else max(1, a.vision_width // 64)
    model = tiny.CLIP(**config, vision_heads=vision_heads)
    n_params = sum(p.numel() for p in model.parameters())
    log("config %s, %d parameters (%.1f MB float32)" % (json.dumps(config), n_params, n_params * 4 / 1e6))

    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (decay if p.ndim >= 2 and "embedding" not in n else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98), eps=1e-6)

    def lr_at(step):
        if step < a.warmup:
            return a.lr * (step + 1) / a.warmup
        p = (step - a.warmup) / max(1, a.steps - a.warmup)
        return a.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))

    batcher = Batcher(concepts, pictures, a.seed + 2, a.shapes_prob, a.resolution)
    batcher.extra_text = a.extra_text
    # Concept prototypes (not part of the shipped model): picture and caption embeddings are
    # also trained to classify into these, a much denser signal per step than the in-batch
    # contrastive loss alone; both towers meet at the same prototypes, so they stay aligned.
    protos = torch.nn.Parameter(torch.randn(len(concepts), a.embed_dim) * 0.02)
    opt.add_param_group({"params": [protos], "weight_decay": 0.0})
    step0 = 0
    if resuming:
        st = torch.load(ckpt)
        model.load_state_dict(st["model"])
        with torch.no_grad():
            protos.copy_(st["protos"])
        opt.load_state_dict(st["opt"])
        torch.set_rng_state(st["trng"])
        step0 = st["step"]
        log("resumed from %s at step %d" % (ckpt, step0))

    # Periodic evaluation on every --eval-stride-th held-out concept (one picture each, as
    # tests/js/emoji-model.test.mjs measures through the CLI, which draws its own pictures).
    eval_idx = idx[::a.eval_stride]
    eval_pix = heldout_set(concepts, held, eval_idx, a.seed + 7, a.resolution) if not a.bench else None
    meta = OrderedDict([
        ("format", "pt"), ("naming", "openai"),
        ("clip_config", json.dumps({k: v for k, v in config.items() if v is not None})),
        ("vision_heads", str(vision_heads)),
        ("note", "clipdb-emoji: a small CLIP trained on emoji pictures (Noto, Twemoji, Fluent Emoji 3D/flat/"
                 "high-contrast, Emoji One, Noto v1, Firefox OS) and generated shapes; see models/README.md"),
        ("generator", "scripts/train-emoji-clip.py seed %d steps %d batch %d" % (a.seed, a.steps, a.batch)),
    ])

    def export():
        sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()
              if not k.endswith("num_batches_tracked")}
        tiny.write_safetensors(os.path.join(a.out, "model.safetensors"), sd, meta)
        tok.write(vocab_path)

    steps = a.bench or a.steps
    t_data = t_step = 0.0
    run_loss = None
    ev = None
    # One worker process draws batches ahead, in step order, at most AHEAD at a time (Pool.imap
    # would run ahead without bound and hold every batch it made in memory).
    import collections
    import multiprocessing as mp
    pool = mp.get_context("fork").Pool(1, _worker_init, (batcher,))
    ahead = collections.deque()
    AHEAD = 3
    for step in range(step0, steps):
        ta = time.time()
        while len(ahead) < AHEAD and step + len(ahead) < steps:
            ahead.append(pool.apply_async(_worker_batch, ((step + len(ahead), a.batch),)))
        pix, caps, valid, img_cls, cap_cls, extra, extra_cls = ahead.popleft().get()
        valid = torch.from_numpy(valid)
        tokens = torch.from_numpy(tok.tokenize(caps + extra))
        tb = time.time()
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        ie = F.normalize(model.encode_image(torch.from_numpy(pix)), dim=-1)
        te_all = F.normalize(model.encode_text(tokens), dim=-1)
        te = te_all[:len(caps)]
        logits = model.logit_scale.exp() * ie @ te.t()
        li = -(F.log_softmax(logits, dim=1) * (valid / valid.sum(1, keepdim=True))).sum(1).mean()
        lt = -(F.log_softmax(logits.t(), dim=1) * (valid.t() / valid.t().sum(1, keepdim=True))).sum(1).mean()
        loss = (li + lt) / 2
        if a.proto_weight > 0:
            pn = F.normalize(protos, dim=-1)
            loss = loss + a.proto_weight * (proto_loss(ie, img_cls, pn) + proto_loss(te_all, cap_cls + extra_cls, pn))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        tc = time.time()
        t_data += tb - ta
        t_step += tc - tb
        run_loss = loss.item() if run_loss is None else 0.95 * run_loss + 0.05 * loss.item()
        if (step + 1) % 25 == 0 or a.bench:
            log("step %d/%d loss %.4f (avg %.4f) lr %.2e scale %.1f | data %.2fs step %.2fs per it"
                % (step + 1, steps, loss.item(), run_loss, lr_at(step), model.logit_scale.exp().item(),
                   t_data / (step + 1 - step0), t_step / (step + 1 - step0)))
        if not a.bench and ((step + 1) % a.eval_every == 0 or step + 1 == steps):
            ev = eval_emoji(model, tok, concepts, eval_idx, eval_pix, nouns)
            sg = tiny.eval_grid(model, tok, a.resolution, 777, 1)
            log("eval step %d: emoji %s; shapes top1 %.3f recall5 %.3f"
                % (step + 1, json.dumps(ev), sg["text_to_image_top1"], sg["text_to_image_recall5"]))
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "protos": protos.detach(),
                        "trng": torch.get_rng_state(), "step": step + 1}, ckpt + ".tmp")
            os.replace(ckpt + ".tmp", ckpt)
            export()
    pool.terminate()
    if a.bench:
        return 0

    model.eval()
    ev = eval_emoji(model, tok, concepts, eval_idx, eval_pix, nouns)
    sg = tiny.eval_grid(model, tok, a.resolution, 778, 3)
    log("final eval: emoji %s; shapes %s" % (json.dumps(ev), json.dumps(sg)))
    export()

    # Parity fixture: a few held-out pictures and texts with PyTorch's embeddings, in eval mode
    # (the evaluations above leave the model in train mode, where BatchNorm uses batch statistics).
    model.eval()
    fpix = heldout_set(concepts, held, idx[:4], 4242, a.resolution)
    ftexts = ["a mushroom", "a photo of a red apple", "a dog face and a pizza", "an unseen word: zebra 42!"]
    ftok = tok.tokenize(ftexts)
    with torch.no_grad():
        fie = model.encode_image(torch.from_numpy(fpix)).numpy()
        fte = model.encode_text(torch.from_numpy(ftok)).numpy()
    os.makedirs(os.path.dirname(a.fixture) or ".", exist_ok=True)
    tiny.write_safetensors(a.fixture, {"pixels": fpix, "tokens": ftok.astype(np.int32),
                                       "image_embeddings": fie, "text_embeddings": fte},
                           {"texts": json.dumps(ftexts), "model": "models/clipdb-emoji/model.safetensors"})
    with open(os.path.join(a.out, "eval.json"), "w") as f:
        json.dump({"final": {"emoji_heldout_pytorch": ev, "shapes": sg}, "config": config, "parameters": n_params,
                   "seed": a.seed, "steps": a.steps, "batch": a.batch, "training_sets": list(EW.TRAIN_SETS + EW.ICONIFY_SETS),
                   "heldout_set": "openmoji", "concepts": len(concepts), "training_pictures": len(pictures),
                   "seconds": round(time.time() - t0, 1)}, f, indent=1)
    log("wrote %s, vocab.txt.gz, eval.json, %s; done in %.1f min"
        % (os.path.join(a.out, "model.safetensors"), a.fixture, (time.time() - t0) / 60))
    return 0


if __name__ == "__main__":
    sys.exit(main())
