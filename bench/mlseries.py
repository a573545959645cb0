"""mlseries.py OUT [--scale S] [--series bf16,adam,jsonl,logs] [--seed N]
[--tensors PATH] - the ML artifact series of bench/compress.sh.
Standard library only (run with Debian's /usr/bin/python3).

Writes each series as version folders OUT/SERIES/v00, v01, ... Every byte
follows from the seed, so two runs write the same files. At --scale 1 each
series is 290-345 MB over all its versions; the sizes grow about
linearly with S.

  bf16   a small Llama-like transformer saved as one bf16 safetensors file
         (plus config.json), 8 versions of a partial fine-tune: the
         embeddings and the first half of the layers frozen (byte-identical),
         the other layers, the final norm and lm_head moved by about 2% of
         each tensor's spread per version, from fp32 master weights.
  adam   a full fine-tune of a smaller transformer, 6 versions of a
         trainer-style checkpoint folder: model.safetensors (fp32 weights),
         optimizer.safetensors (exp_avg and exp_avg_sq of every tensor, fp32),
         trainer_state.json, config.json; everything moves every version.
  jsonl  an instruction dataset (train.jsonl: id, source, instruction,
         input, response, tags, quality, tokens, created), text drawn from a
         Zipf-distributed vocabulary; 8 versions, each editing about 1.5% of
         the records in place plus one contiguous run of 1% (a relabel),
         deleting 0.5%, inserting 0.5% at random places and appending a
         batch of 5%.
  logs   an agent's JSON-lines trace (runs, steps, model calls with
         thoughts, tool calls and their outputs: listings, test runs, diffs,
         file excerpts, build logs; errors with Python tracebacks, metrics);
         10 versions, each the previous file plus more lines.

The float data is drawn by bench/mltensors (C; built with the project:
BUILD/bench/mltensors): pure Python takes minutes for a few hundred million
normal values. This script writes the safetensors headers and tells
mltensors what to append. Prints one line per series: versions, bytes,
seconds.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time

# ---------------------------------------------------------------- tensors


def safetensors_header(tensors, dtype, metadata):
    """tensors: [(name, shape)] in data order. The header bytes (8-byte
    length, JSON padded with spaces to 8 bytes) and the data's length."""
    width = {"BF16": 2, "F32": 4}[dtype]
    head = {"__metadata__": metadata}
    off = 0
    for name, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        head[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + n * width]}
        off += n * width
    js = json.dumps(head, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    return len(js).to_bytes(8, "little") + js, off


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def llama_tensors(rng, vocab, hidden, inter, layers, tied):
    """[(name, shape, mean, std, layer)]: a Llama-like layout, with each
    matrix's spread jittered around the usual 0.02 (output projections
    scaled down by depth) and RMSNorm weights around 1.0. layer is -1 for
    the embeddings, `layers` for the final norm and the head."""
    out = [("model.embed_tokens.weight", (vocab, hidden), 0.0, 0.02 * rng.uniform(0.8, 1.25), -1)]
    deep = 0.02 / (2 * layers) ** 0.5
    for i in range(layers):
        p = "model.layers.%d." % i
        j = lambda: rng.uniform(0.75, 1.35)  # noqa: E731
        out += [
            (p + "input_layernorm.weight", (hidden,), rng.uniform(0.6, 1.4), 0.1, i),
            (p + "self_attn.q_proj.weight", (hidden, hidden), 0.0, 0.02 * j(), i),
            (p + "self_attn.k_proj.weight", (hidden, hidden), 0.0, 0.02 * j(), i),
            (p + "self_attn.v_proj.weight", (hidden, hidden), 0.0, 0.02 * j(), i),
            (p + "self_attn.o_proj.weight", (hidden, hidden), 0.0, deep * j(), i),
            (p + "post_attention_layernorm.weight", (hidden,), rng.uniform(0.6, 1.4), 0.1, i),
            (p + "mlp.gate_proj.weight", (inter, hidden), 0.0, 0.02 * j(), i),
            (p + "mlp.up_proj.weight", (inter, hidden), 0.0, 0.02 * j(), i),
            (p + "mlp.down_proj.weight", (hidden, inter), 0.0, deep * j(), i),
        ]
    out.append(("model.norm.weight", (hidden,), rng.uniform(0.8, 1.6), 0.1, layers))
    if not tied:
        out.append(("lm_head.weight", (vocab, hidden), 0.0, 0.02 * rng.uniform(0.8, 1.25), layers))
    out.sort(key=lambda t: t[0])  # safetensors writes tensors in name order
    return out


def llama_config(vocab, hidden, inter, layers, tied, dtype):
    return json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": hidden, "intermediate_size": inter, "num_hidden_layers": layers,
        "num_attention_heads": hidden // 64, "num_key_value_heads": hidden // 64,
        "vocab_size": vocab, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
        "max_position_embeddings": 2048, "tie_word_embeddings": tied,
        "torch_dtype": dtype, "transformers_version": "4.46.0",
    }, indent=2) + "\n"


