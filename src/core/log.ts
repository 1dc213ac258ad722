import type { Entry, EntryKind } from "./types.ts"

/**
 * The in-memory Raft log: entries `firstIndex .. lastIndex`, preceded by a compacted prefix that
 * ends at (`prevIndex`, `prevTerm`) - the snapshot's last included entry, or (0, 0).
 *
 * Why this shape: the core must stay pure (every step returns a new state and never mutates an old
 * one) yet a step must not copy the whole log. A `RaftLog` is an immutable *view* (offset, length)
 * of append-only storage that views share, the way Go slices share an array. Appending writes in
 * place only when nothing has been written past the view's end; otherwise (a branch, or an append
 * after a truncation) the view moves to storage of its own first. No view ever observes a change.
 *
 * The storage is a list of chunks of CHUNK entries, each holding its entries' fields in parallel
 * arrays (terms and kinds in typed arrays, payloads by reference) rather than one object per entry.
 * This keeps the step cost flat in the log's length on a generational garbage collector: a million
 * live entry objects, or one flat array of a million slots re-copied as it grows, would be copied
 * by young collections and re-marked by every full one. A full chunk lives outside the young
 * generation (typed arrays off-heap, the payload array large enough for the large-object space)
 * and never changes again, so views share it freely; moving to storage of its own copies at most
 * one partial chunk plus the list of chunk references. Entry objects are built on the way out
 * (messages, Apply), where they die young.
 *
 * Costs: append O(appended); lookup O(1); truncation O(1) (an append after it O(log / CHUNK +
 * CHUNK)); compaction drops whole chunks as soon as they are dead, so memory tracks the live log.
 */
export interface RaftLog {
  /** Index and term of the entry just before the first one held (the compaction point). */
  readonly prevIndex: number
  readonly prevTerm: number
  /** Shared storage: position `p` is `chunks[p >> CHUNK_BITS]` at `p & CHUNK_MASK`; position
   * `start + k` holds the entry at index `prevIndex + 1 + k`. Positions are written once. */
  readonly chunks: ReadonlyArray<Chunk>
  readonly start: number
  /** Number of entries in this view. */
  readonly length: number
}

/**
 * Up to CHUNK entries, field by field. Shared between views and storages: it is only appended to,
 * at `size`, by a view whose end is exactly there; positions below `size` never change (growing
 * the capacity copies them into larger arrays, which every sharer then sees, unchanged).
 */
export interface Chunk {
  terms: Float64Array
  /** 0 command, 1 noop. */
  kinds: Uint8Array
  data: Uint8Array[]
  size: number
}

const CHUNK_BITS = 15
const CHUNK = 1 << CHUNK_BITS
const CHUNK_MASK = CHUNK - 1
/** The first chunk of a storage starts this small and doubles, so that short logs stay cheap;
 * chunks after a full one start at full size. */
const MIN_CAPACITY = 256

const KINDS: ReadonlyArray<EntryKind> = ["command", "noop"]

const newChunk = (capacity: number): Chunk => ({
  terms: new Float64Array(capacity),
  kinds: new Uint8Array(capacity),
  data: new Array<Uint8Array>(capacity),
  size: 0
})

/** A new chunk holding a copy of the first `size` positions of `c`, with room to grow. */
const copyChunk = (c: Chunk, size: number): Chunk => {
  let capacity = MIN_CAPACITY
  while (capacity < size * 2 && capacity < CHUNK) capacity *= 2
  const copy = newChunk(capacity)
  copy.terms.set(c.terms.subarray(0, size))
  copy.kinds.set(c.kinds.subarray(0, size))
  for (let i = 0; i < size; i++) copy.data[i] = c.data[i]!
  copy.size = size
  return copy
}

/** Double a full chunk's capacity in place (positions below `size` are preserved). */
const grow = (c: Chunk): void => {
  const bigger = copyChunk(c, c.size)
  c.terms = bigger.terms
  c.kinds = bigger.kinds
  c.data = bigger.data
}

export const emptyLog = (prevIndex = 0, prevTerm = 0): RaftLog => ({
  prevIndex,
  prevTerm,
  chunks: [],
  start: 0,
  length: 0
})

export const fromEntries = (prevIndex: number, prevTerm: number, entries: ReadonlyArray<Entry>): RaftLog =>
  append(emptyLog(prevIndex, prevTerm), entries)

export const firstIndex = (log: RaftLog): number => log.prevIndex + 1
export const lastIndex = (log: RaftLog): number => log.prevIndex + log.length

/** The term of the entry at `index`, or undefined when it is compacted away or beyond the end. */
export const termAt = (log: RaftLog, index: number): number | undefined => {
  if (index === log.prevIndex) return log.prevTerm
  if (index < log.prevIndex || index > lastIndex(log)) return undefined
  const p = log.start + index - log.prevIndex - 1
  return log.chunks[p >> CHUNK_BITS]!.terms[p & CHUNK_MASK]
}

export const lastTerm = (log: RaftLog): number => termAt(log, lastIndex(log))!

const entryAtPosition = (log: RaftLog, p: number): Entry => {
  const c = log.chunks[p >> CHUNK_BITS]!
  const k = p & CHUNK_MASK
  return { term: c.terms[k]!, kind: KINDS[c.kinds[k]!]!, data: c.data[k]! }
}

/** The entry at `index`, if held. */
export const entryAt = (log: RaftLog, index: number): Entry | undefined =>
  index > log.prevIndex && index <= lastIndex(log)
    ? entryAtPosition(log, log.start + index - log.prevIndex - 1)
    : undefined

