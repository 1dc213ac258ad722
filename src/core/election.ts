import { type Ctx, markHardState, sendAfterDurable, update } from "./context.ts"
import * as Log from "./log.ts"
import { becomeFollower, countVotes, resetElectionTimer } from "./roles.ts"
import { NONE, type NodeId, type RequestVote, type RequestVoteResponse } from "./types.ts"

/**
 * Has this node heard from a live leader within the minimum election timeout? Then it refuses to
 * help disrupt that leader (dissertation 4.2.3 and 9.6): a (pre-)vote request is neither granted
 * nor allowed to bump our term. A leader is in its own lease while CheckQuorum keeps it leader.
 */
export const inLease = (ctx: Ctx): boolean => {
  const s = ctx.state
  if (!s.config.checkQuorum || s.leader === NONE) return false
  if (s.role === "leader") return true
  return ctx.now - s.leaderContactAt < s.config.electionTimeoutMin
}

const respond = (ctx: Ctx, to: NodeId, term: number, granted: boolean, preVote: boolean): void => {
  const message: RequestVoteResponse = { _tag: "RequestVoteResponse", term, granted, preVote }
  // A granted vote is durable state, and any reply carries our term: it waits for the write that
  // records them (paper Figure 2: "respond to RPCs" after updating stable storage). Without a
  // write in flight it leaves at once.
  sendAfterDurable(ctx, to, message)
}

/**
 * RequestVote receiver (paper 5.2, 5.4.1; PreVote 9.6). Grants at most one vote per term, only to
 * a candidate whose log is at least as up-to-date as ours.
 *
 * Requests from a lower term are answered with a refusal carrying our term rather than ignored:
 * a pre-candidate whose term fell behind (it never adopts terms from refused pre-votes otherwise)
 * learns the current term and can then win - the PreVote + CheckQuorum liveness trap of etcd
 * issues 8243/9586.
 */
export const handleRequestVote = (ctx: Ctx, from: NodeId, m: RequestVote): void => {
  if (m.term < ctx.state.term) return respond(ctx, from, ctx.state.term, false, m.preVote)
  if (m.term > ctx.state.term && !m.transfer && inLease(ctx)) {
    return respond(ctx, from, ctx.state.term, false, m.preVote)
  }
  // A real vote request of a newer term moves us to that term; a PreVote never changes terms.
  if (m.term > ctx.state.term && !m.preVote) becomeFollower(ctx, m.term, NONE)
  const s = ctx.state
  const canVote = s.vote === from || (s.vote === NONE && s.leader === NONE) || (m.preVote && m.term > s.term)
  if (!canVote || !Log.isUpToDate(s.log, m.lastLogIndex, m.lastLogTerm)) {
    return respond(ctx, from, s.term, false, m.preVote)
  }
  if (m.preVote) return respond(ctx, from, m.term, true, true)
  update(ctx, { vote: from })
  markHardState(ctx)
  resetElectionTimer(ctx)
  respond(ctx, from, s.term, true, false)
}

/** Count an answer to our (pre-)vote request. Higher terms were handled by the caller. */
export const handleVoteResponse = (ctx: Ctx, from: NodeId, m: RequestVoteResponse): void => {
  const s = ctx.state
  const counts =
    s.role === "precandidate"
      ? m.preVote && (m.granted ? m.term === s.term + 1 : m.term <= s.term + 1)
      : s.role === "candidate" && !m.preVote && m.term === s.term
  if (!counts) return
  const votes = new Map(s.votes)
  votes.set(from, m.granted)
  update(ctx, { votes })
  countVotes(ctx)
}