def run_tensors(tool, spec_lines):
    p = subprocess.run([tool], input="\n".join(spec_lines) + "\n", text=True)
    if p.returncode != 0:
        sys.exit("mlseries: %s failed" % tool)


def check_size(path, size):
    if os.path.getsize(path) != size:
        sys.exit("mlseries: %s is %d bytes, expected %d" % (path, os.path.getsize(path), size))


def gen_bf16(out, scale, seed, tool):
    rng = random.Random(seed)
    versions, vocab, hidden, inter = 8, 8192, 512, 1408
    layers = max(2, round(4 * scale))
    ts = llama_tensors(rng, vocab, hidden, inter, layers, tied=False)
    head, data_len = safetensors_header([(t[0], t[1]) for t in ts], "BF16", {"format": "pt"})
    spec = ["seed %d" % (seed * 7919 + 1), "drift 0.02"]
    for _, shape, mean, std, layer in ts:
        # frozen: the embeddings and the first half of the layers
        mode = "frozen" if layer < layers // 2 else "tuned"
        spec.append("tensor %d %.6g %.6g 0 %s" % (numel(shape), mean, std, mode))
    items = " ".join("%d:bf16" % i for i in range(len(ts)))
    config = llama_config(vocab, hidden, inter, layers, False, "bfloat16")
    for v in range(versions):
        d = os.path.join(out, "v%02d" % v)
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(config)
        with open(os.path.join(d, "model.safetensors"), "wb") as f:
            f.write(head)
        spec += ["version %d" % v, "append %s %s" % (os.path.join(d, "model.safetensors"), items)]
    run_tensors(tool, spec)
    for v in range(versions):
        check_size(os.path.join(out, "v%02d" % v, "model.safetensors"), len(head) + data_len)
    return versions