/** Entries `[from, to]` (inclusive), clipped to what is held; a fresh array. */
export const slice = (log: RaftLog, from: number, to: number): Entry[] => {
  const lo = Math.max(from, firstIndex(log))
  const hi = Math.min(to, lastIndex(log))
  const out: Entry[] = []
  const base = log.start - log.prevIndex - 1
  for (let i = lo; i <= hi; i++) out.push(entryAtPosition(log, base + i))
  return out
}

/** Drop every entry at index >= `from` (O(1): the view just gets shorter). */
export const truncateFrom = (log: RaftLog, from: number): RaftLog => {
  if (from > lastIndex(log)) return log
  if (from <= log.prevIndex)
    throw new Error(`truncateFrom(${from}) below the compaction point ${log.prevIndex}`)
  return { ...log, length: from - log.prevIndex - 1 }
}

/** Can `log` write at its end in place, i.e. has nothing been written there by another view? */
const ownsEnd = (log: RaftLog): boolean => {
  const end = log.start + log.length
  const chunk = log.chunks[end >> CHUNK_BITS]
  return chunk === undefined ? log.chunks.length === end >> CHUNK_BITS : chunk.size === (end & CHUNK_MASK)
}

/** The same view over a chunk list of its own, from its first chunk on. Full chunks are shared;
 * the partial last one is shared too when `copyPartialEnd` is false (an append checks `ownsEnd`
 * first, so sharing it is safe) and copied when the caller is about to write past another view. */
const rebase = (log: RaftLog, copyPartialEnd: boolean): RaftLog => {
  const end = log.start + log.length
  const chunks = log.chunks.slice(log.start >> CHUNK_BITS, end >> CHUNK_BITS)
  const k = end & CHUNK_MASK
  if (k > 0) {
    const c = log.chunks[end >> CHUNK_BITS]!
    chunks.push(copyPartialEnd ? copyChunk(c, k) : c)
  }
  return { ...log, chunks, start: log.start & CHUNK_MASK }
}

/** Append `entries` after the last entry. */
export const append = (log: RaftLog, entries: ReadonlyArray<Entry>): RaftLog => {
  if (entries.length === 0) return log
  // Another view wrote past our end (we were truncated, or are an older state): branch off.
  const own = ownsEnd(log) ? log : rebase(log, true)
  // Our chunk list: appending a chunk to it is invisible to views that end before it.
  const chunks = own.chunks as Chunk[]
  let end = own.start + own.length
  let chunk = chunks[end >> CHUNK_BITS]
  for (const e of entries) {
    const k = end & CHUNK_MASK
    if (k === 0) {
      chunk = newChunk(chunks.length === 0 ? MIN_CAPACITY : CHUNK)
      chunks.push(chunk)
    } else if (k === chunk!.terms.length) {
      grow(chunk!)
    }
    const c = chunk!
    c.terms[k] = e.term
    c.kinds[k] = e.kind === "noop" ? 1 : 0
    c.data[k] = e.data
    c.size = k + 1
    end++
  }
  return { ...own, length: own.length + entries.length }
}

/** Forget entries up to and including `index` (covered by a snapshot whose last term is `term`).
 * When `index` is beyond the log, the log becomes empty after it. */
export const compactTo = (log: RaftLog, index: number, term: number): RaftLog => {
  if (index <= log.prevIndex) return log
  if (index >= lastIndex(log)) return emptyLog(index, term)
  const drop = index - log.prevIndex
  const view = {
    prevIndex: index,
    prevTerm: term,
    chunks: log.chunks,
    start: log.start + drop,
    length: log.length - drop
  }
  // Release whole dead chunks at once (O(chunks)), so memory tracks the live log.
  return view.start >= CHUNK ? rebase(view, false) : view
}

/**
 * Does the log hold an entry at `index` with `term` (the AppendEntries consistency check, paper
 * 5.3)? Indices at or below the compaction point are committed and so match by Log Matching.
 */
export const matches = (log: RaftLog, index: number, term: number): boolean => {
  if (index < log.prevIndex) return true
  return termAt(log, index) === term
}

/** Is a log ending at (`index`, `term`) at least as up-to-date as this one (paper 5.4.1)? */
export const isUpToDate = (log: RaftLog, index: number, term: number): boolean => {
  const myTerm = lastTerm(log)
  return term > myTerm || (term === myTerm && index >= lastIndex(log))
}

/** The first index held whose term is >= `term`, within (prevIndex, `upTo`]. Terms never decrease
 * along a log, so this is a binary search: O(log n) even for a long conflicting term. */
const firstIndexWithTermAtLeast = (log: RaftLog, term: number, upTo: number): number => {
  let lo = log.prevIndex + 1
  let hi = upTo + 1
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (termAt(log, mid)! >= term) hi = mid
    else lo = mid + 1
  }
  return lo
}

/** The first index held for the term of the entry at `index` (follower side of fast backtracking,
 * dissertation 3.5). */
export const firstIndexOfTerm = (log: RaftLog, index: number): number =>
  firstIndexWithTermAtLeast(log, termAt(log, index)!, index)

/** The last index at or below `index` whose term is <= `term` (leader side of fast backtracking). */
export const lastIndexAtOrBelowTerm = (log: RaftLog, index: number, term: number): number => {
  const upTo = Math.min(index, lastIndex(log))
  if (upTo <= log.prevIndex) return upTo
  return firstIndexWithTermAtLeast(log, term + 1, upTo) - 1
}

/** Approximate encoded size of an entry (for message and in-flight byte budgets). */
export const entryBytes = (e: Entry): number => e.data.length + 16
