#!/usr/bin/python3
"""Train clipdb's default model: a small CLIP (ViT image encoder + causal text Transformer, the
official OpenAI CLIP architecture and state_dict names) on the generated "shapes" world
(scripts/shapes.py), with its own byte-level BPE vocabulary in the official
bpe_simple_vocab_16e6.txt.gz format.

Runs on CPU with Debian's python3-torch (1.13), seeded, in well under an hour on 2 cores
(with Debian's libopenblas0-openmp installed; the reference BLAS is about 10x slower):

    /usr/bin/python3 scripts/train-tiny-clip.py --out models/clipdb-shapes

Outputs (in --out): model.safetensors (F32, OpenAI names, `clip_config` metadata), vocab.txt.gz,
train.log, eval.json; and --fixture (default tests/data/clipdb-shapes-fixture.safetensors): a few
preprocessed pixel tensors, token rows and the PyTorch embeddings, for the C engine parity test.

What the model computes is the official CLIP forward pass (see the golden data's README,
"Forward pass"): pre-LN residual blocks with QuickGELU MLPs, torch.nn.MultiheadAttention, an
additive causal mask in the text tower, pooling at argmax(tokens) (the end-of-text token),
x @ text_projection / x @ visual.proj. Training uses a symmetric contrastive loss whose targets
spread over every caption in the batch that is true of an image (shapes.caption_holds), so two
"a red circle" pictures in one batch are not pushed apart.
"""
import argparse
import gzip
import importlib.util
import json
import math
import os
import random
import re
import struct
import sys
import time
from collections import Counter, OrderedDict

import numpy as np

# On a shared machine, spinning OpenMP workers waste the time slices they get: sleep instead.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes  # noqa: E402

# ---------------------------------------------------------------------------------------------
# BPE vocabulary (byte-level, `</w>` word ends, CLIP's pre-tokenisation), official file format
# ---------------------------------------------------------------------------------------------