def gen_adam(out, scale, seed, tool):
    rng = random.Random(seed)
    versions, vocab, hidden, inter = 6, 6144, 256, 704
    layers = max(2, round(4 * scale))
    ts = llama_tensors(rng, vocab, hidden, inter, layers, tied=True)
    spec = ["seed %d" % (seed * 7919 + 2), "drift 0.02"]
    for name, shape, mean, std, _ in ts:
        # typical gradient sizes: smaller for the (sparsely used) embeddings
        g = (3e-4 if "embed" in name else 1e-3) * rng.uniform(0.5, 2.0)
        spec.append("tensor %d %.6g %.6g %.6g adam" % (numel(shape), mean, std, g))
    model_head, model_len = safetensors_header([(t[0], t[1]) for t in ts], "F32", {"format": "pt"})
    opt = []
    for name, shape, *_ in ts:
        opt += [(name + ".exp_avg", shape), (name + ".exp_avg_sq", shape)]
    order = sorted(range(len(opt)), key=lambda k: opt[k][0])
    opt_items = " ".join("%d:%s" % (k // 2, "m" if k % 2 == 0 else "v") for k in order)
    config = llama_config(vocab, hidden, inter, layers, True, "float32")
    history, sizes = [], []
    loss = 2.9
    for v in range(versions):
        step = 500 * (v + 1)
        d = os.path.join(out, "v%02d" % v)
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(config)
        with open(os.path.join(d, "model.safetensors"), "wb") as f:
            f.write(model_head)
        opt_head, opt_len = safetensors_header([opt[k] for k in order], "F32",
                                               {"format": "pt", "step": str(step), "lr": "2e-05",
                                                "betas": "0.9,0.999", "eps": "1e-08"})
        with open(os.path.join(d, "optimizer.safetensors"), "wb") as f:
            f.write(opt_head)
        for s in range(step - 490, step + 1, 10):
            loss = max(0.3, loss * (1 - 4e-4) + rng.gauss(0, 0.02))
            history.append({"epoch": round(s / 3000, 4), "grad_norm": round(rng.uniform(0.4, 1.6), 6),
                            "learning_rate": round(2e-5 * (1 - s / 4000), 10), "loss": round(loss, 4),
                            "step": s})
        with open(os.path.join(d, "trainer_state.json"), "w") as f:
            json.dump({"best_metric": None, "epoch": round(step / 3000, 4), "global_step": step,
                       "log_history": history, "logging_steps": 10, "max_steps": 3000,
                       "save_steps": 500, "train_batch_size": 8}, f, indent=2)
        spec += ["version %d" % v,
                 "append %s %s" % (os.path.join(d, "model.safetensors"),
                                   " ".join("%d:f32" % i for i in range(len(ts)))),
                 "append %s %s" % (os.path.join(d, "optimizer.safetensors"), opt_items)]
        sizes += [(os.path.join(d, "model.safetensors"), len(model_head) + model_len),
                  (os.path.join(d, "optimizer.safetensors"), len(opt_head) + opt_len)]
    run_tensors(tool, spec)
    for path, size in sizes:
        check_size(path, size)
    return versions

# ---------------------------------------------------------------- text

COMMON = """the of and to a in is that for it as was with be by on not he this are or his
from at which but have an they you were her she there one all we their can has been if more
when will would who so no what up out about into them some could time only new other then
these two may do first any my now such like our over man me even most made after also did
many before must through years where much your way well down should because each just those
how too little state good very make world still own see men work long get here between both
life being under never day same another know while last might us great old year off come
since against go came right used take three data model training loss value file error function
system user output input step run test code line result number set list type check return
call point case need part example first different small large model's version change update
value's question answer text word language task problem method approach based given using
following important however different possible information process result results include
provide support help describe explain write create simple better best should could""".split()

ONSETS = ("b br c ch cl cr d dr f fl fr g gl gr h j k l m n p pl pr qu r s sc sh sk sl sm sn sp st str "
          "t th tr v w wh y z").split()
VOWELS = "a e i o u a e i o ai ea ee io ou oa ie".split()
CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ng", "ck", "rt", "nt", "sh", "x", "ld"]
SUFFIXES = ["", "", "", "", "ing", "ed", "er", "ion", "ly", "ment", "ness", "able", "ic", "al", "ous", "s", "es"]


class Words:
    """A vocabulary of real-looking words with Zipf-Mandelbrot frequencies:
    the common English words first, then made-up ones built from
    syllables."""

    def __init__(self, rng, size=30000):
        seen, words = set(), []
        for w in COMMON:
            if w not in seen:
                seen.add(w)
                words.append(w)
        while len(words) < size:
            w = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
                        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))))
            if rng.random() < 0.3:
                w += rng.choice(SUFFIXES)
            if w not in seen:
                seen.add(w)
                words.append(w)
        self.words = words
        acc, self.cum = 0.0, []
        for r in range(len(words)):
            acc += 1.0 / (r + 2.7) ** 1.05
            self.cum.append(acc)
        self.rng = rng

    def pick(self, k):
        return self.rng.choices(self.words, cum_weights=self.cum, k=k)

    def sentence(self, lo=5, hi=22, end="."):
        ws = self.pick(self.rng.randint(lo, hi))
        if len(ws) > 8 and self.rng.random() < 0.4:
            c = self.rng.randrange(3, len(ws) - 3)
            ws[c] += ","
        return ws[0].capitalize() + " " + " ".join(ws[1:]) + end

    def sentences(self, lo, hi):
        return " ".join(self.sentence(end=self.rng.choice(".....?!")) for _ in range(self.rng.randint(lo, hi)))


