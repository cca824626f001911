#!/usr/bin/env node
// Loads a GGUF model through node-llama-cpp's prebuilt llama.cpp (CPU only,
// nothing built or downloaded), evaluates a prompt and generates exactly
// --tokens tokens greedily, then prints what it did as one JSON line on
// stdout: prompt and generated token counts, and the llama_decode calls that
// implies (ceil(prompt / batch) prompt batches, then one 1-token decode per
// generated token but the last, whose logits are never needed), and the
// generation's wall and CPU time (all threads).
//
//   node runner.mjs MODEL.gguf [--tokens N] [--prompt TEXT] [--batch N] [--ctx N]
//                              [--threads N] [--repeat N]
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const args = process.argv.slice(2);
if (args.length < 1) {
  console.error("usage: runner.mjs MODEL.gguf [--tokens N] [--prompt TEXT] [--batch N] " +
                "[--ctx N] [--threads N] [--repeat N]");
  process.exit(2);
}
const opt = { tokens: 16, prompt: "once upon a time there was a small llama model",
              batch: 512, ctx: 512, threads: 1, repeat: 1 };
for (let i = 1; i < args.length; i += 2) {
  const key = args[i].replace(/^--/, "");
  if (!(key in opt) || i + 1 >= args.length) {
    console.error(`runner: unknown option ${args[i]}`);
    process.exit(2);
  }
  opt[key] = key === "prompt" ? args[i + 1] : Number(args[i + 1]);
}

const llama = await getLlama({ gpu: false, build: "never", skipDownload: true,
                               logLevel: LlamaLogLevel.error, progressLogs: false });
const model = await llama.loadModel({ modelPath: args[0], gpuLayers: 0 });
const report = { prompt_tokens: 0, generated_tokens: 0, decode_calls: 0, prompt_decodes: 0,
                 generation_decodes: 0, requests: 0, wall_ns: 0, generation_ns: 0,
                 generation_tokens_per_s: 0, generation_cpu_ns: 0, pid: process.pid };
const started = process.hrtime.bigint();
for (let r = 0; r < opt.repeat; r++) {
  // One context per request: its first decode is the prompt.
  const context = await model.createContext({ contextSize: opt.ctx, batchSize: opt.batch,
                                              threads: opt.threads });
  const sequence = context.getSequence();
  const prompt = model.tokenize(opt.prompt);
  let generated = 0;
  let firstToken = 0n;
  let firstCpu = null;
  for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
    void token;
    if (generated === 0) {
      firstToken = process.hrtime.bigint();
      firstCpu = process.cpuUsage();
    }
    if (++generated >= opt.tokens) break;
  }
  if (opt.tokens > 1) {
    report.generation_ns += Number(process.hrtime.bigint() - firstToken);
    const cpu = process.cpuUsage(firstCpu);  // every thread of the process, µs
    report.generation_cpu_ns += (cpu.user + cpu.system) * 1000;
  }
  const promptDecodes = Math.ceil(prompt.length / opt.batch);
  report.prompt_tokens += prompt.length;
  report.generated_tokens += generated;
  report.prompt_decodes += promptDecodes;
  report.generation_decodes += generated - 1;
  report.decode_calls += promptDecodes + generated - 1;
  report.requests += 1;
  await context.dispose();
}
report.wall_ns = Number(process.hrtime.bigint() - started);
if (report.generation_ns > 0)
  report.generation_tokens_per_s = report.generation_decodes / (report.generation_ns / 1e9);
await model.dispose();
await llama.dispose();
console.log(JSON.stringify(report));
