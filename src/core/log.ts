import type { Entry } from "./types.ts"

/**
 * The in-memory Raft log: entries `firstIndex .. lastIndex`, preceded by a compacted prefix that
 * ends at (`prevIndex`, `prevTerm`) - the snapshot's last included entry, or (0, 0).
 *
 * Why this shape: the core must stay pure (every step returns a new state and never mutates an old
 * one) yet a step must not copy the whole log. A `RaftLog` is an immutable *view* (offset, length)
 * of a backing array that views share, the way Go slices do. Appending writes in place only when
 * the view ends exactly where the backing array ends, i.e. when no other view has written past it;
 * otherwise (a branch, or an append after a truncation) the view is copied first. No existing view
 * ever observes a change. The leader's hot path (append at the tail) is O(appended); truncation is
 * O(1) and only the rare append after it copies. Compaction drops the prefix and re-bases the
 * backing array once the dropped part dominates, so memory stays proportional to the live log.
 */
export interface RaftLog {
  /** Index and term of the entry just before the first one held (the compaction point). */
  readonly prevIndex: number
  readonly prevTerm: number
  /** Shared backing store; `backing[start + k]` is the entry at index `prevIndex + 1 + k`. */
  readonly backing: Entry[]
  readonly start: number
  /** Number of entries in this view. */
  readonly length: number
}

export const emptyLog = (prevIndex = 0, prevTerm = 0): RaftLog => ({
  prevIndex,
  prevTerm,
  backing: [],
  start: 0,
  length: 0
})

export const fromEntries = (prevIndex: number, prevTerm: number, entries: ReadonlyArray<Entry>): RaftLog => ({
  prevIndex,
  prevTerm,
  backing: entries.slice(),
  start: 0,
  length: entries.length
})

export const firstIndex = (log: RaftLog): number => log.prevIndex + 1
export const lastIndex = (log: RaftLog): number => log.prevIndex + log.length

/** The term of the entry at `index`, or undefined when it is compacted away or beyond the end. */
export const termAt = (log: RaftLog, index: number): number | undefined => {
  if (index === log.prevIndex) return log.prevTerm
  if (index < log.prevIndex || index > lastIndex(log)) return undefined
  return log.backing[log.start + index - log.prevIndex - 1]!.term
}

export const lastTerm = (log: RaftLog): number => termAt(log, lastIndex(log))!

/** The entry at `index`, if held. */
export const entryAt = (log: RaftLog, index: number): Entry | undefined =>
  index > log.prevIndex && index <= lastIndex(log)
    ? log.backing[log.start + index - log.prevIndex - 1]
    : undefined

/** Entries `[from, to]` (inclusive), clipped to what is held; a fresh array. */
export const slice = (log: RaftLog, from: number, to: number): Entry[] => {
  const lo = Math.max(from, firstIndex(log))
  const hi = Math.min(to, lastIndex(log))
  if (hi < lo) return []
  const base = log.start - log.prevIndex - 1
  return log.backing.slice(base + lo, base + hi + 1)
}

/** Drop every entry at index >= `from` (O(1): the view just gets shorter). */
export const truncateFrom = (log: RaftLog, from: number): RaftLog => {
  if (from > lastIndex(log)) return log
  if (from <= log.prevIndex)
    throw new Error(`truncateFrom(${from}) below the compaction point ${log.prevIndex}`)
  return { ...log, length: from - log.prevIndex - 1 }
}

/** Append `entries` after the last entry. */
export const append = (log: RaftLog, entries: ReadonlyArray<Entry>): RaftLog => {
  if (entries.length === 0) return log
  const end = log.start + log.length
  if (log.backing.length === end) {
    // Nobody has written past this view: extend the shared array in place.
    for (const e of entries) log.backing.push(e)
    return { ...log, length: log.length + entries.length }
  }
  // Another view owns the positions after ours: copy ours (rare: after truncation or a branch).
  const backing = log.backing.slice(log.start, end)
  for (const e of entries) backing.push(e)
  return { ...log, backing, start: 0, length: backing.length }
}

/** Forget entries up to and including `index` (covered by a snapshot whose last term is `term`).
 * When `index` is beyond the log, the log becomes empty after it. */
export const compactTo = (log: RaftLog, index: number, term: number): RaftLog => {
  if (index <= log.prevIndex) return log
  if (index >= lastIndex(log)) return emptyLog(index, term)
  const drop = index - log.prevIndex
  const start = log.start + drop
  const length = log.length - drop
  // Re-base once the dead prefix outweighs the live part, so memory tracks the live log.
  if (start > length && start > 1024) {
    return {
      prevIndex: index,
      prevTerm: term,
      backing: log.backing.slice(start, start + length),
      start: 0,
      length
    }
  }
  return { prevIndex: index, prevTerm: term, backing: log.backing, start, length }
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