def byte_symbols():
    """The 256 byte symbols in CLIP/GPT-2 order: printable Latin-1 bytes map to themselves, the
    remaining bytes to code points 256, 257, ... in byte order. Returns (list of (byte, char))."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    chars = list(keep)
    extra = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + extra)
            extra += 1
    return [(b, chr(c)) for b, c in zip(keep, chars)]


BYTE_SYMBOLS = byte_symbols()
BYTE_TO_CHAR = {b: c for b, c in BYTE_SYMBOLS}

# CLIP splits into specials, English contractions, letter runs, single numbers and runs of other
# non-space characters. Python's re has no \p{L}: [^\W\d_] is "letter", \d "number", and the
# rest (including "_") is the third class; exact for the ASCII captions we train on.
PRETOKEN = re.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+",
                      re.IGNORECASE)
SOT, EOT = "<|startoftext|>", "<|endoftext|>"


def clean(text):
    return " ".join(text.split()).strip().lower()


def word_symbols(piece):
    chars = [BYTE_TO_CHAR[b] for b in piece.encode("utf-8")]
    chars[-1] = chars[-1] + "</w>"
    return tuple(chars)


def train_bpe(texts, max_merges=1000, min_count=2):
    """Greedy BPE: repeatedly merge the most frequent adjacent pair (ties: lexicographically
    smallest), until no pair occurs min_count times. Returns the merges in rank order."""
    words = Counter()
    for t in texts:
        for piece in PRETOKEN.findall(clean(t)):
            words[word_symbols(piece)] += 1
    words = dict(words)
    merges = []
    while len(merges) < max_merges:
        pairs = Counter()
        for w, n in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if best[1] < min_count:
            break
        (a, b) = best[0]
        merges.append((a, b))
        new_words = {}
        for w, n in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + n
        words = new_words
    return merges


class Tokenizer:
    """clip.tokenize for a vocabulary given as merges (official id layout)."""

    def __init__(self, merges):
        self.merges = list(merges)
        vocab = [c for _, c in BYTE_SYMBOLS]
        vocab += [c + "</w>" for c in vocab]
        vocab += [a + b for a, b in self.merges]
        vocab += [SOT, EOT]
        self.encoder = {s: i for i, s in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        self.sot, self.eot = self.encoder[SOT], self.encoder[EOT]
        self.vocab_size = len(vocab)
        self.cache = {}

    def bpe(self, piece):
        if piece in self.cache:
            return self.cache[piece]
        word = list(word_symbols(piece))
        while len(word) > 1:
            pairs = [(self.ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(word, word[1:]))]
            rank, _ = min(pairs)
            if rank == 1 << 30:
                break
            a, b = self.merges[rank]
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
        self.cache[piece] = word
        return word

    def encode(self, text):
        ids = []
        for piece in PRETOKEN.findall(clean(text)):
            if piece in (SOT, EOT):
                ids.append(self.encoder[piece])
            else:
                ids += [self.encoder[s] for s in self.bpe(piece)]
        return ids

    def tokenize(self, texts, context_length=77):
        out = np.zeros((len(texts), context_length), dtype=np.int64)
        for i, t in enumerate(texts):
            ids = [self.sot] + self.encode(t) + [self.eot]
            if len(ids) > context_length:
                ids = ids[:context_length]
                ids[-1] = self.eot
            out[i, :len(ids)] = ids
        return out

    def write(self, path):
        """The official vocabulary file format: gzip, a version header line, then one merge
        "a b" per line in rank order."""
        text = "#version: 0.2 - clipdb-shapes BPE, trained by scripts/train-tiny-clip.py\n"
        text += "".join("%s %s\n" % m for m in self.merges)
        with open(path, "wb") as f:
            # mtime=0 and no file name: the output is byte-identical across runs (for one zlib
            # build). Level 9, as gzip -9 writes it (the C tokenizer reads any level, see
            # src/common/gzip.c).
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as gz:
                gz.write(text.encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# Model: the official CLIP ViT architecture, official parameter names
# ---------------------------------------------------------------------------------------------


class LayerNorm(nn.LayerNorm):
    def forward(self, x):
        return super().forward(x.float())


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, width * 4)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(width * 4, width)),
        ]))
        self.ln_2 = LayerNorm(width)

    def forward(self, x, mask=None):  # x: [L, N, D]
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads):
        super().__init__()
        self.width, self.layers = width, layers
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x, mask=None):
        for blk in self.resblocks:
            x = blk(x, mask)
        return x


class VisionTransformer(nn.Module):
    def __init__(self, resolution, patch, width, layers, heads, out_dim):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((resolution // patch) ** 2 + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, out_dim))

    def forward(self, x):  # x: [N, 3, R, R]
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)  # [N, grid*grid, W], row-major
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.ln_pre(x)
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


# The official CLIP ResNet (ModifiedResNet: three-conv stem, Bottleneck stages with
# anti-aliased strides, AttentionPool2d; OpenAI state_dict names) is the one bench/clip_onnx.py
# defines for the peer benchmarks: the same module, so both read the same files.
_onnx_spec = importlib.util.spec_from_file_location(
    "clip_onnx", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "clip_onnx.py"))
_clip_onnx = importlib.util.module_from_spec(_onnx_spec)
_onnx_spec.loader.exec_module(_clip_onnx)
ModifiedResNet = _clip_onnx.ModifiedResNet


class CLIP(nn.Module):
    def __init__(self, embed_dim, image_resolution, vision_layers, vision_width, vision_patch_size,
                 context_length, vocab_size, transformer_width, transformer_heads, transformer_layers,
                 vision_heads=None):
        super().__init__()
        self.context_length = context_length
        if isinstance(vision_layers, (list, tuple)):  # the official rule: a list means ResNet
            self.visual = ModifiedResNet(vision_layers, embed_dim, vision_heads or vision_width * 32 // 64,
                                         image_resolution, vision_width)
        else:
            self.visual = VisionTransformer(image_resolution, vision_patch_size, vision_width, vision_layers,
                                            vision_heads or vision_width // 64, embed_dim)
        self.transformer = Transformer(transformer_width, transformer_layers, transformer_heads)
        self.vocab_size = vocab_size
        self.token_embedding = nn.Embedding(vocab_size, transformer_width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, transformer_width))
        self.ln_final = LayerNorm(transformer_width)
        self.text_projection = nn.Parameter(torch.empty(transformer_width, embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        self.init_parameters()

    def init_parameters(self):
        # The official initialisation scheme (normal inits scaled by width and depth).
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        if isinstance(self.visual, ModifiedResNet):
            ap = self.visual.attnpool
            std = ap.c_proj.in_features ** -0.5
            for lin in (ap.q_proj, ap.k_proj, ap.v_proj, ap.c_proj):
                nn.init.normal_(lin.weight, std=std)
            for stage in (self.visual.layer1, self.visual.layer2, self.visual.layer3, self.visual.layer4):
                for blk in stage:
                    nn.init.zeros_(blk.bn3.weight)
        towers = [self.transformer] + ([self.visual.transformer] if hasattr(self.visual, "transformer") else [])
        for tr in towers:
            proj_std = (tr.width ** -0.5) * ((2 * tr.layers) ** -0.5)
            attn_std = tr.width ** -0.5
            fc_std = (2 * tr.width) ** -0.5
            for blk in tr.resblocks:
                nn.init.normal_(blk.attn.in_proj_weight, std=attn_std)
                nn.init.normal_(blk.attn.out_proj.weight, std=proj_std)
                nn.init.normal_(blk.mlp.c_fc.weight, std=fc_std)
                nn.init.normal_(blk.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.text_projection, std=self.transformer.width ** -0.5)

    def encode_image(self, pixels):
        return self.visual(pixels)

    def encode_text(self, tokens):
        # Only the first L positions are needed: with the causal mask, position i sees 0..i, so
        # the output at the EOT token does not depend on the padding after it.
        L = int((tokens != 0).sum(dim=1).max())
        L = max(L, int(tokens.argmax(dim=-1).max()) + 1)
        tokens = tokens[:, :L]
        x = self.token_embedding(tokens) + self.positional_embedding[:L]
        mask = torch.full((L, L), float("-inf"), device=x.device).triu_(1)
        x = self.transformer(x.permute(1, 0, 2), mask).permute(1, 0, 2)
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)]
        return x @ self.text_projection


# ---------------------------------------------------------------------------------------------
# safetensors writer (header JSON + raw little-endian data, tensors sorted by name)
# ---------------------------------------------------------------------------------------------

DTYPES = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("int32"): "I32"}


def write_safetensors(path, tensors, metadata):
    """Tensors back to back in name order (no holes); the header is padded with spaces so the
    data starts at a multiple of 8; every tensor here is 4-byte sized, so each stays 4-aligned."""
    names = sorted(tensors)
    header = OrderedDict()
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    offset, blobs = 0, []
    for n in names:
        a = np.ascontiguousarray(tensors[n])
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        raw = a.tobytes()
        header[n] = {"dtype": DTYPES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    js = json.dumps(header, separators=(",", ":")).encode("utf-8")
    js += b" " * ((-(8 + len(js))) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def soft_targets(facts, scenes):
    """valid[i, j] = caption j is true of image i."""
    n = len(scenes)
    v = np.zeros((n, n), dtype=np.float32)
    for j in range(n):
        for i in range(n):
            if i == j or shapes.caption_holds(facts[j], scenes[i]):
                v[i, j] = 1.0
    return torch.from_numpy(v)


def eval_grid(model, tok, resolution, seed, per_class):
    """Zero-shot text->image retrieval on held-out single-object images: for every caption
    "a {colour} {shape}", rank all images; top-1 = best image has that colour and shape,
    recall@5 = one of the best five does. Also image->text classification accuracy."""
    rng = random.Random(seed)
    pix, labels = [], []
    for _ in range(per_class):
        for ci, c in enumerate(shapes.COLOUR_NAMES):
            for si, s in enumerate(shapes.SHAPES):
                sc = {"objects": [shapes.random_object(rng, shape=s, colour=c)]}
                img = shapes.render(sc, rng)
                if rng.random() < 0.5:
                    img = shapes.jpeg_roundtrip(img, rng)
                pix.append(shapes.clip_preprocess(img, resolution))
                labels.append(ci * len(shapes.SHAPES) + si)
    labels = torch.tensor(labels)
    texts = ["a %s %s" % (c, s) for c in shapes.COLOUR_NAMES for s in shapes.SHAPES]
    model.eval()
    with torch.no_grad():
        ie = torch.cat([model.encode_image(torch.from_numpy(np.stack(pix[i:i + 256])))
                        for i in range(0, len(pix), 256)])
        te = model.encode_text(torch.from_numpy(tok.tokenize(texts)))
    model.train()
    ie = F.normalize(ie, dim=-1)
    te = F.normalize(te, dim=-1)
    sim = te @ ie.t()  # [texts, images]
    order = sim.argsort(dim=1, descending=True)
    hit = labels[order] == torch.arange(len(texts))[:, None]
    top1 = hit[:, 0].float().mean().item()
    r5 = hit[:, :5].any(dim=1).float().mean().item()
    cls = (sim.argmax(dim=0) == labels).float().mean().item()
    colour_ok = ((sim.argmax(dim=0) // len(shapes.SHAPES)) == (labels // len(shapes.SHAPES))).float().mean().item()
    shape_ok = ((sim.argmax(dim=0) % len(shapes.SHAPES)) == (labels % len(shapes.SHAPES))).float().mean().item()
    return {"text_to_image_top1": top1, "text_to_image_recall5": r5, "image_to_text_top1": cls,
            "image_colour_acc": colour_ok, "image_shape_acc": shape_ok, "queries": len(texts),
            "images": len(pix)}


def main():
    ap = argparse.ArgumentParser(description="train clipdb's default small CLIP on generated shapes")
    ap.add_argument("--out", default="models/clipdb-shapes")
    ap.add_argument("--fixture", default="tests/data/clipdb-shapes-fixture.safetensors")
    ap.add_argument("--seed", type=int, default=20261130)
    ap.add_argument("--eval-seed", type=int, default=777)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--vision-width", type=int, default=64)
    ap.add_argument("--vision-layers", type=int, default=3)
    ap.add_argument("--text-width", type=int, default=64)
    ap.add_argument("--text-layers", type=int, default=2)
    ap.add_argument("--embed-dim", type=int, default=64)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--bench", type=int, default=0, help="time this many steps and exit")
    ap.add_argument("--init-from", help="start from this checkpoint.pt's weights (a second stage: fresh "
                                        "optimizer and schedule, a different data stream)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    resuming = os.path.exists(os.path.join(a.out, "checkpoint.pt")) or a.init_from  # keep the log
    logf = open(os.path.join(a.out, "train.log"), "a" if resuming else "w") if not a.bench else sys.stderr

    def log(msg):
        line = "[%7.1fs] %s" % (time.time() - t0, msg)
        print(line, file=sys.stderr, flush=True)
        if logf is not sys.stderr:
            logf.write(line + "\n")
            logf.flush()

    t0 = time.time()
    log("args: " + json.dumps(vars(a), sort_keys=True))
    log("torch %s, %d threads" % (torch.__version__, torch.get_num_threads()))

    # 1. The vocabulary, from a large seeded sample of captions plus the evaluation prompts.
    vrng = random.Random(a.seed + 1)
    sample = [shapes.caption(shapes.random_scene(vrng), vrng)[0] for _ in range(50000)]
    sample += ["a %s %s" % (c, s) for c in shapes.COLOUR_NAMES for s in shapes.SHAPES]
    tok = Tokenizer(train_bpe(sample))
    log("BPE: %d merges, vocab_size %d; 'a photo of a small orange star on the left' -> %s"
        % (len(tok.merges), tok.vocab_size, tok.encode("a photo of a small orange star on the left")))

    config = OrderedDict([
        ("embed_dim", a.embed_dim), ("image_resolution", a.resolution), ("vision_layers", a.vision_layers),
        ("vision_width", a.vision_width), ("vision_patch_size", a.patch), ("context_length", 77),
        ("vocab_size", tok.vocab_size), ("transformer_width", a.text_width),
        ("transformer_heads", max(1, a.text_width // 64)), ("transformer_layers", a.text_layers),
    ])
    model = CLIP(**config)
    n_params = sum(p.numel() for p in model.parameters())
    log("config %s, %d parameters" % (json.dumps(config), n_params))

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

    drng = random.Random(a.seed + 2)
    ckpt = os.path.join(a.out, "checkpoint.pt")
    step0 = 0
    if a.init_from:
        model.load_state_dict(torch.load(a.init_from)["model"])
        drng = random.Random(a.seed + 3)
        log("initialised from %s (stage 2: new optimizer, schedule and data stream)" % a.init_from)
    elif os.path.exists(ckpt) and not a.bench:
        st = torch.load(ckpt)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        drng.setstate(st["drng"])
        torch.set_rng_state(st["trng"])
        step0 = st["step"]
        log("resumed from %s at step %d" % (ckpt, step0))

    steps = a.bench or a.steps
    t_data = t_step = 0.0
    run_loss = None
    for step in range(step0, steps):
        ta = time.time()
        pix, caps, facts, scenes = shapes.training_batch(drng, a.batch, a.resolution)
        tokens = torch.from_numpy(tok.tokenize(caps))
        valid = soft_targets(facts, scenes)
        tb = time.time()
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        ie = F.normalize(model.encode_image(torch.from_numpy(pix)), dim=-1)
        te = F.normalize(model.encode_text(tokens), dim=-1)
        logits = model.logit_scale.exp() * ie @ te.t()
        li = -(F.log_softmax(logits, dim=1) * (valid / valid.sum(1, keepdim=True))).sum(1).mean()
        lt = -(F.log_softmax(logits.t(), dim=1) * (valid.t() / valid.t().sum(1, keepdim=True))).sum(1).mean()
        loss = (li + lt) / 2
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
            ev = eval_grid(model, tok, a.resolution, a.eval_seed, 1)
            log("eval step %d: %s" % (step + 1, json.dumps(ev)))
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "drng": drng.getstate(),
                        "trng": torch.get_rng_state(), "step": step + 1}, ckpt + ".tmp")
            os.replace(ckpt + ".tmp", ckpt)
    if a.bench:
        return 0

    # 2. Final measurement on a larger held-out set (3 images per colour x shape).
    model.eval()
    ev = eval_grid(model, tok, a.resolution, a.eval_seed + 1, 3)
    log("final eval (held-out seed %d, 3 images per class): %s" % (a.eval_seed + 1, json.dumps(ev)))

    # 3. Export.
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    meta = OrderedDict([
        ("format", "pt"),
        ("naming", "openai"),
        ("clip_config", json.dumps(config)),
        ("vision_heads", str(max(1, a.vision_width // 64))),
        ("note", "clipdb-shapes: a small CLIP trained on generated shapes; see models/README.md"),
        ("generator", "scripts/train-tiny-clip.py seed %d steps %d batch %d" % (a.seed, a.steps, a.batch)),
    ])
    write_safetensors(os.path.join(a.out, "model.safetensors"), sd, meta)
    tok.write(os.path.join(a.out, "vocab.txt.gz"))

    # Parity fixture: preprocessed pixels of a few held-out images, token rows, embeddings.
    frng = random.Random(4242)
    fpix = []
    for k in range(4):
        sc = shapes.random_scene(frng, two_prob=0.5 if k % 2 else 0.0)
        fpix.append(shapes.clip_preprocess(shapes.render(sc, frng), a.resolution))
    ftexts = ["a red circle", "a photo of a small blue square on the left", "a green star and a yellow heart",
              "an unseen word: zebra 42!"]
    ftok = tok.tokenize(ftexts)
    with torch.no_grad():
        fie = model.encode_image(torch.from_numpy(np.stack(fpix))).numpy()
        fte = model.encode_text(torch.from_numpy(ftok)).numpy()
    os.makedirs(os.path.dirname(a.fixture) or ".", exist_ok=True)
    write_safetensors(a.fixture, {"pixels": np.stack(fpix), "tokens": ftok.astype(np.int32),
                                  "image_embeddings": fie, "text_embeddings": fte},
                      {"texts": json.dumps(ftexts), "model": "models/clipdb-shapes/model.safetensors"})
    with open(os.path.join(a.out, "eval.json"), "w") as f:
        json.dump({"final": ev, "config": config, "parameters": n_params, "seed": a.seed, "steps": a.steps,
                   "batch": a.batch, "seconds": round(time.time() - t0, 1)}, f, indent=1)
    log("wrote %s, vocab.txt.gz, %s; done in %.1f min" % (os.path.join(a.out, "model.safetensors"), a.fixture,
                                                          (time.time() - t0) / 60))
    return 0


if __name__ == "__main__":
    sys.exit(main())