IDENTS_SEED = 99


def identifiers(rng, words, n=300):
    out = set()
    while len(out) < n:
        ws = words.pick(rng.choice((1, 2, 2, 3)))
        out.add("_".join(w.strip(",.'") for w in ws).replace("'", ""))
    return sorted(out)


def code_line(rng, ids, words):
    a, b, c = rng.choice(ids), rng.choice(ids), rng.choice(ids)
    t = rng.randrange(9)
    ind = "    " * rng.randint(0, 3)
    if t == 0:
        return "%sdef %s(%s, %s=None):" % (ind, a, b, c)
    if t == 1:
        return "%sreturn %s(%s)" % (ind, a, b)
    if t == 2:
        return "%s%s = %s.%s(%s, %d)" % (ind, a, b, c, a, rng.randint(0, 4096))
    if t == 3:
        return "%sif %s is None or %s > %s:" % (ind, a, b, c)
    if t == 4:
        return "%sfor %s in %s.%s():" % (ind, a, b, c)
    if t == 5:
        return "%s# %s" % (ind, " ".join(words.pick(rng.randint(3, 10))))
    if t == 6:
        return "%sraise ValueError(\"%s: %%s\" %% %s)" % (ind, " ".join(words.pick(4)), a)
    if t == 7:
        return "%sself.%s[%s] = %s" % (ind, a, b, c)
    return ""

# ---------------------------------------------------------------- jsonl


SOURCES = ["forum-qa", "docs-v3", "synthetic-v2", "support-tickets", "code-review", "wiki-edu",
           "math-word", "chat-logs", "translated-fr", "human-written", "distilled-70b", "stackx"]


