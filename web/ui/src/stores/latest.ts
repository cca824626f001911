// A page store's load that several filters may start one after another: only the newest call's
// answer lands (an older one that comes back late is dropped), and only the newest sets the store's
// loading and error. Returns the call's number when its answer landed, null when it failed or was
// overtaken.
export async function loadLatest<T>(
  s: { seq: number; loading: boolean; error: unknown },
  fetch: () => Promise<T>,
  apply: (answer: T) => void,
): Promise<number | null> {
  const seq = ++s.seq
  s.loading = true
  try {
    const answer = await fetch()
    if (seq !== s.seq) return null
    apply(answer)
    s.error = null
    return seq
  } catch (e) {
    if (seq === s.seq) s.error = e
    return null
  } finally {
    if (seq === s.seq) s.loading = false
  }
}
