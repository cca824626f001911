#!/usr/bin/env node
// Writes a tiny llama-architecture GGUF model with random weights and an SPM
// ("llama") vocabulary that llama.cpp accepts: <unk>, <s>, </s>, the 256 byte
// tokens and a few hundred words. Deterministic for a given seed.
//
//   node gen_gguf.mjs OUT.gguf [--layers N] [--embd N] [--ff N] [--heads N]
//                              [--vocab N] [--ctx N] [--seed N]
import { openSync, writeSync, closeSync } from "node:fs";

const args = process.argv.slice(2);
if (args.length < 1 || args[0].startsWith("-")) {
  console.error("usage: gen_gguf.mjs OUT.gguf [--layers N] [--embd N] [--ff N] [--heads N] " +
                "[--vocab N] [--ctx N] [--seed N]");
  process.exit(2);
}
const out = args[0];
const opt = { layers: 2, embd: 64, ff: 128, heads: 4, vocab: 512, ctx: 512, seed: 1 };
for (let i = 1; i < args.length; i += 2) {
  const key = args[i].replace(/^--/, "");
  if (!(key in opt) || i + 1 >= args.length) {
    console.error(`gen_gguf: unknown option ${args[i]}`);
    process.exit(2);
  }
  opt[key] = Number(args[i + 1]);
}
if (opt.embd % opt.heads !== 0) {
  console.error("gen_gguf: --embd must be a multiple of --heads");
  process.exit(2);
}

// ---- vocabulary -------------------------------------------------------------
const TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_BYTE = 6;
const tokens = ["<unk>", "<s>", "</s>"];
const types = [TYPE_UNKNOWN, TYPE_CONTROL, TYPE_CONTROL];
for (let b = 0; b < 256; b++) {
  tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
  types.push(TYPE_BYTE);
}
const words = ["▁", "▁the", "▁a", "▁of", "▁and", "▁to", "▁in", "▁is", "▁it", "▁that", "▁model",
               "▁token", "▁llama", "▁scope", "▁trace", "▁once", "▁upon", "▁time", "▁there",
               "▁was", "▁small"];
for (const c of "abcdefghijklmnopqrstuvwxyz") words.push(c, "▁" + c);
for (const w of new Set(words)) {  // llama.cpp rejects a vocabulary with duplicates
  if (tokens.length >= opt.vocab) break;
  tokens.push(w);
  types.push(TYPE_NORMAL);
}
for (let i = 0; tokens.length < opt.vocab; i++) {  // filler words up to --vocab
  tokens.push(`▁w${i}`);
  types.push(TYPE_NORMAL);
}
const scores = tokens.map((t, i) => (types[i] === TYPE_NORMAL ? -i : 0));
const nVocab = tokens.length;

// ---- tensors ----------------------------------------------------------------
const GGML_TYPE_F32 = 0;
const tensors = [];  // {name, dims (ggml ne order), init}
const E = opt.embd, F = opt.ff;
tensors.push({ name: "token_embd.weight", dims: [E, nVocab], init: "rand" });
tensors.push({ name: "output_norm.weight", dims: [E], init: "ones" });
tensors.push({ name: "output.weight", dims: [E, nVocab], init: "rand" });
for (let l = 0; l < opt.layers; l++) {
  const p = `blk.${l}.`;
  tensors.push({ name: p + "attn_norm.weight", dims: [E], init: "ones" });
  for (const n of ["attn_q", "attn_k", "attn_v", "attn_output"])
    tensors.push({ name: p + n + ".weight", dims: [E, E], init: "rand" });
  tensors.push({ name: p + "ffn_norm.weight", dims: [E], init: "ones" });
  tensors.push({ name: p + "ffn_gate.weight", dims: [E, F], init: "rand" });
  tensors.push({ name: p + "ffn_up.weight", dims: [E, F], init: "rand" });
  tensors.push({ name: p + "ffn_down.weight", dims: [F, E], init: "rand" });
}