def gen_jsonl(out, scale, seed):
    rng = random.Random(seed)
    words = Words(rng)
    tags = ["tag-" + w for w in words.words[200:260]]
    ids = identifiers(random.Random(seed + IDENTS_SEED), words)
    versions = 8
    n0 = max(100, int(30000 * scale))
    next_id = [0]
    day0 = 1767225600  # 2026-01-01

    def new_record():
        i = next_id[0]
        next_id[0] += 1
        resp = words.sentences(2, 9)
        r = rng.random()
        if r < 0.15:
            resp += "\n\n```python\n" + "\n".join(code_line(rng, ids, words) for _ in range(rng.randint(3, 14))) + "\n```"
        elif r < 0.3:
            resp += "\n" + "\n".join("%d. %s" % (k + 1, words.sentence(3, 12)) for k in range(rng.randint(2, 6)))
        rec = {
            "id": "ex-%07d" % i,
            "source": rng.choice(SOURCES),
            "instruction": words.sentences(1, 3).rstrip(".!") + "?",
            "input": words.sentences(1, 4) if rng.random() < 0.35 else "",
            "response": resp,
            "tags": sorted(rng.sample(tags, rng.randint(1, 4))),
            "quality": round(rng.random(), 3),
            "tokens": 0,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(day0 + i * 37 + rng.randrange(37))),
        }
        rec["tokens"] = (len(rec["instruction"]) + len(rec["input"]) + len(resp)) // 4
        return rec

    def line(rec):
        return json.dumps(rec, ensure_ascii=False) + "\n"

    recs = [new_record() for _ in range(n0)]
    lines = [line(r) for r in recs]
    for v in range(versions):
        if v > 0:
            n = len(recs)
            for k in rng.sample(range(n), n * 15 // 1000):  # scattered edits
                r = dict(recs[k])
                e = rng.random()
                if e < 0.6:
                    parts = r["response"].split(". ")
                    parts[rng.randrange(len(parts))] = words.sentence(end="")
                    r["response"] = ". ".join(parts)
                elif e < 0.9:
                    r["quality"] = round(rng.random(), 3)
                    r["tags"] = sorted(set(r["tags"]) | {"reviewed"})
                else:
                    ws = r["instruction"].split(" ")
                    ws[rng.randrange(len(ws))] = words.pick(1)[0]
                    r["instruction"] = " ".join(ws)
                recs[k], lines[k] = r, line(r)
            span = n // 100  # one contiguous relabel
            s0 = rng.randrange(n - span)
            src = rng.choice(SOURCES)
            for k in range(s0, s0 + span):
                r = dict(recs[k], source=src)
                recs[k], lines[k] = r, line(r)
            for k in sorted(rng.sample(range(n), n // 200), reverse=True):  # deletions
                del recs[k], lines[k]
            for _ in range(n // 200):  # insertions
                k = rng.randrange(len(recs) + 1)
                r = new_record()
                recs.insert(k, r)
                lines.insert(k, line(r))
            for _ in range(n0 // 20):  # the appended batch
                r = new_record()
                recs.append(r)
                lines.append(line(r))
        d = os.path.join(out, "v%02d" % v)
        os.makedirs(d)
        with open(os.path.join(d, "train.jsonl"), "w", encoding="utf-8") as f:
            f.writelines(lines)
    return versions

# ---------------------------------------------------------------- agent logs


TOOLS = ["bash", "read_file", "grep", "edit_file", "python", "http_get"]
FRAMES = [
    ("/workspace/agent/loop.py", 212, "run_step", "result = tool.invoke(call.arguments, timeout=self.timeout)"),
    ("/workspace/agent/tools/base.py", 88, "invoke", "return self._run(**kwargs)"),
    ("/workspace/agent/tools/bash.py", 141, "_run", "proc = subprocess.run(cmd, capture_output=True, timeout=timeout)"),
    ("/usr/lib/python3.11/subprocess.py", 550, "run", "stdout, stderr = process.communicate(input, timeout=timeout)"),
    ("/usr/lib/python3.11/subprocess.py", 1209, "communicate", "stdout, stderr = self._communicate(input, endtime, timeout)"),
    ("/workspace/agent/tools/files.py", 67, "_run", "with open(path, encoding=\"utf-8\") as f:"),
    ("/workspace/agent/tools/http.py", 93, "_run", "resp = self.session.get(url, timeout=timeout)"),
    ("/usr/lib/python3/dist-packages/requests/sessions.py", 602, "get", "return self.request(\"GET\", url, **kwargs)"),
    ("/workspace/agent/llm.py", 318, "complete", "raise RateLimited(resp.headers.get(\"retry-after\"))"),
    ("/workspace/agent/tools/edit.py", 154, "_run", "raise EditConflict(path, hunk.start, hunk.end)"),
]
ERRORS = ["subprocess.TimeoutExpired: Command '%s' timed out after %d seconds",
          "FileNotFoundError: [Errno 2] No such file or directory: '%s'",
          "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='%s', port=443): Max retries exceeded",
          "agent.llm.RateLimited: retry after %d s",
          "agent.tools.edit.EditConflict: %s: hunk at line %d does not apply"]


def gen_logs(out, scale, seed):
    rng = random.Random(seed)
    words = Words(rng)
    ids = identifiers(random.Random(seed + IDENTS_SEED), words)
    paths = ["%s/%s.py" % (rng.choice(["src", "src/core", "tests", "lib", "scripts", "src/models"]), rng.choice(ids))
             for _ in range(120)]
    versions = 10
    per_version = max(50, int(11000 * scale))
    ts = [1795000000.0]
    state = {"run": None, "step": 0, "left": 0}

    def stamp():
        ts[0] += rng.expovariate(1 / 0.8)
        t = ts[0]
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)

    def hexid(n):
        return "%0*x" % (n, rng.getrandbits(4 * n))

    def tool_output(tool, args):
        if tool == "bash":
            cmd = args["cmd"]
            if cmd.startswith("ls"):
                return "\n".join("-rw-r--r-- 1 agent agent %7d Nov %2d %02d:%02d %s" % (
                    rng.randint(100, 90000), rng.randint(1, 28), rng.randrange(24), rng.randrange(60),
                    rng.choice(paths).rsplit("/", 1)[1]) for _ in range(rng.randint(3, 25)))
            if cmd.startswith("pytest"):
                res = ["%s::test_%s %s [%3d%%]" % (rng.choice(paths), rng.choice(ids),
                                                 "PASSED" if rng.random() < 0.93 else "FAILED", p)
                       for p in sorted(rng.sample(range(1, 101), rng.randint(3, 30)))]
                return "\n".join(res) + "\n==== %d passed, %d failed in %.2fs ====" % (
                    rng.randint(5, 300), rng.randint(0, 4), rng.uniform(0.5, 90))
            if cmd.startswith("git diff"):
                h = ["diff --git a/%s b/%s" % (args["path"], args["path"]),
                     "index %s..%s 100644" % (hexid(7), hexid(7)),
                     "@@ -%d,7 +%d,8 @@" % (rng.randint(1, 400), rng.randint(1, 400))]
                for _ in range(rng.randint(4, 16)):
                    h.append(rng.choice(" +-") + code_line(rng, ids, words))
                return "\n".join(h)
            if cmd.startswith("make"):
                return "\n".join("[%3d%%] Building C object %s.o" % (p, rng.choice(paths)[:-3])
                                 for p in sorted(rng.sample(range(101), rng.randint(4, 20))))
            return "loss=%.4f step=%d lr=%.2e tokens/s=%d" % (rng.uniform(0.5, 3), rng.randint(0, 9999),
                                                             rng.uniform(1e-5, 3e-4), rng.randint(1000, 90000))
        if tool == "read_file":
            return "\n".join(code_line(rng, ids, words) for _ in range(rng.randint(5, 60)))
        if tool == "grep":
            return "\n".join("%s:%d:%s" % (rng.choice(paths), rng.randint(1, 900), code_line(rng, ids, words).strip())
                             for _ in range(rng.randint(1, 20)))
        if tool == "edit_file":
            return "applied %d hunk%s to %s" % (rng.randint(1, 4), "s", args["path"])
        if tool == "python":
            return "\n".join("%s: %.6f" % (rng.choice(ids), rng.gauss(0, 10)) for _ in range(rng.randint(1, 12)))
        return json.dumps({"status": 200, "items": [{"id": hexid(12), "name": rng.choice(ids),
                                                    "score": round(rng.random(), 4)} for _ in range(rng.randint(1, 8))]})

    def tool_args(tool):
        p = rng.choice(paths)
        if tool == "bash":
            return {"cmd": rng.choice(["ls -la %s" % p.rsplit("/", 1)[0], "pytest -q %s" % p, "git diff",
                                       "make -j2", "python train.py --lr 3e-4 --steps 200"]), "path": p,
                    "timeout": 120}
        if tool in ("read_file", "edit_file"):
            return {"path": p, "start": rng.randint(1, 300), "limit": 200}
        if tool == "grep":
            return {"pattern": rng.choice(ids), "path": p.rsplit("/", 1)[0]}
        if tool == "python":
            return {"code": "\n".join(code_line(rng, ids, words) for _ in range(rng.randint(1, 6)))}
        return {"url": "https://api.internal/v1/%s?q=%s" % (rng.choice(ids), rng.choice(ids))}

    def lines(n):
        out = []
        while len(out) < n:
            if state["left"] == 0:
                state["run"] = "run-" + hexid(8)
                state["step"], state["left"] = 0, rng.randint(40, 400)
                out.append({"ts": stamp(), "run": state["run"], "event": "run_start", "agent": "coder-v3",
                            "model": "local-llm-8b-instruct", "config": {"max_steps": 400, "temperature": 0.2,
                                                                         "tools": TOOLS, "sandbox": "docker"},
                            "task": words.sentences(1, 3)})
            state["step"] += 1
            state["left"] -= 1
            base = {"run": state["run"], "step": state["step"]}
            out.append(dict(ts=stamp(), event="llm_call", **base, prompt_tokens=rng.randint(800, 30000),
                            completion_tokens=rng.randint(20, 900), latency_ms=rng.randint(300, 9000),
                            thought=words.sentences(1, 5)))
            tool = rng.choice(TOOLS)
            call = "call_" + hexid(12)
            args = tool_args(tool)
            out.append(dict(ts=stamp(), event="tool_call", **base, tool=tool, call_id=call, args=args))
            if rng.random() < 0.03:
                fr = [rng.choice(FRAMES[:1])] + rng.sample(FRAMES[1:], rng.randint(1, 4))
                tb = "Traceback (most recent call last):\n" + "".join(
                    '  File "%s", line %d, in %s\n    %s\n' % f for f in fr)
                msg = rng.choice(ERRORS)
                msg = msg % ((args.get("path", "x"), rng.randint(1, 900)) if msg.count("%") == 2 else
                             (rng.randint(1, 120) if "%d" in msg else args.get("path", "x"),))
                out.append(dict(ts=stamp(), event="error", **base, call_id=call, level="error",
                                error=msg.split(":")[0], traceback=tb + msg))
            else:
                out.append(dict(ts=stamp(), event="tool_result", **base, call_id=call, exit_code=0,
                                duration_ms=rng.randint(5, 20000), output=tool_output(tool, args)))
            if rng.random() < 0.1:
                out.append(dict(ts=stamp(), event="metric", **base, name=rng.choice(["reward", "tests_passed", "cost_usd"]),
                                value=round(rng.random() * 10, 4)))
        return "".join(json.dumps(o) + "\n" for o in out)

    prev = None
    for v in range(versions):
        d = os.path.join(out, "v%02d" % v)
        os.makedirs(d)
        path = os.path.join(d, "trace.jsonl")
        if prev:
            shutil.copyfile(prev, path)
        with open(path, "a") as f:
            f.write(lines(per_version))
        prev = path
    return versions

# ---------------------------------------------------------------- main


def tree_bytes(d):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)


def main():
    ap = argparse.ArgumentParser(description="Write the ML artifact series of bench/compress.sh.")
    ap.add_argument("out")
    ap.add_argument("--scale", type=float, default=1.0, help="size factor (1: 290-345 MB per series)")
    ap.add_argument("--series", default="bf16,adam,jsonl,logs")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--tensors", default=None, help="the mltensors program (default: build/bench/mltensors)")
    a = ap.parse_args()
    if a.scale <= 0:
        ap.error("--scale must be positive")
    tool = a.tensors or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "bench", "mltensors")
    gens = {"bf16": lambda o: gen_bf16(o, a.scale, a.seed, tool),
            "adam": lambda o: gen_adam(o, a.scale, a.seed, tool),
            "jsonl": lambda o: gen_jsonl(o, a.scale, a.seed),
            "logs": lambda o: gen_logs(o, a.scale, a.seed)}
    for s in a.series.split(","):
        if s not in gens:
            ap.error("unknown series %r (bf16, adam, jsonl, logs)" % s)
        if s in ("bf16", "adam") and not os.access(tool, os.X_OK):
            ap.error("%s: not found (build the project, or pass --tensors)" % tool)
        d = os.path.join(a.out, s)
        if os.path.exists(d):
            ap.error("%s exists" % d)
        t0 = time.time()
        n = gens[s](d)
        print("%-6s %2d versions %13d bytes %6.1f s" % (s, n, tree_bytes(d), time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
