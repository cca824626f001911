// The LLM page's data: tokens per second by phase, decode latency and time to first token, the
// ggml graph share, ggml memory and its leaks, over the filters; and the same per process (the
// processes ggml memory names, each asked with its pid), with the model its command line names.
import { defineStore } from 'pinia'
import { useAuth } from './auth'
import { loadLatest } from './latest'
import { apiQuery, type Filters } from '../filters'
import { modelOf, processKey, type Decode, type Memory, type TokenRates } from '../resources'

export interface LlmProcess {
  key: string
  node: string
  pid: number
  comm: string
  model: string | null
  tokens: TokenRates
  decode: Decode
}

// How many processes are asked about one by one.
export const PER_PROCESS = 8

export const useLlm = defineStore('llm', {
  state: () => ({
    tokens: null as TokenRates | null,
    decode: null as Decode | null,
    memory: null as Memory | null,
    processes: [] as LlmProcess[],
    processesError: null as unknown,
    processesLoading: false,
    loading: false,
    error: null as unknown,
    seq: 0,
  }),
  getters: {
    // Nothing of llama.cpp or ggml in the range.
    empty: (s) =>
      !!s.decode &&
      s.decode.decodes === 0 &&
      (s.tokens?.prompt_tokens ?? 0) + (s.tokens?.generation_tokens ?? 0) === 0 &&
      (s.memory?.processes.length ?? 0) === 0,
  },
  actions: {
    async load(f: Filters) {
      const auth = useAuth()
      const seq = await loadLatest(
        this,
        () =>
          Promise.all([
            auth.call<TokenRates>(`/api/v1/query/llm/tokens?${apiQuery(f)}`),
            auth.call<Decode>(`/api/v1/query/llm/decode?${apiQuery(f)}`),
            auth.call<Memory>(`/api/v1/query/llm/memory?${apiQuery(f, { limit: 10 })}`),
          ]),
        ([tokens, decode, memory]) => {
          this.tokens = tokens
          this.decode = decode
          this.memory = memory
        },
      )
      if (seq !== null) await this.loadProcesses(f, seq)
    },
    // Each process of ggml memory asked on its own (its node and pid over the page's filters).
    async loadProcesses(f: Filters, seq: number) {
      const auth = useAuth()
      const procs = (this.memory?.processes ?? []).slice(0, PER_PROCESS)
      this.processesLoading = true
      try {
        const rows = await Promise.all(
          procs.map(async (p): Promise<LlmProcess> => {
            const one: Filters = { ...f, node: p.node, pid: String(p.pid) }
            const [tokens, decode, execs] = await Promise.all([
              auth.call<TokenRates>(`/api/v1/query/llm/tokens?${apiQuery(one)}`),
              auth.call<Decode>(`/api/v1/query/llm/decode?${apiQuery(one)}`),
              auth.call<{ items: { argv: string[] | string | null }[] }>(
                `/api/v1/query/host/processes?${apiQuery(one, { limit: 5 })}`,
              ),
            ])
            let model: string | null = null
            for (const e of execs.items) model = modelOf(e.argv) ?? model
            return { key: processKey(p), node: p.node, pid: p.pid, comm: p.comm, model, tokens, decode }
          }),
        )
        if (seq !== this.seq) return
        // Those that decoded: a program that only allocates through ggml is not an LLM process.
        this.processes = rows.filter((r) => r.decode.decodes > 0 || r.tokens.prompt_tokens + r.tokens.generation_tokens > 0)
        this.processesError = null
      } catch (e) {
        if (seq === this.seq) {
          this.processes = []
          this.processesError = e
        }
      } finally {
        if (seq === this.seq) this.processesLoading = false
      }
    },
  },
})
