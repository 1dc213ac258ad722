/**
 * `raftkv node`: run one node of a cluster until SIGINT/SIGTERM.
 *
 * The node listens on its own `--peers` entry and dials the others exactly at the addresses listed
 * there; clients connect to `--client`; `--http` serves status, health and metrics.
 */
import { createHash } from "node:crypto"
import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { defaultConfig, type RaftConfig } from "../core/config.ts"
import { LOG_ENGINES, type LogEngine } from "../storage/logEngine.ts"
import {
  formatHostPort,
  type HostPort,
  InvalidFlag,
  parseBytes,
  parseHostPort,
  parsePeers
} from "./addresses.ts"

export interface NodeSettings {
  readonly id: number
  readonly peers: ReadonlyMap<number, HostPort>
  readonly client: HostPort
  /** Other nodes' client addresses, for NotLeader hints. */
  readonly clientAddresses: ReadonlyMap<number, string>
  readonly http: HostPort | undefined
  readonly dataDir: string
  readonly clusterId: string
  readonly raft: RaftConfig
  readonly snapshotThresholdBytes: number
  readonly maxPendingProposals: number
  readonly logStore: LogEngine
}

/**
 * The cluster id defaults to a digest of the peer list: stable across restarts of the same
 * cluster, different for a cluster wired differently, so a data dir of another cluster is refused.
 */
const defaultClusterId = (peersText: string): string =>
  `raftkv-${createHash("sha256").update(peersText.replace(/\s+/g, "")).digest("hex").slice(0, 12)}`

const flags = {
  id: Flag.Int("id").pipe(Flag.withDescription("This node's id: its entry in --peers")),
  peers: Flag.String("peers").pipe(
    Flag.withDescription(
      "Every member as id=host:port,... (peer-to-peer addresses; this node listens on its own)"
    )
  ),
  client: Flag.String("client").pipe(Flag.withDescription("host:port where clients connect")),
  clientAddresses: Flag.String("client-addresses").pipe(
    Flag.withDescription(
      "Every member's client address as id=host:port,... (lets followers name the leader)"
    ),
    Flag.optional
  ),
  http: Flag.String("http").pipe(
    Flag.withDescription("host:port serving /status, /health and /metrics (omit to disable)"),
    Flag.optional
  ),
  dataDir: Flag.String("data-dir").pipe(Flag.withDescription("Directory of this node's durable state")),
  clusterId: Flag.String("cluster-id").pipe(
    Flag.withDescription("Cluster identity recorded in the data dir (default: derived from --peers)"),
    Flag.optional
  ),
  electionTimeoutMin: Flag.Int("election-timeout-min").pipe(
    Flag.withDescription("Lower bound of the randomized election timeout, ms"),
    Flag.withDefault(1000)
  ),
  electionTimeoutMax: Flag.Int("election-timeout-max").pipe(
    Flag.withDescription("Upper bound of the randomized election timeout, ms"),
    Flag.withDefault(2000)
  ),
  heartbeatInterval: Flag.Int("heartbeat-interval").pipe(
    Flag.withDescription("Leader heartbeat interval, ms"),
    Flag.withDefault(100)
  ),
  snapshotThreshold: Flag.String("snapshot-threshold").pipe(
    Flag.withDescription("Snapshot once the log since the last snapshot exceeds this size (e.g. 4MiB)"),
    Flag.withDefault("4MiB")
  ),
  maxPending: Flag.Int("max-pending").pipe(
    Flag.withDescription("Proposals waiting for commit before clients get a retryable Busy"),
    Flag.withDefault(10_000)
  ),
  logStore: Flag.Literals("log-store", LOG_ENGINES).pipe(
    Flag.withDescription(
      "How the data dir stores the log: segments (append-only files, default) or leveldb; a data dir keeps the one it was created with"
    ),
    Flag.withDefault("segments" as LogEngine)
  )
} as const

type RawFlags = {
  readonly id: number
  readonly peers: string
  readonly client: string
  readonly clientAddresses: Option.Option<string>
  readonly http: Option.Option<string>
  readonly dataDir: string
  readonly clusterId: Option.Option<string>
  readonly electionTimeoutMin: number
  readonly electionTimeoutMax: number
  readonly heartbeatInterval: number
  readonly snapshotThreshold: string
  readonly maxPending: number
  readonly logStore: LogEngine
}

/** Validate the flags into settings (every problem is one clear InvalidFlag). */
export const settingsFromFlags = (f: RawFlags): Effect.Effect<NodeSettings, InvalidFlag> =>
  Effect.gen(function* () {
    const check = <A>(r: A | InvalidFlag): Effect.Effect<A, InvalidFlag> =>
      r instanceof InvalidFlag ? Effect.fail(r) : Effect.succeed(r)
    const peers = yield* check(parsePeers("peers", f.peers))
    if (!peers.has(f.id)) {
      return yield* new InvalidFlag({ flag: "id", message: `--id ${f.id} is not one of the --peers ids` })
    }
    const client = yield* check(parseHostPort("client", f.client))
    const clientAddresses = new Map<number, string>([[f.id, formatHostPort(client)]])
    if (Option.isSome(f.clientAddresses)) {
      for (const [id, a] of yield* check(parsePeers("client-addresses", f.clientAddresses.value))) {
        clientAddresses.set(id, formatHostPort(a))
      }
    }
    const http = Option.isSome(f.http) ? yield* check(parseHostPort("http", f.http.value)) : undefined
    const snapshotThresholdBytes = yield* check(parseBytes("snapshot-threshold", f.snapshotThreshold))
    if (f.electionTimeoutMin < 1 || f.electionTimeoutMax <= f.electionTimeoutMin) {
      return yield* new InvalidFlag({
        flag: "election-timeout-max",
        message: "--election-timeout-max must exceed --election-timeout-min (both ms, > 0)"
      })
    }
    if (f.heartbeatInterval < 1 || f.heartbeatInterval * 2 > f.electionTimeoutMin) {
      return yield* new InvalidFlag({
        flag: "heartbeat-interval",
        message: "--heartbeat-interval must be > 0 and at most half of --election-timeout-min"
      })
    }
    if (f.maxPending < 1)
      return yield* new InvalidFlag({ flag: "max-pending", message: "--max-pending must be >= 1" })
    const members = [...peers.keys()].sort((a, b) => a - b)
    return {
      id: f.id,
      peers,
      client,
      clientAddresses,
      http,
      dataDir: f.dataDir,
      clusterId: Option.getOrElse(f.clusterId, () => defaultClusterId(f.peers)),
      raft: {
        ...defaultConfig(f.id, members),
        electionTimeoutMin: f.electionTimeoutMin,
        electionTimeoutMax: f.electionTimeoutMax,
        heartbeatInterval: f.heartbeatInterval
      },
      snapshotThresholdBytes,
      maxPendingProposals: f.maxPending,
      logStore: f.logStore
    }
  })

export const nodeCommand = Command.make("node", flags, (f) =>
  Effect.flatMap(settingsFromFlags(f), (settings) =>
    Effect.flatMap(
      Effect.promise(() => import("./node-run.ts")),
      (run) => run.runNode(settings)
    )
  )
).pipe(Command.withDescription("Run one raftkv node until SIGINT/SIGTERM"))
