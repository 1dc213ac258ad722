import type { NodeId } from "./types.ts"

/** Votes needed out of `size` members: a strict majority (paper 5.2). */
export const quorum = (size: number): number => Math.floor(size / 2) + 1

/**
 * The highest index held by a majority, given each member's matched index (paper 5.3/5.4: an
 * entry is committed once a majority stores it). The k-th largest, k = quorum.
 */
export const majorityIndex = (indices: ReadonlyArray<number>): number => {
  const sorted = indices.slice().sort((a, b) => b - a)
  return sorted[quorum(indices.length) - 1]!
}

/** Result of counting votes: won, lost, or still open. */
export type Tally = "won" | "lost" | "pending"

export const tally = (members: ReadonlyArray<NodeId>, votes: ReadonlyMap<NodeId, boolean>): Tally => {
  const need = quorum(members.length)
  let granted = 0
  let rejected = 0
  for (const id of members) {
    const v = votes.get(id)
    if (v === true) granted++
    else if (v === false) rejected++
  }
  if (granted >= need) return "won"
  if (rejected >= need) return "lost"
  return "pending"
}
