// The CUDA page's resource sections: device memory per process (and its leaks), copies by
// direction, synchronisation stalls. Apart from the launches (stores/cuda.ts): its own loading
// and error state, so that one failing query does not hide the other sections.
import { defineStore } from 'pinia'
import { useAuth } from './auth'
import { loadLatest } from './latest'
import { apiQuery, type Filters } from '../filters'
import type { Copies, Memory, Syncs } from '../resources'

export const useCudaResources = defineStore('cudaResources', {
  state: () => ({
    memory: null as Memory | null,
    copies: null as Copies | null,
    syncs: null as Syncs | null,
    loading: false,
    error: null as unknown,
    // Answers of an older filter that come back late are dropped.
    seq: 0,
  }),
  getters: {
    empty: (s) =>
      !!s.memory &&
      s.memory.processes.length === 0 &&
      (s.copies?.directions.length ?? 0) === 0 &&
      (s.syncs?.count ?? 0) === 0,
  },
  actions: {
    async load(f: Filters) {
      const auth = useAuth()
      await loadLatest(
        this,
        () =>
          Promise.all([
            auth.call<Memory>(`/api/v1/query/cuda/memory?${apiQuery(f, { limit: 10 })}`),
            auth.call<Copies>(`/api/v1/query/cuda/copies?${apiQuery(f)}`),
            auth.call<Syncs>(`/api/v1/query/cuda/syncs?${apiQuery(f)}`),
          ]),
        ([memory, copies, syncs]) => {
          this.memory = memory
          this.copies = copies
          this.syncs = syncs
        },
      )
    },
  },
})