// ---- GGUF writer ------------------------------------------------------------
const ALIGN = 32;
const T = { U32: 4, I32: 5, F32: 6, BOOL: 7, STR: 8, ARR: 9, U64: 10 };
const chunks = [];
let size = 0;
const put = (buf) => { chunks.push(buf); size += buf.length; };
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); put(b); };
const i32 = (v) => { const b = Buffer.alloc(4); b.writeInt32LE(v); put(b); };
const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); put(b); };
const f32 = (v) => { const b = Buffer.alloc(4); b.writeFloatLE(v); put(b); };
const str = (s) => { const b = Buffer.from(s, "utf8"); u64(b.length); put(b); };

const kvs = [
  ["general.architecture", T.STR, "llama"],
  ["general.name", T.STR, "scope-tiny-llama"],
  ["general.alignment", T.U32, ALIGN],
  ["llama.context_length", T.U32, opt.ctx],
  ["llama.embedding_length", T.U32, E],
  ["llama.block_count", T.U32, opt.layers],
  ["llama.feed_forward_length", T.U32, F],
  ["llama.attention.head_count", T.U32, opt.heads],
  ["llama.attention.head_count_kv", T.U32, opt.heads],
  ["llama.attention.layer_norm_rms_epsilon", T.F32, 1e-5],
  ["llama.rope.dimension_count", T.U32, E / opt.heads],
  ["llama.vocab_size", T.U32, nVocab],
  ["tokenizer.ggml.model", T.STR, "llama"],
  ["tokenizer.ggml.tokens", T.ARR, [T.STR, tokens]],
  ["tokenizer.ggml.scores", T.ARR, [T.F32, scores]],
  ["tokenizer.ggml.token_type", T.ARR, [T.I32, types]],
  ["tokenizer.ggml.bos_token_id", T.U32, 1],
  ["tokenizer.ggml.eos_token_id", T.U32, 2],
  ["tokenizer.ggml.unknown_token_id", T.U32, 0],
  ["tokenizer.ggml.add_bos_token", T.BOOL, true],
];
const value = (type, v) => {
  switch (type) {
    case T.U32: return u32(v);
    case T.I32: return i32(v);
    case T.F32: return f32(v);
    case T.BOOL: return put(Buffer.from([v ? 1 : 0]));
    case T.STR: return str(v);
    case T.ARR: {
      const [et, items] = v;
      u32(et);
      u64(items.length);
      for (const item of items) value(et, item);
      return;
    }
  }
  throw new Error(`gguf type ${type}`);
};

put(Buffer.from("GGUF", "ascii"));
u32(3);  // version
u64(tensors.length);
u64(kvs.length);
for (const [key, type, v] of kvs) {
  str(key);
  u32(type);
  value(type, v);
}
let offset = 0;
for (const t of tensors) {
  t.count = t.dims.reduce((a, b) => a * b, 1);
  t.offset = offset;
  str(t.name);
  u32(t.dims.length);
  for (const d of t.dims) u64(d);
  u32(GGML_TYPE_F32);
  u64(offset);
  offset += Math.ceil((t.count * 4) / ALIGN) * ALIGN;
}
const pad = (n) => put(Buffer.alloc((ALIGN - (n % ALIGN)) % ALIGN));
pad(size);

const fd = openSync(out, "w");
for (const c of chunks) writeSync(fd, c);
let rng = (opt.seed >>> 0) || 1;
const next = () => {  // xorshift32: the same model for the same seed everywhere
  rng ^= rng << 13; rng >>>= 0;
  rng ^= rng >>> 17;
  rng ^= rng << 5; rng >>>= 0;
  return rng / 4294967296;
};
for (const t of tensors) {
  const data = new Float32Array(t.count);
  const scale = 1 / Math.sqrt(t.dims[0]);
  for (let i = 0; i < t.count; i++) data[i] = t.init === "ones" ? 1 : (next() * 2 - 1) * scale;
  const bytes = Buffer.from(data.buffer);
  writeSync(fd, bytes);
  writeSync(fd, Buffer.alloc((ALIGN - (bytes.length % ALIGN)) % ALIGN));
}
closeSync(fd);
const params = tensors.reduce((a, t) => a + t.count, 0);
console.error(`gen_gguf: ${out}: ${opt.layers} layers, n_embd ${E}, n_ff ${F}, ` +
              `${nVocab} tokens, ${params} parameters`);
