import type { Progress } from "./state.ts"

/** A follower's progress right after an election: position unknown, probe from our log's end
 * (dissertation 10.2.2; etcd's tracker). */
export const initialProgress = (lastIndex: number): Progress => ({
  match: 0,
  next: lastIndex + 1,
  mode: "probe",
  inflight: [],
  inflightBytes: 0,
  probeSent: false,
  recentActive: false,
  round: 0,
  snapshot: undefined,
  gapCheckAt: Number.NEGATIVE_INFINITY
})

/** Is another AppendEntries with entries allowed now? */
export const canSendEntries = (pr: Progress, maxMessages: number, maxBytes: number): boolean => {
  switch (pr.mode) {
    case "probe":
      return !pr.probeSent
    case "replicate":
      return pr.inflight.length < maxMessages && pr.inflightBytes < maxBytes
    case "snapshot":
      return false
  }
}

/** Record an AppendEntries carrying entries up to `lastIndex` (`bytes` of them) as sent. */
export const sentEntries = (pr: Progress, lastIndex: number, bytes: number): Progress => {
  if (pr.mode === "replicate") {
    return {
      ...pr,
      next: lastIndex + 1,
      inflight: [...pr.inflight, { lastIndex, bytes }],
      inflightBytes: pr.inflightBytes + bytes
    }
  }
  return { ...pr, probeSent: true }
}

/** The follower holds everything through `index`: advance match, free acknowledged in-flight
 * messages and switch a probing follower to replicate. */
export const acknowledged = (pr: Progress, index: number): Progress => {
  if (index <= pr.match) return pr
  let k = 0
  let freed = 0
  while (k < pr.inflight.length && pr.inflight[k]!.lastIndex <= index) {
    freed += pr.inflight[k]!.bytes
    k++
  }
  const base = {
    ...pr,
    match: index,
    next: Math.max(pr.next, index + 1),
    inflight: k === 0 ? pr.inflight : pr.inflight.slice(k),
    inflightBytes: pr.inflightBytes - freed
  }
  return pr.mode === "probe" ? toReplicate(base) : base
}

export const toReplicate = (pr: Progress): Progress => ({
  ...pr,
  mode: "replicate",
  next: pr.match + 1,
  inflight: [],
  inflightBytes: 0,
  probeSent: false,
  snapshot: undefined
})

/** Back to probing from `next` (a rejection, or a snapshot transfer that ended). */
export const toProbe = (pr: Progress, next: number): Progress => ({
  ...pr,
  mode: "probe",
  next: Math.max(pr.match + 1, next),
  inflight: [],
  inflightBytes: 0,
  probeSent: false,
  snapshot: undefined
})
